"""``bitrix-inflow init --answers`` against both sandboxes in several shapes, as an integrator onboards a shop.

Each shape: the written configuration passes ``config check`` and ``check``, and the dry runs of the first stock sync
and order round plan exactly what a hand-written configuration of the same installation plans. Bad answers end with
an error naming the fix, and leave neither the TOML nor a secret file behind.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import termios
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bitrix_inflow.sandboxes import wms
from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox
from bitrix_inflow.sandboxes.wms.contract import contract_dir
from bitrix_inflow.sandboxes.wms.dialect import Dialect

sys.path.insert(0, str(Path(__file__).parent))
from cli_runner import clean_env, cli

GO_LIVE = "2020-01-01T00:00:00+03:00"  # before the sandbox's orders: the order round has work to plan


@dataclass(frozen=True)
class Shape:
    name: str
    profile: str  # the shop: site | bitrix24
    documents: bool  # inventory management (store documents) or quantities
    dialect: str  # the warehouse's installation: default | legacy-example
    transports: str  # what the warehouse serves: both | soap
    oauth: bool
    key_in: str  # where the shop keeps the warehouse SKU: property | xmlId | both
    statuses: str = "product"
    answers: dict[str, Any] = field(default_factory=dict)  # [choices] beyond go_live
    # What an integrator writes by hand for this installation.
    transport: str = "rest"
    match_key: str = "property101"
    offer_match_key: str | None = "property111"


SHAPES = [
    Shape("site-quantity-default-rest-key", "site", False, "default", "both", False, "property"),
    Shape(
        "bitrix24-documents-legacy-rest-oauth",
        "bitrix24",
        True,
        "legacy-example",
        "both",
        True,
        "xmlId",
        answers={"stores": {"MAIN": 1}},
        match_key="xmlId",
        offer_match_key=None,
    ),
    Shape(
        "site-documents-default-soap-key",
        "site",
        True,
        "default",
        "soap",
        False,
        "both",
        statuses="integrated",
        # A tie: xmlId and the article property carry the same SKUs, so init asks; the answer settles it.
        answers={"stores": {"MAIN": 2}, "match_key": "xmlId"},
        transport="soap",
        match_key="xmlId",
        offer_match_key=None,
    ),
    Shape(
        "bitrix24-quantity-legacy-soap-key",
        "bitrix24",
        False,
        "legacy-example",
        "soap",
        False,
        "property",
        statuses="integrated",
        transport="soap",
    ),
]


@dataclass
class Installation:
    warehouse: wms.RunningSandbox
    shop: RunningSandbox
    oauth: bool

    @property
    def credentials(self) -> dict[str, str]:
        if self.oauth:
            return {"client_id": "sandbox-client"}
        return {}


@contextmanager
def installation(shape: Shape, **shop_seed: Any) -> Iterator[Installation]:
    dialect = (
        Dialect.load(contract_dir() / "dialects" / "legacy-example.toml")
        if shape.dialect == "legacy-example"
        else Dialect()
    )
    config = SandboxConfig(
        profile=shape.profile, inventory_management=shape.documents, statuses=shape.statuses
    )
    seed = {"orders": 3, "key_in": shape.key_in, **shop_seed}
    with (
        wms.run_in_process(
            wms.SandboxSettings(seed=3, dialect=dialect, transports=shape.transports)
        ) as warehouse,
        running_bitrix_sandbox(config, **seed) as shop,
    ):
        yield Installation(warehouse, shop, shape.oauth)


def answers_file(directory: Path, site: Installation, **changes: Any) -> Path:
    """The answers as a script gives them; secrets in files of their own, as they would be on a server."""
    inputs = directory / "inputs"
    inputs.mkdir(exist_ok=True)
    (inputs / "webhook").write_text(changes.pop("webhook", site.shop.webhook_url) + "\n")
    secret_name = "client_secret" if site.oauth else "api_key"
    (inputs / "wms-secret").write_text(
        changes.pop("wms_secret", "sandbox-secret" if site.oauth else "sandbox-key") + "\n"
    )
    choices = {"go_live": GO_LIVE, **changes.pop("choices", {})}
    inflow = {"base_url": changes.pop("base_url", site.warehouse.base_url), **site.credentials}
    lines = ["[inflow]"]
    lines += [f"{key} = {_toml(value)}" for key, value in inflow.items()]
    lines.append(f'{secret_name}_file = "{inputs / "wms-secret"}"')
    lines += ["[bitrix]", f'webhook_url_file = "{inputs / "webhook"}"', f'verify = "{site.shop.ca_file}"']
    lines.append("[choices]")
    lines += [f"{key} = {_toml(value)}" for key, value in choices.items()]
    path = inputs / "answers.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return f'"{value}"'


def init(directory: Path, answers: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli(
        "--config",
        str(directory / "bitrix-inflow.toml"),
        "init",
        "--answers",
        str(answers),
        "--yes",
        *extra,
        cwd=directory,
        timeout=300,
    )


def hand_written(directory: Path, shape: Shape, site: Installation) -> Path:
    """The configuration an integrator who knows both systems writes without init."""
    directory.mkdir()
    (directory / "webhook").write_text(site.shop.webhook_url)
    (directory / "wms-secret").write_text("sandbox-secret" if shape.oauth else "sandbox-key")
    auth = (
        f'auth = "oauth2"\nclient_id = "sandbox-client"\nclient_secret_file = "{directory / "wms-secret"}"'
        if shape.oauth
        else f'auth = "api_key"\napi_key_file = "{directory / "wms-secret"}"'
    )
    offer = f'offer_match_key = "{shape.offer_match_key}"\n' if shape.offer_match_key else ""
    stores = shape.answers.get("stores")
    marking = (
        'companion_module = false\ngroup_property = "property103"\ngtin_property = "property102"\n'
        'offer_gtin_property = "property112"'
        if shape.profile == "bitrix24"
        else "companion_module = true"
    )
    carriers = (
        '"2" = "CDEK"\n"3" = "Russian Post"'
        if shape.profile == "bitrix24"
        else '"1" = "Courier"\n"2" = "CDEK"\n"3" = "Russian Post"\n"4" = "Pickup point"'
    )
    text = f"""
[database]
url = "sqlite:///{directory / "state.db"}"

[inflow]
base_url = "{site.warehouse.base_url}"
transport = "{shape.transport}"
profile = "{shape.dialect}"
warehouse = "MAIN"
{auth}

[bitrix]
profile = "{shape.profile}"
webhook_url_file = "{directory / "webhook"}"
verify = "{site.shop.ca_file}"
manager_user_id = 1

[stock]
warehouses = ["MAIN"]
match_key = "{shape.match_key}"
{offer}{"stores = { MAIN = " + str(stores["MAIN"]) + " }" if stores else ""}

[orders]
go_live = "{GO_LIVE}"
statuses = ["N"]
warehouse = "MAIN"

[orders.carriers]
{carriers}

[marking]
{marking}
"""
    path = directory / "bitrix-inflow.toml"
    path.write_text(text)
    assert cli("--config", str(path), "db", "upgrade", cwd=directory).returncode == 0
    return path


def plans(config: Path) -> tuple[list[str], list[str]]:
    """The rows of the stock sync's and the order round's dry-run plans, in a stable order."""
    stock = cli(
        "--config", str(config), "sync", "stock", "--full", "--dry-run", cwd=config.parent, timeout=120
    )
    assert stock.returncode == 0, stock.stdout + stock.stderr
    orders = cli("--config", str(config), "sync", "orders", "--dry-run", cwd=config.parent, timeout=120)
    assert orders.returncode == 0, orders.stdout + orders.stderr
    return _rows(stock.stdout), _rows(orders.stdout)


def _rows(output: str) -> list[str]:
    return sorted(re.sub(r"\s+", " ", line).strip() for line in output.splitlines() if line.startswith("│"))


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_init_writes_a_configuration_that_checks_and_plans_like_a_hand_written_one(
    shape: Shape, tmp_path: Path
) -> None:
    with installation(shape) as site:
        answers = answers_file(tmp_path, site, choices=shape.answers)
        done = init(tmp_path, answers)
        assert done.returncode == 0, done.stdout + done.stderr
        config = tmp_path / "bitrix-inflow.toml"
        written = tomllib.loads(config.read_text())
        # The proposals init made by itself from what it saw.
        assert written["inflow"]["transport"] == shape.transport
        assert written["inflow"]["profile"] == shape.dialect
        assert written["inflow"]["auth"] == ("oauth2" if shape.oauth else "api_key")
        assert written["bitrix"]["profile"] == shape.profile
        assert written["stock"]["match_key"] == shape.match_key
        assert written["stock"].get("offer_match_key") == (
            shape.offer_match_key if shape.match_key != "xmlId" else None
        )
        # No secret in the TOML: each sits in a file only its owner reads.
        text = config.read_text()
        assert "sandbox-key" not in text and "sandbox-secret" not in text
        assert site.shop.webhook_url not in text
        for key in ("api_key_file", "client_secret_file"):
            if key in written["inflow"]:
                assert Path(written["inflow"][key]).stat().st_mode & 0o777 == 0o600
        assert Path(written["bitrix"]["webhook_url_file"]).stat().st_mode & 0o777 == 0o600
        assert "bitrix-inflow check" in done.stdout and "✗" not in done.stdout

        checked = cli("--config", str(config), "config", "check", cwd=tmp_path)
        assert checked.returncode == 0, checked.stderr
        assert cli("--config", str(config), "check", cwd=tmp_path, timeout=120).returncode == 0

        if shape.profile == "bitrix24" and shape.statuses == "product":
            # Bitrix24's D is "Canceled": SHIPPED must not land there; the missing statuses were created, named.
            table = cli("--config", str(config), "mapping", "show", cwd=tmp_path).stdout
            assert re.search(r"SHIPPED\W+S\b", table) and re.search(r"CANCELLED\W+D\b", table), table
            assert re.search(r"PICKING_ERROR\W+E\b", table) and re.search(r"PICKING\W+Q\b", table), table
            names = {
                row["statusId"]: row["name"] for row in site.shop.control.entities("statusLangs", lid="ru")
            }
            assert names["E"] == "Ошибка сборки" and names["Q"] == "Собирается на складе"

        by_hand = hand_written(tmp_path / "by-hand", shape, site)
        stock_init, orders_init = plans(config)
        stock_hand, orders_hand = plans(by_hand)
        assert stock_init == stock_hand and len(stock_init) > 20
        assert orders_init == orders_hand and orders_init


def _nothing_written(directory: Path) -> None:
    assert not (directory / "bitrix-inflow.toml").exists()
    secrets = directory / "secrets"
    assert not secrets.exists() or not any(secrets.iterdir())
    assert not list(directory.glob(".bitrix-inflow.toml*"))


BAD = [
    ("unreachable WMS", {"base_url": "http://127.0.0.1:9"}, "inflow.base_url", "reachable"),
    ("no scheme in the WMS address", {"base_url": "wms.example.com"}, "inflow.base_url", "with its scheme"),
    ("the API path in the WMS address", {"base_url": "WITH_PATH"}, "inflow.base_url", "without any API path"),
    ("wrong WMS key", {"wms_secret": "not-the-key"}, "inflow.api_key", "copy the key again"),
    ("wrong webhook code", {"webhook": "BADCODE"}, "bitrix.webhook_url", "copy the incoming webhook"),
    ("unknown warehouse", {"choices": {"warehouse": "NOWHERE"}}, "choices.warehouse", "MAIN"),
]


@pytest.mark.parametrize(("case", "change", "field", "fix"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_answer_names_the_fix_and_writes_nothing(
    case: str, change: dict[str, Any], field: str, fix: str, tmp_path: Path
) -> None:
    with installation(SHAPES[0]) as site:
        change = dict(change)
        if change.get("base_url") == "WITH_PATH":
            change["base_url"] = site.warehouse.base_url + "/api/v1"
        if change.get("webhook") == "BADCODE":
            change["webhook"] = site.shop.webhook_url.replace(
                site.shop.sandbox.config.webhook_code, "wrongcode"
            )
        answers = answers_file(tmp_path, site, **change)
        done = init(tmp_path, answers)
        said = re.sub(r"\s+", " ", done.stderr)
        assert done.returncode != 0, done.stdout
        assert field in said and fix in said, said
        _nothing_written(tmp_path)


def test_a_refused_client_secret_is_never_written(tmp_path: Path) -> None:
    with installation(SHAPES[1]) as site:
        answers = answers_file(tmp_path, site, wms_secret="guessed-secret", choices=SHAPES[1].answers)
        done = init(tmp_path, answers)
        assert done.returncode != 0 and "inflow.client_secret" in done.stderr
        _nothing_written(tmp_path)
        assert not any(
            "guessed-secret" in p.read_text()
            for p in tmp_path.rglob("*")
            if p.is_file() and "inputs" not in p.parts
        )


def test_a_webhook_without_the_catalog_scope_is_refused(tmp_path: Path) -> None:
    shape = SHAPES[0]
    config = SandboxConfig(profile="site", inventory_management=False, webhook_scopes=("sale", "im"))
    with (
        wms.run_in_process(wms.SandboxSettings(seed=3)) as warehouse,
        running_bitrix_sandbox(config, key_in=shape.key_in) as shop,
    ):
        answers = answers_file(tmp_path, Installation(warehouse, shop, oauth=False))
        done = init(tmp_path, answers)
        said = re.sub(r"\s+", " ", done.stderr)
        assert done.returncode != 0 and "catalog" in said and "tick" in said, said
        _nothing_written(tmp_path)


def test_a_key_that_matches_nothing_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    """The shop's own generated products carry no warehouse SKU in any field."""
    shape = SHAPES[0]
    config = SandboxConfig(profile="site", inventory_management=False)
    with (
        wms.run_in_process(wms.SandboxSettings(seed=3)) as warehouse,
        running_bitrix_sandbox(config, products=30) as shop,
    ):
        answers = answers_file(tmp_path, Installation(warehouse, shop, oauth=False))
        done = init(tmp_path, answers)
        said = re.sub(r"\s+", " ", done.stderr)
        assert done.returncode != 0 and "choices.match_key" in said and "products import" in said, said
        _nothing_written(tmp_path)
    del shape


def test_without_yes_a_script_must_agree_to_the_writes(tmp_path: Path) -> None:
    with installation(SHAPES[0]) as site:
        answers = answers_file(tmp_path, site)
        done = cli(
            "--config", str(tmp_path / "bitrix-inflow.toml"), "init", "--answers", str(answers), cwd=tmp_path
        )
        said = re.sub(r"\s+", " ", done.stderr)
        assert done.returncode != 0 and "choices.create_statuses" in said and "--yes" in said, said
        _nothing_written(tmp_path)
        assert not {"E", "Q"} & {row["id"] for row in site.shop.control.entities("statuses")}
        agreed = answers_file(tmp_path, site, choices={"create_statuses": True, "write": True})
        done = cli(
            "--config",
            str(tmp_path / "bitrix-inflow.toml"),
            "init",
            "--answers",
            str(agreed),
            "--skip-dry-run",
            cwd=tmp_path,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_an_open_question_without_an_answer_is_an_error_naming_its_key(tmp_path: Path) -> None:
    """Document mode, and no store has the warehouse's name: init asks, never guesses."""
    shape = SHAPES[2]
    with installation(shape) as site:
        answers = answers_file(tmp_path, site, choices={"match_key": "xmlId"})
        done = init(tmp_path, answers)
        said = re.sub(r"\s+", " ", done.stderr)
        assert done.returncode != 0 and "choices.stores" in said and "[choices]" in said, said
        _nothing_written(tmp_path)


def test_a_rerun_lists_what_changed_on_either_side_and_offers_the_edits(tmp_path: Path) -> None:
    shape = SHAPES[0]
    with installation(shape) as site:
        answers = answers_file(tmp_path, site)
        assert init(tmp_path, answers, "--skip-dry-run").returncode == 0
        config = tmp_path / "bitrix-inflow.toml"
        # An operator's own tuning survives a re-run.
        config.write_text(config.read_text() + "\n[schedules]\nstock_seconds = 120\n")
        secret_file = Path(tomllib.loads(config.read_text())["inflow"]["api_key_file"])
        secret_file.write_text("sandbox-key\n")  # the operator's own copy: a re-run must not rewrite it
        stamp = secret_file.stat().st_mtime_ns
        statuses = {row["id"] for row in site.shop.control.entities("statuses")}
        assert {"Q", "D", "Z", "E"} <= statuses  # created by the first run, agreed with --yes
        site.shop.control.add_status("R", "Returned")
        added = site.shop.control.add_delivery("Boxberry")
        again = cli("--config", str(config), "init", "--yes", "--skip-dry-run", cwd=tmp_path, timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        flat = re.sub(r"\s+", " ", again.stdout)
        assert "changed since the last init" in flat
        assert "new order status" in flat and "R (Returned)" in flat
        assert "new delivery service" in flat and f"{added['id']} (Boxberry)" in flat
        written = tomllib.loads(config.read_text())
        assert written["orders"]["carriers"][str(added["id"])] == "Boxberry"  # the edit, applied
        assert written["schedules"]["stock_seconds"] == 120
        assert (
            written["inflow"]["api_key_file"] == str(secret_file) and secret_file.stat().st_mtime_ns == stamp
        )
        assert written["orders"]["go_live"] == GO_LIVE  # not asked again
        assert {row["id"] for row in site.shop.control.entities("statuses")} == statuses | {"R"}  # none twice
        third = cli("--config", str(config), "init", "--yes", "--skip-dry-run", cwd=tmp_path, timeout=300)
        assert "nothing changed on either side" in re.sub(r"\s+", " ", third.stdout)


def test_on_a_terminal_init_asks_and_hides_the_secrets(tmp_path: Path) -> None:
    """A person at a terminal: init asks for the addresses and credentials (secrets typed unseen), then for what it
    cannot decide (go_live), and for leave to create statuses and write the files."""
    shape = SHAPES[0]
    with installation(shape) as site:
        session = Terminal(
            ["--config", str(tmp_path / "bitrix-inflow.toml"), "init", "--skip-dry-run"], tmp_path
        )
        try:
            session.answer("Inflow WMS address", site.warehouse.base_url)
            session.answer("api_key or oauth2", "")
            session.answer("Inflow API key", "sandbox-key", secret=True)
            session.answer("Bitrix incoming webhook URL", site.shop.webhook_url, secret=True)
            session.answer("CA file", str(site.shop.ca_file))
            session.answer("go_live", GO_LIVE)
            session.answer("Create the order status", "y")
            session.answer("Write ", "y")
            output = session.finish()
        finally:
            session.close()
        assert session.returncode == 0, output
        assert "sandbox-key" not in output and site.shop.sandbox.config.webhook_code not in output
        written = tomllib.loads((tmp_path / "bitrix-inflow.toml").read_text())
        assert written["orders"]["go_live"] == GO_LIVE and written["stock"]["match_key"] == "property101"


def test_on_a_terminal_a_tie_is_asked_and_the_proposal_taken_as_shown(tmp_path: Path) -> None:
    """Document mode with the SKU in xmlId and the article alike: the matching key and the store are asked; Enter
    takes the proposal (xmlId), a typed table answers the store."""
    shape = SHAPES[2]
    with installation(shape) as site:
        session = Terminal(
            ["--config", str(tmp_path / "bitrix-inflow.toml"), "init", "--skip-dry-run"], tmp_path
        )
        try:
            session.answer("Inflow WMS address", site.warehouse.base_url)
            session.answer("api_key or oauth2", "api_key")
            session.answer("Inflow API key", "sandbox-key", secret=True)
            session.answer("Bitrix incoming webhook URL", site.shop.webhook_url, secret=True)
            session.answer("CA file", str(site.shop.ca_file))
            session.answer("  match_key", "")
            session.answer("  stores", "MAIN=2")
            session.answer("go_live", GO_LIVE)
            session.answer("Create the order status", "y")
            session.answer("Write ", "y")
            output = session.finish()
        finally:
            session.close()
        assert session.returncode == 0, output
        written = tomllib.loads((tmp_path / "bitrix-inflow.toml").read_text())
        assert written["stock"]["match_key"] == "xmlId" and written["stock"]["stores"] == {"MAIN": 2}
        assert written["inflow"]["transport"] == "soap"


class Terminal:
    """``bitrix-inflow`` on a pseudo-terminal, answered prompt by prompt."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.leader, follower = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bitrix_inflow", *args],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            cwd=cwd,
            env=clean_env({"TERM": "xterm"}),
            close_fds=True,
        )
        os.close(follower)
        self.seen = ""
        self.returncode: int | None = None

    def _read_until(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no prompt {text!r} in: {self.seen[-2000:]}"
            ready, _, _ = select.select([self.leader], [], [], min(left, 1.0))
            if ready:
                try:
                    chunk = os.read(self.leader, 65536)
                except OSError:
                    chunk = b""
                assert chunk or self.process.poll() is None, f"ended before {text!r}: {self.seen[-2000:]}"
                self.seen += chunk.decode(errors="replace")

    def answer(self, prompt: str, text: str, *, secret: bool = False) -> None:
        self._read_until(prompt)
        self.seen = self.seen[self.seen.index(prompt) + len(prompt) :]
        if secret:
            # getpass switches echo off (flushing what was typed before): answer only once it has.
            deadline = time.monotonic() + 30
            while termios.tcgetattr(self.leader)[3] & termios.ECHO:
                assert time.monotonic() < deadline, "the secret prompt never switched echo off"
                time.sleep(0.02)
        os.write(self.leader, text.encode() + b"\r")

    def finish(self, timeout: float = 300) -> str:
        while True:
            ready, _, _ = select.select([self.leader], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(self.leader, 65536)
                except OSError:
                    chunk = b""
                if chunk:
                    self.seen += chunk.decode(errors="replace")
                    continue
            if self.process.poll() is not None and not ready:
                break
            if ready and not chunk:
                break
        self.returncode = self.process.wait(timeout=timeout)
        return self.seen

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        os.close(self.leader)

"""``bitrix-inflow incidents list|show|resolve`` as a person uses it: the inbox, one incident's trail, and choices
that are checked before anything changes (an unknown id, a way out the kind does not offer, one not built yet)."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from bitrix_inflow.adapters.bitrix import BitrixGateway, BitrixSettings
from bitrix_inflow.adapters.inflow import InflowClient, InflowSettings
from bitrix_inflow.config.settings import DEFAULT_SQLITE_URL
from bitrix_inflow.domain.eligibility import OrderRules
from bitrix_inflow.domain.status_mapping import DEFAULT_MAPPING, StatusMapping
from bitrix_inflow.store import connections, incidents
from bitrix_inflow.store import stock as stock_store
from bitrix_inflow.store.engine import make_engine
from bitrix_inflow.sync.incidents.bitrix_channel import BitrixManagerChannel
from bitrix_inflow.sync.incidents.inbox import raise_incident
from bitrix_inflow.sync.incidents.tell import tell_manager
from bitrix_inflow.sync.orders.bitrix_shop import BitrixOrdersShop
from bitrix_inflow.sync.orders.forward import ForwardOptions, forward_order
from bitrix_inflow.sync.orders.statuses import read_changes
from bitrix_inflow.timing import SystemClock

sys.path.insert(0, str(Path(__file__).parent))
from cli_runner import cli

from sandbox_env import service_environment

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
NOW_CLOCK = SystemClock()


@pytest.fixture
def inbox(tmp_path: Path) -> tuple[Path, int, int]:
    """A shop folder whose database holds a picking error and a refused status."""
    assert cli("db", "upgrade", cwd=tmp_path).returncode == 0
    engine = make_engine(DEFAULT_SQLITE_URL.replace("sqlite:///", f"sqlite:///{tmp_path}/"))
    with engine.begin() as conn:
        picking = raise_incident(
            conn,
            "default",
            41,
            kind="picking_error",
            subject="B-41-1",
            detail={"sku": "SB-HOODIE-URBAN-M", "bin": "A-01-02", "reason": "not found in bin A-01-02"},
            now=NOW,
        )
        refused = raise_incident(
            conn, "default", 42, kind="status_refused", subject="P", detail={"wanted": "P"}, now=NOW
        )
    engine.dispose()
    assert picking is not None and refused is not None
    return tmp_path, picking, refused


def test_the_inbox_lists_what_is_open_and_shows_one_with_its_trail(inbox: tuple[Path, int, int]) -> None:
    folder, picking, _refused = inbox
    listed = cli("incidents", "list", cwd=folder)
    assert listed.returncode == 1, listed.stderr  # something is open
    assert (
        "picking_error" in listed.stdout and "status_refused" in listed.stdout and "B-41-1" in listed.stdout
    )
    shown = cli("incidents", "show", str(picking), cwd=folder)
    assert shown.returncode == 0, shown.stderr
    assert "A-01-02" in shown.stdout and "cancel, substitute, ship_rest, retry_when_stock" in shown.stdout
    assert "opened" in shown.stdout and "pending" in shown.stdout


def test_bad_choices_are_clear_errors_and_change_nothing(inbox: tuple[Path, int, int]) -> None:
    folder, picking, refused = inbox
    unknown = cli("incidents", "resolve", "999", "dismiss", cwd=folder)
    assert unknown.returncode == 1 and "there is no incident 999" in unknown.stderr
    assert "incidents list" in unknown.stderr  # the fix
    wrong = cli("incidents", "resolve", str(refused), "substitute", cwd=folder)
    assert (
        wrong.returncode == 1 and "'substitute' is not a way out of a status_refused incident" in wrong.stderr
    )
    assert "choose one of: dismiss" in wrong.stderr
    bare = cli("incidents", "resolve", str(picking), "substitute", cwd=folder)
    assert bare.returncode == 1 and "sku" in bare.stderr and "--sku" in bare.stderr
    unknown_sku = cli("incidents", "resolve", str(picking), "substitute", "--sku", "NO-SUCH", cwd=folder)
    assert unknown_sku.returncode == 1 and "'NO-SUCH' is not linked to any product" in unknown_sku.stderr
    assert cli("incidents", "show", "0", cwd=folder).returncode == 2  # not an id at all: a usage error
    engine = make_engine(DEFAULT_SQLITE_URL.replace("sqlite:///", f"sqlite:///{folder}/"))
    with engine.connect() as conn:
        assert {i.id for i in incidents.listed(conn, "default")} == {picking, refused}
        assert [e.action for e in incidents.trail(conn, picking)] == ["opened"]
    engine.dispose()


def test_another_tenant_s_incident_is_neither_shown_nor_decided_without_its_tenant(
    inbox: tuple[Path, int, int],
) -> None:
    folder = inbox[0]
    engine = make_engine(DEFAULT_SQLITE_URL.replace("sqlite:///", f"sqlite:///{folder}/"))
    with engine.begin() as conn:
        connections.ensure(conn, "north", now=NOW)
        theirs = raise_incident(
            conn, "north", 41, kind="status_refused", subject="P", detail={"wanted": "P"}, now=NOW
        )
    assert theirs is not None
    shown = cli("incidents", "show", str(theirs), cwd=folder)
    assert shown.returncode == 1 and "belongs to tenant 'north', not to 'default'" in shown.stderr
    assert "--connection north" in shown.stderr  # the fix
    decided = cli("incidents", "resolve", str(theirs), "dismiss", cwd=folder)
    assert decided.returncode == 1 and "--connection north" in decided.stderr
    with engine.connect() as conn:
        assert [e.action for e in incidents.trail(conn, theirs)] == ["opened"]
    engine.dispose()


def test_a_way_out_is_recorded_with_who_chose_it_and_only_once(inbox: tuple[Path, int, int]) -> None:
    folder, picking, refused = inbox
    done = cli("incidents", "resolve", str(refused), "dismiss", cwd=folder)
    assert done.returncode == 0, done.stderr
    again = cli("incidents", "resolve", str(refused), "dismiss", cwd=folder)
    assert again.returncode == 1 and "resolved already" in again.stderr
    shown = cli("incidents", "show", str(refused), cwd=folder)
    assert "resolved" in shown.stdout and "chose" in shown.stdout and "cli:" in shown.stdout
    listed = cli("incidents", "list", cwd=folder)
    assert str(picking) in listed.stdout and "status_refused" not in listed.stdout


def test_serve_killed_between_telling_the_manager_and_recording_it_tells_once(
    db_url: str, engine: Engine, sides: tuple[Any, Any], tmp_path: Path
) -> None:
    """A picking error's notification reaches the shop; `serve` is SIGKILLed before it records that (the shop holds
    the answer back); the restarted worker tells again with the same tag, which replaces the first: one."""
    warehouse, shop = sides
    with engine.connect() as conn:
        links = stock_store.load_links(conn, "default")
    line = {"productId": links["SB-HOODIE-URBAN-M"].product_id, "quantity": 1}
    order_id = int(shop.control.place_order(lines=[line], shipments=[{"deliveryId": 2, "lines": [0]}])["id"])
    deliveries = {int(row["id"]): str(row["name"]) for row in shop.control.entities("deliveries")}
    rules = OrderRules(
        go_live=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), statuses=frozenset({"N"}), carriers=deliveries
    )
    options = ForwardOptions(rules=rules, mapping=StatusMapping(DEFAULT_MAPPING), warehouse="MAIN")
    inflow = InflowSettings(base_url=warehouse.base_url, api_key=SecretStr("sandbox-key"))
    bitrix = BitrixSettings(webhook_url=SecretStr(shop.webhook_url), verify=shop.ca_file, manager_user_id=1)
    with InflowClient(inflow) as client, BitrixGateway(bitrix) as gateway:
        forward_order(engine, client, BitrixOrdersShop(gateway), options, order_id, clock=NOW_CLOCK)
        base = warehouse.base_url + "/_sandbox"
        httpx.put(base + "/faults", json={"picking_error_skus": ["SB-HOODIE-URBAN-M"]}, timeout=30)
        [picking] = httpx.get(base + "/orders", timeout=30).json()["items"]
        httpx.post(f"{base}/orders/{picking['id']}/advance", json={"to": "PICKING"}, timeout=30)
        read_changes(engine, client, clock=NOW_CLOCK)
        with engine.connect() as conn:
            [incident] = incidents.listed(conn, "default")

        shop.control.faults(hold_methods=["im.notify.system.add"], hold_stage="after")
        env = service_environment(warehouse, shop, db_url, BITRIX_INFLOW__WEB__ENABLED="false")
        process = subprocess.Popen(
            [sys.executable, "-m", "bitrix_inflow", "serve"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not any(h["state"] == "held" for h in shop.control.holds()):
                assert time.monotonic() < deadline, "the notification was never sent"
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        shop.control.faults(hold_methods=[])
        shop.control.release_holds(drop=True)  # it ran: the shop has the notification; the answer is lost
        marker = f"[BI-{incident.id}]"
        assert len([n for n in shop.control.entities("notifications") if n["tag"] == marker]) == 1
        with engine.connect() as conn:
            assert incidents.load(conn, incident.id).notice_state == "telling"  # type: ignore[union-attr]
        # The restarted worker's attempt:
        tell_manager(engine, BitrixManagerChannel(gateway), incident.id, clock=NOW_CLOCK, language="ru")
    assert len([n for n in shop.control.entities("notifications") if n["tag"] == marker]) == 1
    with engine.connect() as conn:
        assert incidents.load(conn, incident.id).notice_state == "told"  # type: ignore[union-attr]

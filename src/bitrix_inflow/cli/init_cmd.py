"""``bitrix-inflow init``: look at both systems, propose the exchange schema, and write it once a person agrees.

On a terminal it asks; ``--answers FILE`` (TOML: ``[inflow]``, ``[bitrix]``, ``[database]``, ``[choices]``) and
``--yes`` make it a script. It ends with ``check`` and a dry run of the first stock sync and order round. Run on a
configured installation, it says what changed on either side since the last run and offers the edits.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from bitrix_inflow.adapters.inflow.probe import Credentials
from bitrix_inflow.adapters.inflow.settings import InflowSettings
from bitrix_inflow.cli import check as check_cmd
from bitrix_inflow.cli import orders as orders_cmd
from bitrix_inflow.cli import sync as sync_cmd
from bitrix_inflow.cli.common import EXIT_PROBLEM, console, err_console, fail, operator, state
from bitrix_inflow.config import load_settings
from bitrix_inflow.config.loader import DEFAULT_CONFIG_PATH, config_path
from bitrix_inflow.config.settings import Settings
from bitrix_inflow.config.writer import write
from bitrix_inflow.domain.onboarding import Choice, propose_warehouse
from bitrix_inflow.errors import ConfigError, IntegrationError, ValidationError
from bitrix_inflow.ops import onboarding as ops
from bitrix_inflow.store.engine import DEFAULT_SQLITE_URL, make_engine
from bitrix_inflow.timing import SystemClock

_ANSWER_SECTIONS = {"inflow", "bitrix", "database", "choices"}
_CHOICE_KEYS = {
    "match_key",
    "offer_match_key",
    "warehouse",
    "go_live",
    "stores",
    "carriers",
    "statuses",
    "create_statuses",
    "forward_statuses",
    "bitrix_profile",
    "marking",
    "manager_user_id",
    "write",
}


class _Asker:
    """Answers from the file first, then from the person at the terminal; with neither, an error naming the key."""

    def __init__(self, answers: Mapping[str, Any], *, interactive: bool, yes: bool) -> None:
        self.answers = answers
        self.interactive = interactive
        self.yes = yes

    def value(self, section: str, key: str) -> Any:
        return dict(self.answers.get(section, {})).get(key)

    def secret(self, section: str, key: str, question: str, *, required: bool = True) -> str | None:
        given = self.value(section, key)
        from_file = self.value(section, f"{key}_file")
        if given is None and from_file is not None:
            try:
                given = Path(str(from_file)).expanduser().read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValidationError(
                    f"{section}.{key}_file", f"cannot read {from_file}: {exc.strerror}", "fix the path"
                ) from None
        if given is None and self.interactive:
            given = typer.prompt(question, hide_input=True, default="" if not required else None) or None
        if given is None and required:
            raise ValidationError(
                f"{section}.{key}",
                "not answered",
                f"add {key}_file = 'path' to [{section}] of the answers file",
            )
        return str(given) if given is not None else None

    def text(self, section: str, key: str, question: str, default: str | None = None) -> str | None:
        given = self.value(section, key)
        if given is None and self.interactive:
            given = typer.prompt(question, default=default or "", show_default=bool(default)) or None
        return str(given) if given is not None else default

    def settle(self, choice: Choice) -> Any:
        """An open choice: the answer, or (on a terminal) the person's; else an error naming the answer key."""
        given = self.value("choices", choice.key)
        if choice.key == "match_key" and given is not None:
            offer = self.value("choices", "offer_match_key")
            return {"match_key": str(given), "offer_match_key": str(offer) if offer else None}
        if given is not None:
            if isinstance(given, dt.datetime):  # an unquoted TOML date-time
                return given.isoformat()
            return _parsed(choice, given) if isinstance(given, str) else given
        if not choice.open:
            return choice.value
        if self.interactive:
            console.print(f"[bold yellow]?[/] {escape(choice.key)}: {escape(choice.reason)}")
            default = _shown(choice.value)
            if choice.key == "go_live" and not default:
                default = dt.datetime.now().astimezone().replace(microsecond=0).isoformat()
            if choice.options:
                console.print(f"  options: {escape(', '.join(choice.options))}")
            answer = typer.prompt(f"  {choice.key}", default=default or None)
            if answer == _shown(choice.value) and choice.value is not None:
                return choice.value  # the proposal, accepted as shown
            return _parsed(choice, answer)
        options = f" (one of: {', '.join(choice.options)})" if choice.options else ""
        raise ValidationError(
            f"choices.{choice.key}",
            f"needs an answer: {choice.reason}",
            f"add {choice.key} = ...{options} to [choices] of the answers file",
        )

    def agree(self, question: str, key: str) -> bool:
        given = self.value("choices", key)
        if isinstance(given, bool):
            return given
        if self.yes:
            return True
        if self.interactive:
            return typer.confirm(question, default=True)
        raise ValidationError(
            f"choices.{key}",
            f"needs your agreement: {question}",
            f"answer {key} = true in [choices] of the answers file, or run with --yes",
        )


def _shown(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
    return "" if value is None else str(value)


def _parsed(choice: Choice, answer: str) -> Any:
    """A typed answer: "key/offer_key" for the matching key, "a=b, c=d" for a table, else the text."""
    if choice.key == "match_key":
        key, _, offer = answer.partition("/")
        return {"match_key": key.strip(), "offer_match_key": offer.strip() or None}
    if isinstance(choice.value, Mapping) or choice.key in ("stores", "marking"):
        pairs = (part.split("=", 1) for part in answer.split(",") if "=" in part)
        return {name.strip(): _scalar(value.strip()) for name, value in pairs}
    return answer.strip()


def _scalar(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return int(text) if text.isdigit() else text


def _read_answers(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        fail(f"--answers {path}: {exc}; give a readable TOML file")
    unknown = sorted(set(data) - _ANSWER_SECTIONS)
    unknown += sorted(f"choices.{k}" for k in dict(data.get("choices", {})) if k not in _CHOICE_KEYS)
    if unknown:
        fail(
            f"--answers {path}: unknown key(s) {', '.join(unknown)}; known sections: "
            f"{', '.join(sorted(_ANSWER_SECTIONS))}, choices: {', '.join(sorted(_CHOICE_KEYS))}"
        )
    return data


def _access(asker: _Asker, previous: Settings | None) -> ops.Access:
    """The two addresses and credentials: answered, else the configured ones (a re-run), else asked."""
    old_inflow = previous.inflow if previous else None
    old_bitrix = previous.bitrix if previous else None
    base_url = asker.text(
        "inflow",
        "base_url",
        "Inflow WMS address (e.g. https://wms.example.com)",
        old_inflow.base_url if old_inflow else None,
    )
    if not base_url:
        raise ValidationError(
            "inflow.base_url", "not answered", "add base_url to [inflow] of the answers file"
        )
    credentials = _wms_credentials(asker, old_inflow)
    answered_webhook = any(
        asker.value("bitrix", key) is not None for key in ("webhook_url", "webhook_url_file")
    )
    webhook: str | None
    if old_bitrix is not None and old_bitrix.webhook_url is not None and not answered_webhook:
        webhook = old_bitrix.webhook_url.get_secret_value()
        verify: bool | Path = old_bitrix.verify
    else:
        webhook = asker.secret(
            "bitrix", "webhook_url", "Bitrix incoming webhook URL (https://HOST/rest/USER_ID/CODE/)"
        )
        verify = _verify(asker)
    return ops.Access(
        wms_url=base_url.rstrip("/"),
        wms=credentials,
        webhook_url=webhook or "",
        verify=verify,
        transport=asker.value("inflow", "transport") or (old_inflow.transport if old_inflow else None),
        profile=asker.value("inflow", "profile"),
    )


_CREDENTIAL_KEYS = ("api_key", "api_key_file", "client_id", "client_secret", "client_secret_file")


def _wms_credentials(asker: _Asker, old: InflowSettings | None) -> Credentials:
    answered = any(asker.value("inflow", key) is not None for key in _CREDENTIAL_KEYS)
    if old is not None and not answered:
        return Credentials(
            api_key=old.api_key.get_secret_value() if old.api_key else None,
            client_id=old.client_id,
            client_secret=old.client_secret.get_secret_value() if old.client_secret else None,
        )
    client_id = asker.value("inflow", "client_id")
    if client_id is None and asker.interactive and not answered:
        way = typer.prompt("How does the WMS authenticate you: api_key or oauth2", default="api_key")
        if way.strip().lower() == "oauth2":
            client_id = typer.prompt("OAuth2 client id")
    if client_id:
        return Credentials(
            client_id=str(client_id),
            client_secret=asker.secret("inflow", "client_secret", "OAuth2 client secret"),
        )
    return Credentials(api_key=asker.secret("inflow", "api_key", "Inflow API key (X-API-Key)"))


def _verify(asker: _Asker) -> bool | Path:
    """How the shop's TLS certificate is checked: the system's CAs, a CA file (a self-signed on-premise shop), or
    (answered false) not at all."""
    given = asker.value("bitrix", "verify")
    if given is None and asker.interactive:
        given = (
            typer.prompt(
                "CA file the shop's certificate is signed by (empty: the system's CAs)",
                default="",
                show_default=False,
            )
            or None
        )
    if isinstance(given, bool):
        return given
    if given is None:
        return True
    path = Path(str(given)).expanduser()
    if not path.is_file():
        raise ValidationError(
            "bitrix.verify", f"{given} is not a file", "give the path of the CA bundle (PEM), or leave it out"
        )
    return path.resolve()


def init(
    answers: Annotated[
        Path | None,
        typer.Option("--answers", help="a TOML file with the answers ([inflow], [bitrix], [choices])"),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="accept every proposal that needs no answer; never prompt")
    ] = False,
    secrets_dir: Annotated[
        Path | None,
        typer.Option("--secrets-dir", help="where the secret files go (default: secrets/ by the TOML)"),
    ] = None,
    skip_dry_run: Annotated[bool, typer.Option("--skip-dry-run", help="end after check")] = False,
) -> None:
    """Discover the shop and the warehouse, propose the exchange schema, and write bitrix-inflow.toml."""
    output = config_path(state.config_path) if state.config_path else DEFAULT_CONFIG_PATH
    interactive = console.is_terminal and not yes and answers is None
    asker = _Asker(_read_answers(answers), interactive=interactive, yes=yes)
    previous = _previous(output)
    try:
        _run(asker, output, previous, secrets_dir or output.parent / "secrets", skip_dry_run=skip_dry_run)
    except ValidationError as exc:
        fail(str(exc))
    except ConfigError as exc:
        fail(f"the proposed configuration does not load, so nothing was written: {exc}")
    except IntegrationError as exc:
        fail(f"onboarding stopped, nothing was written: {type(exc).__name__}: {exc}", EXIT_PROBLEM)


def _previous(output: Path) -> Settings | None:
    if not output.exists():
        return None
    try:
        return load_settings(output)
    except ConfigError as exc:
        fail(f"{output} exists but does not load ({exc}); fix it or move it away to start afresh")


def _run(
    asker: _Asker, output: Path, previous: Settings | None, secrets_dir: Path, *, skip_dry_run: bool
) -> None:
    access = _access(asker, previous)
    language = str(
        asker.value("bitrix", "language")
        or (previous.bitrix.language if previous and previous.bitrix else "ru")
    )
    console.print("[bold]1/4[/] looking at the warehouse and the shop (read-only)…")
    facts = ops.discover(access, language=language)
    forward = tuple(
        asker.value("choices", "forward_statuses") or (previous.orders.statuses if previous else ("N",))
    )
    profile = str(
        asker.value("choices", "bitrix_profile") or ("bitrix24" if facts.identity.kind != "site" else "site")
    )
    pre = propose_warehouse({code: len(f.skus) for code, f in facts.wms.warehouses.items()})
    configured = previous.inflow.warehouse if previous and previous.inflow else None
    warehouse = str(asker.settle(_prefilled(pre, configured)))
    scores = ops.score_for(access, facts, warehouse=warehouse, profile=profile)
    proposal = ops.propose(facts, scores, forward_from=forward)
    _remember_previous(proposal, previous)
    _show_discovery(facts, proposal)
    changes = None
    if previous is not None:
        engine = make_engine(_database_url(asker, previous, output))
        ops.keep_configured_mapping(engine, proposal, facts)
        changes = ops.changes_since(engine, facts)
    if changes is not None:
        _show_changes(changes)
    for key, choice in list(proposal.choices.items()):
        if key == "warehouse":
            proposal.choices[key] = Choice(key, warehouse, choice.reason)
            continue
        proposal.choices[key] = Choice(key, asker.settle(choice), choice.reason)
    _overrides(asker, proposal)
    if proposal.choices["go_live"].value:
        _check_go_live(str(proposal.choices["go_live"].value))
    _show_proposal(proposal)
    if proposal.statuses.to_create:
        listed = ", ".join(
            f"{sid} ({names.get('en')})" for sid, names in sorted(proposal.statuses.to_create.items())
        )
        if not asker.agree(f"Create the order status(es) {listed} in the shop?", "create_statuses"):
            raise ValidationError(
                "choices.create_statuses",
                f"the mapping needs the shop statuses {listed}, which do not exist",
                "answer create_statuses = true (or run with --yes), or map them to existing statuses with "
                "[choices] statuses = {PICKING_ERROR = 'X', …}",
            )
    if not asker.agree(f"Write {output} and the secret files in {secrets_dir}?", "write"):
        console.print("nothing was written")
        raise typer.Exit(0)
    console.print("[bold]2/4[/] writing the configuration…")
    if proposal.statuses.to_create:
        created = ops.create_statuses(access, profile, proposal.statuses.to_create)
        console.print(f"  created the shop's order statuses {', '.join(created)}")
    database_url = _database_url(asker, previous, output)
    values = ops.configuration(
        facts,
        proposal,
        access,
        database_url=database_url,
        manager_user_id=_int_or_none(
            asker.value("choices", "manager_user_id") or asker.value("bitrix", "manager_user_id")
        ),
        language=language,
    )
    document = _merged(output, values)
    secrets = _secrets(access, previous)
    for path in write(output, document, secrets, secrets_dir=secrets_dir, header=_header(facts)):
        console.print(f"  wrote {escape(str(path))}")
    state.config_path = output
    loaded = load_settings(output)
    ops.settle_state(make_engine(loaded.database.url), facts, proposal, clock=SystemClock(), actor=operator())
    console.print("[bold]3/4[/] check")
    results = check_cmd.findings(loaded)
    console.print(check_cmd.findings_table(results, "bitrix-inflow check"))
    if not all(item.ok for item in results):
        err_console.print("[yellow]check found problems: fix them and run `bitrix-inflow check` again[/]")
        raise typer.Exit(EXIT_PROBLEM)
    if skip_dry_run:
        return
    console.print(
        "[bold]4/4[/] dry run: what the first stock sync and order round would do (nothing is written)"
    )
    sync_cmd.stock(full=True, dry_run=True, sku=None)
    if loaded.orders.go_live is not None:
        orders_cmd.sync_orders(dry_run=True)
        console.print(
            "  [dim]an order line whose product no stock sync has linked yet waits for the link: the first "
            "`bitrix-inflow sync stock` (or `serve`) makes the links the plan above shows[/]"
        )
    console.print("[bold green]done[/]: start the service with `bitrix-inflow serve`")


def _prefilled(choice: Choice, previous: str | None) -> Choice:
    if previous is None or (choice.options and previous not in choice.options):
        return choice
    return Choice(choice.key, previous, f"as configured ({choice.reason})")


def _remember_previous(proposal: ops.Proposal, previous: Settings | None) -> None:
    """A re-run keeps what the person chose before where it still holds: nothing is asked twice."""
    if previous is None:
        return
    kept: dict[str, Any] = {
        "match_key": {
            "match_key": previous.stock.match_key,
            "offer_match_key": previous.stock.offer_match_key,
        },
        "go_live": previous.orders.go_live,
    }
    if previous.stock.stores:
        kept["stores"] = dict(previous.stock.stores)
    if previous.bitrix is not None:
        kept["bitrix_profile"] = previous.bitrix.profile
    for key, value in kept.items():
        if key in proposal.choices and value:
            proposal.choices[key] = Choice(key, value, f"as configured ({proposal.choices[key].reason})")
    # Carriers: the configured ones stay, a new delivery service gets the proposed carrier.
    configured = dict(previous.orders.carriers)
    proposal.carriers = {sid: configured.get(sid, carrier) for sid, carrier in proposal.carriers.items()}


def _overrides(asker: _Asker, proposal: ops.Proposal) -> None:
    carriers = asker.value("choices", "carriers")
    if isinstance(carriers, Mapping):
        proposal.carriers.update({str(k): str(v) for k, v in carriers.items()})
    statuses = asker.value("choices", "statuses")
    if isinstance(statuses, Mapping):
        for inflow, bitrix in statuses.items():
            proposal.statuses.mapping[str(inflow).upper()] = str(bitrix).upper()
        used = set(proposal.statuses.mapping.values())
        for status_id in [sid for sid in proposal.statuses.to_create if sid not in used]:
            del proposal.statuses.to_create[status_id]


def _check_go_live(value: str) -> None:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            "choices.go_live", f"{value!r} is not an ISO 8601 moment", "write e.g. 2026-12-01T00:00:00+03:00"
        ) from None
    if moment.tzinfo is None:
        raise ValidationError(
            "choices.go_live", f"{value!r} has no UTC offset", "add it, e.g. +03:00 for Moscow"
        )


def _database_url(asker: _Asker, previous: Settings | None, output: Path) -> str:
    given = asker.value("database", "url")
    if given:
        return str(given)
    if previous is not None:
        return previous.database.url
    return (
        DEFAULT_SQLITE_URL
        if output.parent == Path()
        else f"sqlite:///{(output.parent / 'var' / 'bitrix-inflow.db').resolve()}"
    )


def _int_or_none(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


def _merged(output: Path, values: Mapping[str, Any]) -> dict[str, Any]:
    """A re-run keeps every key it does not manage (schedules, buffers, jobs…) as the file has it."""
    document: dict[str, Any] = {}
    if output.exists():
        document = tomllib.loads(output.read_text(encoding="utf-8"))
    for section, body in values.items():
        document.setdefault(section, {}).update(body)
    return document


def _secrets(access: ops.Access, previous: Settings | None) -> dict[tuple[str, str], str]:
    """The secrets to write: every one on a first run; on a re-run only those that changed, so a secret the
    operator keeps elsewhere (a file of their own, the environment) stays where it is and is never copied."""
    secrets: dict[tuple[str, str], str] = {("bitrix", "webhook_url"): access.webhook_url}
    if access.wms.client_secret:
        secrets["inflow", "client_secret"] = access.wms.client_secret
    elif access.wms.api_key:
        secrets["inflow", "api_key"] = access.wms.api_key
    if previous is None:
        return secrets
    inflow, bitrix = previous.inflow, previous.bitrix
    before = {
        ("bitrix", "webhook_url"): bitrix.webhook_url if bitrix else None,
        ("inflow", "client_secret"): inflow.client_secret if inflow else None,
        ("inflow", "api_key"): inflow.api_key if inflow else None,
    }
    return {
        key: value
        for key, value in secrets.items()
        if before[key] is None or before[key].get_secret_value() != value  # type: ignore[union-attr]
    }


def _header(facts: ops.Facts) -> str:
    return (
        f"Shop: {facts.identity.kind}; warehouse: {facts.wms.transport.upper()}, profile {facts.wms.profile}.\n"
        "Secrets are in the files named by the *_file keys; run `bitrix-inflow init` again to see what changed."
    )


def _show_discovery(facts: ops.Facts, proposal: ops.Proposal) -> None:
    shop, wms = facts.shop, facts.wms
    table = Table(title="what was found", header_style="bold", show_header=False)
    table.add_column("what")
    table.add_column("found", overflow="fold")
    rows = [
        ("shop", f"{facts.identity.kind}; scopes {', '.join(facts.identity.scopes)}"),
        ("order statuses", ", ".join(f"{k} {v}" for k, v in sorted(shop.statuses.items()))),
        ("stores", ", ".join(f"{k} {v}" for k, v in sorted(shop.stores.items())) or "none"),
        ("delivery services", ", ".join(f"{d.id} {d.name}" for d in shop.deliveries) or "none"),
        ("person types", ", ".join(f"{p.id} {p.name}" for p in shop.person_types) or "none"),
        ("trade catalogs", ", ".join(f"{c['iblock_id']} {c['name']}" for c in shop.catalogs)),
        ("inventory management", "on (store documents)" if shop.document_mode else "off (quantities)"),
        ("warehouse API", f"{', '.join(wms.served)}; {wms.auth} accepted"),
        (
            "warehouses",
            ", ".join(
                f"{c} ({len(f.skus)} SKUs; zones {', '.join(sorted(f.zones))})"
                for c, f in wms.warehouses.items()
            ),
        ),
    ]
    for label, value in rows:
        table.add_row(label, escape(value))
    console.print(table)
    for note in proposal.notes:
        console.print(f"  [dim]·[/] {escape(note)}", highlight=False)


def _show_proposal(proposal: ops.Proposal) -> None:
    table = Table(title="proposed exchange schema", header_style="bold")
    for column in ("setting", "value", "why"):
        table.add_column(column, overflow="fold")
    for choice in proposal.choices.values():
        table.add_row(escape(choice.key), escape(_shown(choice.value)), escape(choice.reason))
    for inflow, bitrix in proposal.statuses.mapping.items():
        table.add_row(f"status {inflow}", bitrix, escape(proposal.statuses.reasons.get(inflow, "answered")))
    for service, carrier in sorted(proposal.carriers.items()):
        table.add_row(
            f"delivery {service}", escape(carrier), escape(proposal.carrier_reasons.get(service, "answered"))
        )
    console.print(table)


def _show_changes(changes: list[Any]) -> None:
    if not changes:
        console.print("nothing changed on either side since the last `init`")
        return
    table = Table(title="changed since the last init", header_style="bold")
    for column in ("side", "what", "detail"):
        table.add_column(column, overflow="fold")
    for change in changes:
        table.add_row(change.side, escape(change.what), escape(change.detail))
    console.print(table)

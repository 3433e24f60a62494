"""``bitrix-inflow check``: can the service reach both systems with the configured credentials and rights?"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import typer
from rich.markup import escape
from rich.table import Table

from bitrix_inflow.adapters.bitrix import (
    BitrixGateway,
    BitrixSettings,
    InsufficientScopeError,
    MethodNotFoundError,
)
from bitrix_inflow.adapters.inflow import InflowClient, InflowSettings
from bitrix_inflow.cli.common import EXIT_PROBLEM, ConnectionOption, console, settings
from bitrix_inflow.config import Settings
from bitrix_inflow.config.settings import MarkingSettings
from bitrix_inflow.domain.status_mapping import StatusMapping
from bitrix_inflow.errors import IntegrationError
from bitrix_inflow.jobs.queue import DEFAULT_CONNECTION
from bitrix_inflow.log import redactor
from bitrix_inflow.store import status_map
from bitrix_inflow.store.engine import make_engine
from bitrix_inflow.store.schema import ensure_current


@dataclass(frozen=True)
class Finding:
    system: str
    check: str
    ok: bool
    detail: str


def bitrix_findings(
    bitrix: BitrixSettings | None,
    mapping: StatusMapping | None = None,
    stock: StockTarget | None = None,
    marking: MarkingSettings | None = None,
) -> Iterator[Finding]:
    if bitrix is None:
        yield Finding(
            "bitrix",
            "configured",
            False,
            "no [bitrix] section: set BITRIX_INFLOW__BITRIX__WEBHOOK_URL (https://HOST/rest/USER_ID/CODE/) "
            "or [bitrix.oauth]; without it only `demo` runs (on the sandbox shop)",
        )
        return
    if bitrix.manager_user_id is None:
        yield Finding(
            "bitrix",
            "manager",
            False,
            "no [bitrix] manager_user_id: picking errors and other incidents would have no one to tell; set it "
            "to the shop manager's Bitrix user id (BITRIX_INFLOW__BITRIX__MANAGER_USER_ID)",
        )
    else:
        told = "tasks" if bitrix.profile == "bitrix24" else "notifications"
        yield Finding(
            "bitrix", "manager", True, f"user {bitrix.manager_user_id} gets {told} ({bitrix.language})"
        )
    gateway = BitrixGateway(bitrix)
    try:
        yield from _guard("bitrix", "access", lambda: _bitrix_access(gateway))
        yield from _guard("bitrix", "order statuses", lambda: _bitrix_statuses(gateway, mapping))
        if stock is not None:
            yield from _guard("bitrix", "stock mode", lambda: _bitrix_stock(gateway, stock))
        if marking is not None and marking.enabled:
            yield from _guard("bitrix", "marking codes", lambda: _bitrix_marking(gateway, bitrix, marking))
    finally:
        gateway.close()


def _bitrix_marking(
    gateway: BitrixGateway, bitrix: BitrixSettings, marking: MarkingSettings
) -> Iterator[Finding]:
    """Whether marking codes can reach the shop's receipts: the companion module answers (or is said absent)."""
    module = marking.companion_module if marking.companion_module is not None else bitrix.profile == "site"
    if not module:
        yield from _bitrix_marking_without_module(gateway, marking)
        return
    try:
        gateway.product_marking([1])
    except MethodNotFoundError:
        yield Finding(
            "bitrix",
            "marking codes",
            False,
            "the companion module does not answer: install bitrix-module/ in local/modules/ (its README), or set "
            "[marking] companion_module = false",
        )
        return
    except InsufficientScopeError:
        yield Finding(
            "bitrix",
            "marking codes",
            False,
            "the webhook lacks the scope bitrixinflow: add it to the incoming webhook's rights",
        )
        return
    yield Finding("bitrix", "marking codes", True, "the companion module answers: codes reach shipment lines")


def _bitrix_marking_without_module(gateway: BitrixGateway, marking: MarkingSettings) -> Iterator[Finding]:
    """A cloud shop cannot have the module: the catalog properties must say each product's group and GTIN, and the
    operator is told what follows (codes on the order lines, the manager deducts)."""
    if not marking.group_property or not marking.gtin_property:
        yield Finding(
            "bitrix",
            "marking codes",
            False,
            "no companion module, and the catalog properties holding a product's marking group and GTIN are not set: "
            "set [marking] group_property and gtin_property (propertyN; offer_gtin_property for trade offers), or "
            "install bitrix-module/ on an on-premise shop",
        )
        return
    for key, offer_key in (
        (marking.group_property, marking.offer_group_property),
        (marking.gtin_property, marking.offer_gtin_property),
    ):
        # One page is enough to learn whether the iblocks have the property.
        next(iter(gateway.catalog_items(key=key, offer_key=offer_key or "xmlId")), None)
    yield Finding(
        "bitrix",
        "marking codes",
        True,
        "no companion module: checked codes go to the order lines' properties and the manager enters them in the "
        "shipment and deducts it (an incident says which); install bitrix-module/ on an on-premise shop to have "
        "them reach the receipt by themselves",
    )


def _bitrix_access(gateway: BitrixGateway) -> Iterator[Finding]:
    report = gateway.check_access()
    yield Finding(
        "bitrix", "reachable and authorised", True, f"scopes: {', '.join(report.scopes) or '(none)'}"
    )
    if report.missing_scopes:
        yield Finding(
            "bitrix",
            "scopes",
            False,
            f"missing {', '.join(report.missing_scopes)}: edit the webhook/app and tick these scopes",
        )
    for method, why in sorted(report.unavailable_methods.items()):
        yield Finding("bitrix", method, False, why)


@dataclass(frozen=True)
class StockTarget:
    """Where the stock sync writes: the warehouses it reads and the Bitrix store each one maps to."""

    warehouses: tuple[str, ...]
    stores: dict[str, int]


def _bitrix_stock(gateway: BitrixGateway, target: StockTarget) -> Iterator[Finding]:
    """The mode is the shop's (catalog.document.mode.status); document mode needs a store per warehouse."""
    if not gateway.inventory_management_on():
        yield Finding(
            "bitrix", "stock mode", True, "quantities (no inventory management): product quantity is written"
        )
        return
    known = {store.id: store.title for store in gateway.stores()}
    unmapped = [wh for wh in target.warehouses if wh not in target.stores]
    unknown = sorted(
        {str(sid) for wh, sid in target.stores.items() if wh in target.warehouses and sid not in known}
    )
    if unmapped or unknown:
        problems = []
        if unmapped:
            problems.append(f"warehouse(s) {', '.join(unmapped)} have no store")
        if unknown:
            problems.append(f"store id(s) {', '.join(unknown)} do not exist in the shop")
        choices = ", ".join(f"{sid} ({title})" for sid, title in sorted(known.items())) or "none"
        yield Finding(
            "bitrix",
            "stock mode",
            False,
            f"inventory management is on, so stock goes by store documents, but {'; '.join(problems)}: set "
            f"[stock] stores (WMS warehouse = store id); the shop's stores: {choices}",
        )
        return
    mapped = ", ".join(f"{wh} → {known[target.stores[wh]]}" for wh in target.warehouses)
    yield Finding("bitrix", "stock mode", True, f"store documents (inventory management on): {mapped}")


def _bitrix_statuses(gateway: BitrixGateway, mapping: StatusMapping | None) -> Iterator[Finding]:
    statuses = gateway.statuses()
    order_statuses = [s for s in statuses if s.type == "O"]
    names = ", ".join(s.id for s in order_statuses)
    yield Finding("bitrix", "order statuses", bool(order_statuses), names or "no order statuses found")
    if mapping is not None:
        yield from mapping_findings(mapping, {s.id for s in order_statuses})


def mapping_findings(mapping: StatusMapping, shop_statuses: set[str]) -> Iterator[Finding]:
    """Every mapped status must exist in the shop, and picking errors need a status of their own."""
    missing = {inflow: bitrix for inflow, bitrix in mapping.entries.items() if bitrix not in shop_statuses}
    for inflow, bitrix in sorted(missing.items()):
        yield Finding(
            "mapping",
            f"{inflow} → {bitrix}",
            False,
            f"the shop has no order status {bitrix}: create it in the shop's order statuses or run "
            f"`bitrix-inflow mapping set {inflow} <ID>`",
        )
    if mapping.bitrix_status_for("PICKING_ERROR") is None:
        yield Finding(
            "mapping",
            "PICKING_ERROR",
            False,
            'picking errors have no Bitrix status: create one in the shop (e.g. E "Picking error") and run '
            "`bitrix-inflow mapping set PICKING_ERROR E`",
        )
    if not missing:
        mapped = ", ".join(f"{k}→{v}" for k, v in mapping.entries.items())
        yield Finding("mapping", "statuses exist in the shop", True, mapped or "(nothing mapped)")


def _guard(system: str, check: str, run: Callable[[], Iterator[Finding]]) -> Iterator[Finding]:
    """A failing check becomes a finding that says why; it never ends the report early."""
    try:
        yield from run()
    except IntegrationError as exc:
        yield Finding(system, check, False, f"{type(exc).__name__}: {exc}")


def inflow_findings(inflow: InflowSettings | None) -> Iterator[Finding]:
    if inflow is None:
        yield Finding(
            "inflow",
            "configured",
            False,
            "no [inflow] section: set inflow.base_url and BITRIX_INFLOW__INFLOW__API_KEY (or auth = 'oauth2' "
            "with client_id/client_secret); without it only `demo` runs (on the sandbox warehouse)",
        )
        return
    client = InflowClient(inflow)
    try:
        yield from _guard("inflow", "stock of " + inflow.warehouse, lambda: _inflow_stock(client, inflow))
        yield from _guard("inflow", "order changes feed", lambda: _inflow_changes(client))
    finally:
        client.close()


def _inflow_stock(client: InflowClient, inflow: InflowSettings) -> Iterator[Finding]:
    page = client.available_stock_page(warehouse=inflow.warehouse, limit=1)
    yield Finding(
        "inflow",
        "reachable and authorised",
        True,
        f"{inflow.base_url} over {inflow.transport}, {inflow.auth}, profile {client.profile.name}",
    )
    more = " (and more)" if page.next_cursor else ""
    detail = f"first SKU {page.items[0].sku}{more}" if page.items else "no SKUs with available stock"
    yield Finding("inflow", f"stock of {inflow.warehouse}", True, detail)


def _inflow_changes(client: InflowClient) -> Iterator[Finding]:
    client.changes_page(limit=1)
    yield Finding("inflow", "order changes feed", True, "readable")


def state_findings(
    loaded: Settings, connection: str = DEFAULT_CONNECTION
) -> tuple[list[Finding], StatusMapping | None]:
    """The state database must be reachable and current; it also holds the tenant's status mapping to verify."""
    try:
        db = make_engine(loaded.database.url)
        ensure_current(db)
        with db.connect() as conn:
            mapping = status_map.load(conn, connection)
    except Exception as exc:  # reported as a finding: check never stops at the first problem
        reason = redactor.scrub_text(f"{type(exc).__name__}: {exc}")
        return [Finding("state", "database", False, reason)], None
    where = db.url.render_as_string(hide_password=True)
    return [Finding("state", "database", True, f"{where}, schema current")], mapping


def findings(loaded: Settings, connection: str = DEFAULT_CONNECTION) -> list[Finding]:
    """``connection``'s systems and mapping (``loaded`` is that tenant's settings)."""
    state, mapping = state_findings(loaded, connection)
    warehouse = loaded.inflow.warehouse if loaded.inflow is not None else "MAIN"
    target = StockTarget(loaded.stock.warehouses or (warehouse,), dict(loaded.stock.stores))
    return [
        *state,
        *inflow_findings(loaded.inflow),
        *bitrix_findings(loaded.bitrix, mapping, target, loaded.marking),
    ]


def findings_table(results: list[Finding], title: str) -> Table:
    table = Table(title=title, header_style="bold")
    for column in ("system", "check", "", "detail"):
        table.add_column(column, overflow="fold")
    for item in results:
        mark = "[green]✓[/]" if item.ok else "[red]✗[/]"
        table.add_row(escape(item.system), escape(item.check), mark, escape(item.detail))
    return table


def check(connection: ConnectionOption = DEFAULT_CONNECTION) -> None:
    """Check connectivity, credentials and rights on both systems; exit 1 if anything is missing."""
    results = findings(settings(tenant=connection), connection)
    title = "bitrix-inflow check" + (f" · {connection}" if connection != DEFAULT_CONNECTION else "")
    console.print(findings_table(results, title))
    if not all(item.ok for item in results):
        raise typer.Exit(EXIT_PROBLEM)

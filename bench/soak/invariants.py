"""What must hold once the soak has settled, read from where it is true: the warehouse's own orders and stock, the
shop's own orders, notifications and receipts. The service's database is read only to know what it planned and which
incidents it opened; it is never taken as proof that something happened on either side."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from bench.soak.customers import Record
from bench.soak.world import MAPPING, World
from bitrix_inflow.domain.incidents import Kind
from bitrix_inflow.domain.order_status import PROGRESS, aggregate
from bitrix_inflow.domain.vocabulary import InflowStatus
from bitrix_inflow.store import incidents as incident_store
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.store import stock as stock_store

CONNECTION = "default"
SHIPPED = ("SHIPPED", "DELIVERED")


@dataclass
class Findings:
    """Each invariant with what was checked and what broke it (an empty list: it holds)."""

    counts: dict[str, int] = field(default_factory=dict)
    violations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())

    def add(self, invariant: str, what: str) -> None:
        self.violations[invariant].append(what)


INVARIANTS = ("picking orders", "statuses", "incidents told", "marking codes", "stock")


SERVICE_REF = re.compile(r"B-(\d+)(?:r\d+)?-\d+$")


def check(world: World, engine: Engine, record: Record) -> Findings:
    found = Findings()
    for invariant in INVARIANTS:
        found.violations[invariant] = []
    wms_orders = world.wms_orders()
    by_order: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for picking in wms_orders:
        # B-<order>-<n>, or B-<order>r<generation>-<n> for the parts an edit sent again
        found_ref = SERVICE_REF.match(str(picking["external_ref"]))
        if found_ref:
            by_order[int(found_ref.group(1))].append(picking)
    shop_orders = {int(o["id"]): o for o in world.shop.control.entities("orders")}
    with engine.connect() as conn:
        links = stock_store.load_links(conn, CONNECTION)
        parts = {order_id: order_store.parts_of(conn, CONNECTION, order_id) for order_id in record.placed}
        opened = incident_store.listed(
            conn, CONNECTION, states=("open", "resolving", "resolved"), limit=100_000
        )
        pending = order_store.pending_units(conn, CONNECTION)
    sku_of = {link.product_id: sku for sku, link in links.items()}
    incidents_of: dict[int, set[str]] = defaultdict(set)
    for incident in opened:
        incidents_of[incident.order_id].add(incident.kind)

    _picking_orders(found, world, record, by_order, parts, shop_orders, sku_of, incidents_of)
    _statuses(found, record, by_order, shop_orders, incidents_of)
    _incidents_told(found, world, opened)
    _marking(found, world, wms_orders, incidents_of)
    _stock(found, world, links, pending)
    return found


def _picking_orders(
    found: Findings,
    world: World,
    record: Record,
    by_order: dict[int, list[dict[str, Any]]],
    parts: dict[int, list[order_store.Part]],
    shop_orders: dict[int, dict[str, Any]],
    sku_of: dict[int, str],
    incidents_of: dict[int, set[str]],
) -> None:
    """Every placed order reached the warehouse as exactly the picking orders the service planned for it: none
    missing, none twice, none the service does not know; and the live ones carry exactly the shop's basket."""
    name = "picking orders"
    found.counts["orders placed"] = len(record.placed)
    found.counts["picking orders"] = sum(len(p) for p in by_order.values())
    basket: dict[int, Counter[str]] = defaultdict(Counter)
    for line in world.shop.control.entities("basketItems"):
        basket[int(line["orderId"])][sku_of.get(int(line["productId"]), f"product {line['productId']}")] += (
            int(float(line["quantity"]))
        )
    for order_id in record.placed:
        refs = Counter(str(p["external_ref"]) for p in by_order.get(order_id, []))
        for ref, n in refs.items():
            if n > 1:
                found.add(name, f"order {order_id}: {ref} is in the warehouse {n} times")
        planned = {p.external_ref: p for p in parts[order_id]}
        if not planned:
            if shop_orders[order_id]["canceled"] != "Y":
                found.add(name, f"order {order_id}: never planned (it is not cancelled)")
            continue
        for ref, part in planned.items():
            if part.wms_order_id is not None and ref not in refs:
                found.add(name, f"order {order_id}: {ref} was accepted but is not in the warehouse")
            if part.state in ("planned", "sending", "failed") and shop_orders[order_id]["canceled"] != "Y":
                found.add(name, f"order {order_id}: {ref} still {part.state}")
        for ref in refs:
            if ref not in planned:
                found.add(name, f"order {order_id}: {ref} is in the warehouse, unknown to the service")
        if shop_orders[order_id]["canceled"] == "Y" or incidents_of[order_id] & {
            Kind.EDIT_AFTER_PICKING,
            Kind.PICKING_ERROR,
            Kind.EDIT_BLOCKED,
            Kind.CANCELLED_IN_WMS,
        }:
            continue
        live: Counter[str] = Counter()
        for picking in by_order.get(order_id, []):
            if picking["status"] != "CANCELLED":
                for line in picking["lines"]:
                    live[str(line["sku"])] += int(line["qty"])
        if live != basket[order_id]:
            found.add(
                name,
                f"order {order_id}: the warehouse has {dict(live)}, the shop's basket {dict(basket[order_id])}",
            )


def expected_status(statuses: Iterable[str]) -> str | None:
    """The shop status the mapping gives the parts' aggregate: steps without a status of their own keep the last
    mapped step before them (the service writes only forward and only mapped steps)."""
    whole = aggregate(InflowStatus(s) for s in statuses)
    if whole is None:
        return None
    mapped = [
        (PROGRESS[InflowStatus(step)], target)
        for step, target in MAPPING.items()
        if PROGRESS[InflowStatus(step)] <= PROGRESS[whole]
    ]
    return max(mapped)[1] if mapped else None


def _statuses(
    found: Findings,
    record: Record,
    by_order: dict[int, list[dict[str, Any]]],
    shop_orders: dict[int, dict[str, Any]],
    incidents_of: dict[int, set[str]],
) -> None:
    name = "statuses"
    for order_id in record.placed:
        pickings = by_order.get(order_id, [])
        want = expected_status(p["status"] for p in pickings)
        shown = shop_orders[order_id]["statusId"]
        if want is None:
            continue
        # A person has the last word on these: the service stood back and told them.
        waits = {Kind.STATUS_REFUSED, Kind.SHOP_CANCEL_REFUSED, Kind.CANCEL_REFUSED}
        if shown != want and not incidents_of[order_id] & waits:
            statuses = sorted(str(p["status"]) for p in pickings)
            found.add(name, f"order {order_id}: shows {shown}, its parts {statuses} map to {want}")


def _incidents_told(found: Findings, world: World, opened: list[incident_store.Incident]) -> None:
    name = "incidents told"
    tags = Counter(str(n.get("tag") or "") for n in world.shop.control.entities("notifications"))
    found.counts["incidents"] = len(opened)
    for kind, n in sorted(Counter(str(i.kind) for i in opened).items()):
        found.counts[f"incidents: {kind}"] = n
    ids = {i.id for i in opened}
    for incident in opened:
        told = tags.get(f"[BI-{incident.id}]", 0)
        # An incident the service settled by itself (the order was cancelled meanwhile) needs nobody: at most once.
        if told != 1 and not (incident.notice_state == "not_needed" and told == 0):
            found.add(
                name, f"incident {incident.id} ({incident.kind}, order {incident.order_id}) told {told} times"
            )
    for tag in tags:
        if tag.startswith("[BI-") and int(tag[4:-1]) not in ids:
            found.add(name, f"a notification {tag} of no incident")


def _marking(
    found: Findings, world: World, wms_orders: list[dict[str, Any]], incidents_of: dict[int, set[str]]
) -> None:
    """Each code the warehouse shipped is in the shop exactly once (the shipment line's units, b_sale_store_barcode),
    and on at most one receipt; nothing the warehouse did not ship is in either."""
    name = "marking codes"
    in_shop = Counter(str(row["markingCode"]) for row in world.shop.control.entities("storeBarcodes"))
    on_receipts = Counter(
        str(item["marking_code"])
        for receipt in world.shop.control.entities("receipts")
        for item in receipt["items"]
        if item.get("payment_object") == "commodity_marking"
    )
    shipped: dict[str, int] = {}
    for picking in wms_orders:
        found_ref = SERVICE_REF.match(str(picking["external_ref"]))
        if picking["status"] not in SHIPPED or not found_ref:
            continue
        order_id = int(found_ref.group(1))
        if Kind.MARKING in incidents_of[order_id]:
            continue  # held for a person, by design
        for line in picking["lines"]:
            for code in line.get("marking_codes") or ():
                shipped[str(code)] = order_id
    found.counts["marked units shipped"] = len(shipped)
    found.counts["codes on receipts"] = sum(on_receipts.values())
    for code, order_id in shipped.items():
        if in_shop.get(code, 0) != 1:
            found.add(
                name, f"order {order_id}: code {code[:31]}… is in the shop {in_shop.get(code, 0)} times"
            )
        if on_receipts.get(code, 0) > 1:
            found.add(name, f"order {order_id}: code {code[:31]}… is on {on_receipts[code]} receipts")
    for code in (set(in_shop) | set(on_receipts)) - set(shipped):
        found.add(name, f"code {code[:31]}… is in the shop but the warehouse shipped it in no order")


def _stock(
    found: Findings, world: World, links: dict[str, stock_store.Link], pending: dict[tuple[str, str], int]
) -> None:
    """After the last full sync: each linked product shows what the warehouse can sell minus what the shop sold that
    the warehouse has not reserved yet."""
    name = "stock"
    available: Counter[str] = Counter()
    with world.wms_api() as api:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"warehouse": "MAIN", "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = api.get("/stock", params=params)
            page.raise_for_status()
            body = page.json()
            for row in body["items"]:
                if row["sellable"]:
                    available[row["sku"]] += row["qty_on_hand"] - row["qty_reserved"] - row["qty_in_picking"]
            cursor = body.get("next_cursor")
            if not cursor:
                break
    shown = {int(p["id"]): float(p["quantity"]) for p in world.shop.control.entities("products")}
    found.counts["linked products"] = len(links)
    for sku, link in links.items():
        want = max(0, available[sku] - pending.get((sku, "MAIN"), 0))
        if shown.get(link.product_id) != want:
            found.add(
                name, f"{sku}: the shop shows {shown.get(link.product_id)}, the warehouse can sell {want}"
            )

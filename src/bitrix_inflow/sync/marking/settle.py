"""Marking codes from the warehouse to the shop, run by the apply job before it writes shipments.

Each part moves ``captured → checked → written``, each step committed before the next, so a run killed anywhere
repeats only what had not finished (the ledger records a unit once; the shop's line takes the same codes again
harmlessly). A problem (a code missing, repeated, invalid, of another product, sold on another order; the shop
refusing them) holds the part at ``problem`` with an incident for a person; corrected codes from the warehouse
start it again. A shipment is held (not marked deducted) while any part carrying its lines is not ``written``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Engine

from bitrix_inflow.domain import marking
from bitrix_inflow.domain.incidents import Kind
from bitrix_inflow.store import incidents
from bitrix_inflow.store import marking as ledger
from bitrix_inflow.store import orders as store
from bitrix_inflow.store.incidents import SERVICE
from bitrix_inflow.sync.incidents.inbox import raise_incident
from bitrix_inflow.sync.marking.shop import CodesRefused, MarkingShop, ProductFacts, ShopLine
from bitrix_inflow.sync.orders.notice import STATUS_WRITE_ECHOES, own_write
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.sync.marking")

HOLDING = ("captured", "checked", "problem")


@dataclass
class SettleReport:
    checked: list[str] = field(default_factory=list)  # parts whose codes were found good and recorded
    written: list[str] = field(default_factory=list)  # parts whose codes reached the shop
    problems: list[str] = field(default_factory=list)  # parts held for a person
    held: set[int] = field(default_factory=set)  # shipments that must not be deducted yet
    saves: int = 0  # writes that saved the shop's order (each adds one to its version)


def settle(
    engine: Engine,
    shop: MarkingShop,
    connection_id: str,
    order_id: int,
    parts: Collection[store.Part],
    *,
    group_names: Mapping[str, str],
    clock: Clock,
) -> SettleReport:
    report = SettleReport()
    captured = [p for p in parts if p.marking_state == "captured"]
    if captured:
        _check(
            engine,
            shop,
            connection_id,
            order_id,
            captured,
            group_names=group_names,
            clock=clock,
            report=report,
        )
    with engine.connect() as conn:
        fresh = {p.id: p for p in store.parts_of(conn, connection_id, order_id)}
    checked = [fresh[p.id] for p in parts if p.id in fresh and fresh[p.id].marking_state == "checked"]
    if checked:
        _write(engine, shop, connection_id, order_id, checked, clock=clock, report=report)
        with engine.connect() as conn:
            fresh = {p.id: p for p in store.parts_of(conn, connection_id, order_id)}
    for part in parts:
        now_part = fresh.get(part.id, part)
        if now_part.marking_state in HOLDING:
            report.held.update(line.shipment_id for line in now_part.lines)
    return report


def _check(
    engine: Engine,
    shop: MarkingShop,
    connection_id: str,
    order_id: int,
    parts: Sequence[store.Part],
    *,
    group_names: Mapping[str, str],
    clock: Clock,
    report: SettleReport,
) -> None:
    try:
        shop_lines = {(ln.shipment_id, ln.basket_id): ln for ln in shop.lines(order_id)}
        products = shop.products(sorted({ln.product_id for ln in shop_lines.values()}))
    except CodesRefused as exc:
        for part in parts:
            _problem(
                engine, connection_id, order_id, part, [_refusal(part, exc.why)], clock=clock, report=report
            )
        return
    for part in parts:
        problems, units = _examine(order_id, part, shop_lines, products, group_names)
        if problems:
            _problem(engine, connection_id, order_id, part, problems, clock=clock, report=report)
            continue
        clashes = _record(engine, connection_id, order_id, part, units, clock=clock)
        if clashes:
            sold = [
                {
                    "sku": _sku_of(part, unit.basket_id),
                    "kind": "sold",
                    "code": unit.code,
                    "detail": f"unit {unit.identity} left with order {unit.bitrix_order_id} ({unit.picking_ref})",
                }
                for unit in clashes
            ]
            _problem(engine, connection_id, order_id, part, sold, clock=clock, report=report)
            continue
        report.checked.append(part.external_ref)


def _record(
    engine: Engine,
    connection_id: str,
    order_id: int,
    part: store.Part,
    units: Sequence[ledger.Unit],
    *,
    clock: Clock,
) -> tuple[ledger.Unit, ...]:
    """The part's units in the ledger and the part checked, in one transaction; when a unit was sold on another
    order nothing of the part is kept, and the clashing units are returned."""
    with engine.connect() as conn, conn.begin() as transaction:
        now = clock.now()
        recorded = ledger.record_shipped(conn, connection_id, units, now=now)
        if recorded.sold_elsewhere:
            transaction.rollback()
            return recorded.sold_elsewhere
        store.set_marking_state(conn, part.id, "checked", now=now)
        _settle_incident(conn, connection_id, order_id, part, now=now)
    return ()


def _examine(
    order_id: int,
    part: store.Part,
    shop_lines: Mapping[tuple[int, int], ShopLine],
    products: Mapping[int, ProductFacts],
    group_names: Mapping[str, str],
) -> tuple[list[dict[str, Any]], list[ledger.Unit]]:
    problems: list[dict[str, Any]] = []
    units: list[ledger.Unit] = []
    reported = part.marking or {}
    package_of = _packages(reported.get("sscc", {}))
    for number_text, line_report in sorted(reported.get("lines", {}).items(), key=lambda kv: int(kv[0])):
        line = part.lines[int(number_text) - 1]
        raw_codes = [str(c) for c in line_report.get("codes", [])]
        qty = int(line_report.get("qty", 0))
        shop_line = shop_lines.get((line.shipment_id, line.basket_id))
        facts = products.get(shop_line.product_id) if shop_line else None
        group_name = facts.group if facts else (shop_line.group if shop_line else "")
        group = marking.group_of(group_name, group_names) if group_name else None
        if group is None:
            why = (
                f"the shop's marking group {group_name!r} is not known: add it to [marking] groups"
                if group_name
                else "the warehouse marks this SKU, but the shop's product has no marking group: set it in the catalog"
            )
            problems.append({"sku": line.sku, "kind": "unknown_group", "code": None, "detail": why})
            continue
        gtins = marking.gtins_of(facts.barcodes) if facts else ()
        if not gtins:
            detail = "the shop's product has no GTIN among its barcodes: add the EAN-13/GTIN-14 barcode"
            problems.append({"sku": line.sku, "kind": "no_gtin", "code": None, "detail": detail})
            continue
        checked = min(
            (marking.check_shipped(raw_codes, qty=qty, group=group, gtin=gtin) for gtin in gtins),
            key=lambda result: len(result.problems),
        )
        problems.extend(
            {"sku": line.sku, "kind": p.kind, "code": p.code, "detail": p.detail} for p in checked.problems
        )
        units.extend(
            ledger.Unit(
                identity=code.identity,
                code=code.full,
                gtin=code.gtin,
                bitrix_order_id=order_id,
                picking_ref=part.external_ref,
                shipment_id=line.shipment_id,
                basket_id=line.basket_id,
                sscc=package_of.get(code.identity),
            )
            for code in checked.codes
        )
    return problems, units


def _packages(sscc_by_code: Mapping[str, str]) -> dict[str, str]:
    """Each unit's package, by its identity (the warehouse's code text may differ in separators)."""
    found: dict[str, str] = {}
    for raw, sscc in sscc_by_code.items():
        for group in marking.Group:
            try:
                found[marking.parse(raw, group).identity] = sscc
                break
            except marking.MarkingError:
                continue
    return found


def _write(
    engine: Engine,
    shop: MarkingShop,
    connection_id: str,
    order_id: int,
    parts: Sequence[store.Part],
    *,
    clock: Clock,
    report: SettleReport,
) -> None:
    with engine.connect() as conn:
        by_line = ledger.codes_of_lines(conn, connection_id, order_id)
    for part in parts:
        reported = part.marking or {}
        keys = sorted(
            {
                (line.shipment_id, line.basket_id)
                for number, line in enumerate(part.lines, start=1)
                if str(number) in reported.get("lines", {})
            }
        )
        try:
            for shipment_id, basket_id in keys:
                # The whole line's codes, from every part that carries it: the shop's line takes exactly these.
                # The module saves the order: its event is the service's own, announced first (no poll round).
                with own_write(engine, connection_id, order_id, STATUS_WRITE_ECHOES, clock=clock) as done:
                    done[0] = shop.write(shipment_id, basket_id, by_line.get((shipment_id, basket_id), []))
                report.saves += int(done[0])
        except CodesRefused as exc:
            _problem(
                engine, connection_id, order_id, part, [_refusal(part, exc.why)], clock=clock, report=report
            )
            continue
        with engine.begin() as conn:
            store.set_marking_state(conn, part.id, "written", now=clock.now())
        report.written.append(part.external_ref)
        log.info("marking.written", order_id=order_id, ref=part.external_ref, lines=len(keys))


def _refusal(part: store.Part, why: str) -> dict[str, Any]:
    skus = sorted({line.sku for line in part.lines})
    return {"sku": ", ".join(skus), "kind": "refused", "code": None, "detail": why}


def _sku_of(part: store.Part, basket_id: int | None) -> str:
    return next((line.sku for line in part.lines if line.basket_id == basket_id), "")


def _problem(
    engine: Engine,
    connection_id: str,
    order_id: int,
    part: store.Part,
    problems: Sequence[Mapping[str, Any]],
    *,
    clock: Clock,
    report: SettleReport,
) -> None:
    detail = {
        "ref": part.external_ref,
        "sku": ", ".join(sorted({str(p["sku"]) for p in problems if p.get("sku")})),
        "problems": [dict(p) for p in problems],
        "why": "; ".join(f"{p['sku']}: {p['detail']}" for p in problems),
    }
    with engine.begin() as conn:
        now = clock.now()
        store.set_marking_state(conn, part.id, "problem", now=now)
        raise_incident(
            conn,
            connection_id,
            order_id,
            kind=Kind.MARKING,
            subject=part.external_ref,
            detail=detail,
            now=now,
        )
    report.problems.append(part.external_ref)
    log.warning("marking.problem", order_id=order_id, ref=part.external_ref, problems=len(problems))


def _settle_incident(conn: Any, connection_id: str, order_id: int, part: store.Part, *, now: Any) -> None:
    """Codes corrected by the warehouse settle the part's open incident: nothing is left for a person to do."""
    found = incidents.find(conn, connection_id, order_id, kind=Kind.MARKING, subject=part.external_ref)
    if found is not None and found.state == "open":
        why = "the warehouse sent corrected codes"
        incidents.resolve(conn, found.id, resolution={"by": SERVICE, "why": why}, actor=SERVICE, now=now)

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

# "by_hand": the codes are good and on the order's lines, but only a person can put them in the receipt (no module).
HOLDING = ("captured", "checked", "problem", "by_hand")


@dataclass
class SettleReport:
    checked: list[str] = field(default_factory=list)  # parts whose codes were found good and recorded
    written: list[str] = field(default_factory=list)  # parts whose codes reached the shop
    problems: list[str] = field(default_factory=list)  # parts held for a person
    by_hand: list[str] = field(default_factory=list)  # parts whose good codes a person enters in the shipment
    by_hand_shipments: set[int] = field(
        default_factory=set
    )  # shipments held only for a person to enter codes
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
    held = [p for p in parts if p.marking_state == "problem"]
    captured += _worth_rechecking(engine, connection_id, order_id, held)
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
    waiting_for_code: set[int] = set()
    for part in parts:
        now_part = fresh.get(part.id, part)
        if now_part.marking_state in HOLDING:
            report.held.update(line.shipment_id for line in now_part.lines)
        if now_part.marking_state in ("captured", "checked", "problem"):
            waiting_for_code.update(line.shipment_id for line in now_part.lines)
    # Held only for a person to enter the codes: nothing the service still does would change them.
    report.by_hand_shipments = {
        line.shipment_id
        for part in parts
        if fresh.get(part.id, part).marking_state == "by_hand"
        for line in part.lines
        if line.shipment_id not in waiting_for_code
    }
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
            cause = _refusal(part, exc.why, kind=exc.kind)
            _problem(engine, connection_id, order_id, part, [cause], clock=clock, report=report)
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


# Causes on the shop's side a person may fix there (the catalog, the module, a unit that came back meanwhile): a part
# held for one of these is checked again on every run. One on the warehouse's side comes back with corrected codes
# (a new capture); a shop's refusal to take the codes is never asked again.
RECHECKABLE = frozenset({"unknown_group", "no_gtin", "sold", "no_module"})


def _worth_rechecking(
    engine: Engine, connection_id: str, order_id: int, held: Sequence[store.Part]
) -> list[store.Part]:
    if not held:
        return []
    with engine.connect() as conn:
        found = {
            i.subject: i
            for i in incidents.of_order(conn, connection_id, order_id)
            if i.kind == Kind.MARKING and i.state == "open"
        }
    chosen = []
    for part in held:
        incident = found.get(part.external_ref)
        kinds = {str(p.get("kind")) for p in (incident.detail.get("problems") or [])} if incident else set()
        if kinds and kinds <= RECHECKABLE:
            chosen.append(part)
    return chosen


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
        # Units of an earlier report of this picking order that the warehouse corrected away are not sold.
        ledger.forget_unsold(conn, connection_id, part.external_ref, keep={u.identity for u in units})
        store.set_marking_state(conn, part.id, "checked", now=now)
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
                # Each save of the order is the service's own, its event announced first (no poll round).
                codes = by_line.get((shipment_id, basket_id), [])
                saves = shop.saves_for(shipment_id, basket_id, codes)
                if not saves:
                    continue
                with own_write(
                    engine, connection_id, order_id, saves * STATUS_WRITE_ECHOES, clock=clock
                ) as done:
                    done[0] = shop.write(shipment_id, basket_id, codes)
                report.saves += saves if done[0] else 0
        except CodesRefused as exc:
            _problem(
                engine,
                connection_id,
                order_id,
                part,
                [_refusal(part, exc.why, kind=exc.kind)],
                clock=clock,
                report=report,
            )
            continue
        if not shop.reaches_receipt:
            _by_hand(engine, connection_id, order_id, part, clock=clock)
            report.by_hand.append(part.external_ref)
            continue
        with engine.begin() as conn:
            store.set_marking_state(conn, part.id, "written", now=clock.now())
            _settle_incident(conn, connection_id, order_id, part, now=clock.now())
        report.written.append(part.external_ref)
        log.info("marking.written", order_id=order_id, ref=part.external_ref, lines=len(keys))


def _by_hand(engine: Engine, connection_id: str, order_id: int, part: store.Part, *, clock: Clock) -> None:
    """The part's codes are on the order's lines; the manager is asked to enter them once the whole shipment has
    left the warehouse (``tell_by_hand``). An earlier incident about wrong codes is settled."""
    with engine.begin() as conn:
        now = clock.now()
        store.set_marking_state(conn, part.id, "by_hand", now=now)
        _settle_incident(conn, connection_id, order_id, part, now=now)
    log.info("marking.by_hand", order_id=order_id, ref=part.external_ref)


def tell_by_hand(
    engine: Engine,
    connection_id: str,
    order_id: int,
    shipment_id: int,
    parts: Collection[store.Part],
    *,
    clock: Clock,
) -> None:
    """A shipment the warehouse shipped whose every marked line waits for a person (no module): one incident per
    shipment listing its lines' codes, to enter in the shipment before deducting it."""
    with engine.connect() as conn:
        by_line = ledger.codes_of_lines(conn, connection_id, order_id)
    sku_of = {
        line.basket_id: line.sku for part in parts for line in part.lines if line.shipment_id == shipment_id
    }
    lines = [
        {"sku": sku_of.get(basket_id, ""), "kind": "by_hand", "code": None, "detail": ", ".join(found)}
        for (shipment, basket_id), found in sorted(by_line.items())
        if shipment == shipment_id and found
    ]
    if not lines:
        return
    detail = {
        "shipment": shipment_id,
        "sku": ", ".join(sorted({str(line["sku"]) for line in lines if line["sku"]})),
        "problems": lines,
    }
    with engine.begin() as conn:
        raise_incident(
            conn,
            connection_id,
            order_id,
            kind=Kind.MARKING_BY_HAND,
            subject=str(shipment_id),
            detail=detail,
            now=clock.now(),
        )


def _refusal(part: store.Part, why: str, *, kind: str = "refused") -> dict[str, Any]:
    skus = sorted({line.sku for line in part.lines})
    return {"sku": ", ".join(skus), "kind": kind, "code": None, "detail": why}


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
        _tell(conn, connection_id, order_id, part, kind=Kind.MARKING, detail=detail, now=now)
    report.problems.append(part.external_ref)
    log.warning("marking.problem", order_id=order_id, ref=part.external_ref, problems=len(problems))


def _tell(
    conn: Any,
    connection_id: str,
    order_id: int,
    part: store.Part,
    *,
    kind: Kind,
    detail: Mapping[str, Any],
    now: Any,
) -> None:
    """The part's incident of ``kind`` opened, or, open already (a re-check, corrected codes), saying what is now."""
    opened = raise_incident(
        conn, connection_id, order_id, kind=kind, subject=part.external_ref, detail=detail, now=now
    )
    if opened is None:
        incidents.refresh_detail(
            conn, connection_id, order_id, kind=kind, subject=part.external_ref, detail=detail, now=now
        )


def _settle_incident(conn: Any, connection_id: str, order_id: int, part: store.Part, *, now: Any) -> None:
    """The part's codes reached the shop: its open incident is settled, nothing is left for a person to do."""
    found = incidents.find(conn, connection_id, order_id, kind=Kind.MARKING, subject=part.external_ref)
    if found is not None and found.state == "open":
        why = "the codes are complete and in the shop"
        incidents.resolve(conn, found.id, resolution={"by": SERVICE, "why": why}, actor=SERVICE, now=now)

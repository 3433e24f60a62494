"""Statuses back: the warehouse's picking orders as they move, to the Bitrix orders and shipments they belong to.

* **read** (``read_changes``): the WMS changes feed from its cursor, one page per transaction: each picking order
  the page names updates its part when its ``version`` is newer (an older or repeated one changes nothing), an
  ``orders.apply`` job is queued for its Bitrix order, and the cursor moves, all in that transaction;
* **apply** (``apply_statuses``): the parts' aggregate through the status mapping table to the order, only forward,
  from a status the service may overwrite (one it set itself, or one orders are forwarded from): a status a person
  set in between is left alone and recorded as a conflict. Each shipment gets its parts' tracking numbers, and is
  marked shipped (deducted) once every part of it has left the warehouse.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Connection, Engine

from bitrix_inflow.adapters.inflow import ChangesPage, InflowPort, PickingOrder
from bitrix_inflow.domain import edits, order_status
from bitrix_inflow.domain.incidents import Kind
from bitrix_inflow.domain.marking import DEFAULT_GROUP_NAMES
from bitrix_inflow.domain.status_mapping import StatusMapping
from bitrix_inflow.domain.vocabulary import InflowStatus
from bitrix_inflow.jobs import queue
from bitrix_inflow.store import incidents
from bitrix_inflow.store import orders as store
from bitrix_inflow.store.tables import LIVE_PART_STATES
from bitrix_inflow.sync import feed
from bitrix_inflow.sync.incidents.inbox import raise_incident
from bitrix_inflow.sync.incidents.release import queue_release
from bitrix_inflow.sync.marking import capture as marking_capture
from bitrix_inflow.sync.marking.settle import settle as settle_marking
from bitrix_inflow.sync.marking.settle import tell_by_hand
from bitrix_inflow.sync.marking.shop import MarkingShop
from bitrix_inflow.sync.orders.notice import (
    STATUS_WRITE_ECHOES,
    order_lock_key,
    own_write,
    write_shipment,
    write_status,
)
from bitrix_inflow.sync.orders.shop import OrdersShop, ShipmentRefused
from bitrix_inflow.sync.stock import jobs as stock_jobs
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.sync.orders")

APPLY_KIND = "orders.apply"
REFRESH_KIND = "orders.refresh"
FEED_CURSOR = "inflow.changes"
_SHIPPED = (InflowStatus.SHIPPED, InflowStatus.DELIVERED)
WAREHOUSE_CANCELLED = "Cancelled in the warehouse"


@dataclass
class ReadReport:
    pages: int = 0
    updated: int = 0  # parts whose status moved
    stale: int = 0  # older or repeated versions, ignored
    unknown: int = 0  # picking orders the service did not create (another system's): ignored
    orders: set[int] = field(default_factory=set)


def read_changes(
    engine: Engine, wms: InflowPort, *, clock: Clock, connection_id: str = "default"
) -> ReadReport:
    report = ReadReport()

    def take_page(conn: Connection, page: ChangesPage) -> None:
        for picking in page.orders:
            take(conn, connection_id, picking, clock=clock, report=report)

    report.pages = feed.walk(engine, connection_id, FEED_CURSOR, wms.changes_page, take_page, clock=clock)
    return report


def take(
    conn: Connection, connection_id: str, picking: PickingOrder, *, clock: Clock, report: ReadReport
) -> None:
    """One picking order's state (from the feed, a webhook's re-read, or a fallback read), in the caller's
    transaction: the part moves if this version is newer, and its Bitrix order gets an apply job."""
    part = store.part_by_wms_id(conn, connection_id, picking.id)
    if part is None:
        report.unknown += 1
        return
    if part.wms_version is not None and picking.version <= part.wms_version:
        report.stale += 1
        return
    took(conn, connection_id, part, picking, now=clock.now())
    report.updated += 1
    report.orders.add(part.bitrix_order_id)


def took(
    conn: Connection, connection_id: str, part: store.Part, picking: PickingOrder, *, now: dt.datetime
) -> None:
    """What a newer state of one of the service's picking orders means, in the caller's transaction: the part moves,
    the codes packed are captured, a picking error is an incident, and the Bitrix order gets an apply job."""
    store.update_part_from_wms(
        conn,
        part.id,
        status=picking.status.value,
        version=picking.version,
        tracking=(picking.tracking.carrier, picking.tracking.number) if picking.tracking else None,
        error=None if picking.error is None else {"code": picking.error.code, "sku": picking.error.sku},
        now=now,
    )
    marking_capture.capture(conn, part, picking, now=now)
    detail = {"ref": part.external_ref, "status": picking.status.value, "version": picking.version}
    store.add_timeline(
        conn, connection_id, part.bitrix_order_id, source="inflow", kind="status", detail=detail, now=now
    )
    if picking.status is InflowStatus.PICKING_ERROR:
        _picking_failed(conn, connection_id, part, picking, now=now)
    # Coalesced: an apply already under way read the parts before this change, so it gets one follow-up.
    queue.enqueue_coalesced(
        conn,
        APPLY_KIND,
        {"order_id": part.bitrix_order_id},
        key=f"{APPLY_KIND}:{connection_id}:{part.bitrix_order_id}",
        now=now,
        connection_id=connection_id,
        lock_key=order_lock_key(connection_id, part.bitrix_order_id),
    )


def queue_reapply(conn: Connection, connection_id: str, order_id: int, *, now: dt.datetime) -> None:
    """An ``orders.apply`` that writes the order's status again (reconciliation found it diverging), under the
    order's lock like every status write."""
    queue.enqueue_coalesced(
        conn,
        APPLY_KIND,
        {"order_id": order_id, "reapply": True},
        key=f"{APPLY_KIND}:reapply:{connection_id}:{order_id}",
        now=now,
        connection_id=connection_id,
        lock_key=order_lock_key(connection_id, order_id),
    )


def _picking_failed(
    conn: Connection, connection_id: str, part: store.Part, picking: PickingOrder, *, now: dt.datetime
) -> None:
    """Never a silent failure: an incident for a person (once per picking order, however often this version is
    read), the manager told by its job, and the failed SKU's stock read again at once, so the next customer
    cannot order what the warehouse does not have."""
    failure = picking.error
    detail: dict[str, object] = {
        "ref": part.external_ref,
        "wms_order_id": picking.id,
        "sku": failure.sku if failure else None,
        "bin": failure.bin if failure else None,
        "line_no": failure.line_no if failure else None,
        "code": failure.code if failure else None,
        "reason": failure.reason if failure else "the warehouse reported a picking error without details",
    }
    raise_incident(
        conn,
        connection_id,
        part.bitrix_order_id,
        kind=Kind.PICKING_ERROR,
        subject=part.external_ref,
        detail=detail,
        now=now,
    )
    skus = [failure.sku] if failure else sorted({ln.sku for ln in part.lines})
    stock_jobs.hint(conn, part.warehouse, skus, now=now, connection_id=connection_id)
    # A line another live picking order also carries (one SKU from two zones) keeps its reservation: releasing the
    # whole line would free units that are still on their way to the customer.
    others = [
        p
        for p in store.parts_of(conn, connection_id, part.bitrix_order_id)
        if p.id != part.id
        and p.state in LIVE_PART_STATES
        and p.wms_status != InflowStatus.PICKING_ERROR.value
    ]
    shared = {ln.basket_id for p in others for ln in p.lines}
    failed_lines = [ln.basket_id for ln in part.lines if ln.sku in skus and ln.basket_id not in shared]
    if not failed_lines:
        return
    queue_release(conn, connection_id, part.bitrix_order_id, failed_lines, ref=part.external_ref, now=now)


def hint(conn: Connection, connection_id: str, *, event_id: str, wms_order_id: str, now: dt.datetime) -> bool:
    """A WMS ``order.status_changed`` delivery, in the caller's transaction: the first delivery of an event id
    queues a re-read of that picking order (a retry or a duplicate changes nothing). The delivery itself is only a
    doorbell: the re-read, compared by version, is what moves the part."""
    if not store.first_delivery(conn, connection_id, event_id, now=now):
        return False
    queue_refresh(conn, connection_id, wms_order_id, now=now)
    return True


def queue_refresh(conn: Connection, connection_id: str, wms_order_id: str, *, now: dt.datetime) -> None:
    """A re-read of one picking order, in the caller's transaction (coalesced per picking order)."""
    queue.enqueue_coalesced(
        conn,
        REFRESH_KIND,
        {"wms_order_id": wms_order_id},
        key=f"{REFRESH_KIND}:{connection_id}:{wms_order_id}",
        now=now,
        connection_id=connection_id,
        priority=10,  # a customer may be waiting for the news
    )


def refresh(
    engine: Engine, wms: InflowPort, wms_order_id: str, *, clock: Clock, connection_id: str = "default"
) -> ReadReport:
    """Re-read one picking order (after a webhook) and take it like a feed page would."""
    report = ReadReport()
    picking = wms.get_order(wms_order_id)
    with engine.begin() as conn:
        take(conn, connection_id, picking, clock=clock, report=report)
    return report


@dataclass
class ApplyReport:
    order_id: int
    aggregate: InflowStatus | None = None
    written: str | None = None
    outcome: str | None = None  # changed | already_set | refused
    why: str = ""
    shipments: dict[int, str] = field(default_factory=dict)  # shipment id → tracking written
    cancel: str | None = None  # the shop's order after the warehouse cancelled: cancelled | already | refused
    # Shipments not marked deducted: their marking codes are not there, or the shop refused (a person deducts).
    held: set[int] = field(default_factory=set)
    refused: dict[int, str] = field(default_factory=dict)  # shipment id → the shop's reason for not deducting


def apply_statuses(
    engine: Engine,
    shop: OrdersShop,
    mapping: StatusMapping,
    order_id: int,
    *,
    forwarded_from: Collection[str],
    clock: Clock,
    connection_id: str = "default",
    reapply: bool = False,
    marking: MarkingShop | None = None,
    group_names: Mapping[str, str] | None = None,
) -> ApplyReport:
    """The order's mapped status and tracking, written when its picking orders moved. ``reapply`` (reconciliation
    found the shop showing another status): the status is written again even though it was applied before, by
    the same compare-and-set, so a person's status still stands (an incident). With ``marking`` (labelled goods
    switched on), the codes the warehouse scanned reach the shop's shipment lines first, and a shipment whose codes
    are not all there is not marked deducted."""
    with engine.connect() as conn:
        binding = store.load_binding(conn, connection_id, order_id)
        every = store.parts_of(conn, connection_id, order_id)
        known = incidents.of_order(conn, connection_id, order_id)
    returned = any(i.kind == Kind.RETURN_RECEIVED for i in known)
    # A shipment the shop once refused to deduct is a person's from then on: asking again changes nothing.
    refused_before = {int(i.subject) for i in known if i.kind == Kind.DEDUCT_REFUSED and i.subject.isdigit()}
    parts = [p for p in every if p.state in LIVE_PART_STATES]
    if not parts and binding is not None and binding.state == "cancelled":
        # Cancelled by the service (the shop's cancel): its picking orders' CANCELLED is the order's step too, so
        # the mapped status is written whichever came first, the cancel's answer or the feed.
        parts = [p for p in every if p.wms_status == InflowStatus.CANCELLED.value]
    report = ApplyReport(order_id)
    if binding is None or not parts:
        report.why = "the service has no picking orders of this order"
        return report
    unsent = any(p.wms_status is None for p in parts)
    if binding.applied_status is None and (binding.state != "forwarded" or unsent):
        # Until every part is in the warehouse the order has not gone: a status of the parts that went would say
        # more than is true (delivered while a part waits for stock), and forward-only would then hide the rest.
        report.why = f"not every picking order is in the warehouse yet (the order is {binding.state})"
        return report
    # Gone before, and an edit's replacement is on its way: it counts as NEW, so the order's status holds (never
    # back), while the parts that stayed keep their tracking flowing.
    statuses = [InflowStatus(p.wms_status) if p.wms_status else InflowStatus.NEW for p in parts]
    report.aggregate = order_status.aggregate(statuses)
    applied = InflowStatus(binding.applied_status) if binding.applied_status else None
    if reapply and report.aggregate is not None:
        # Never back: a replacement counts as NEW, while the order's status stands for the step applied.
        standing: InflowStatus | None = order_status.further(report.aggregate, applied)
        decision = order_status.decide(standing, None, None, mapping)
    else:
        standing = report.aggregate  # the step the status stands for
        decision = order_status.decide(report.aggregate, applied, None, mapping)
    report.why = decision.why

    # Shipments first, then the status: the status write's answer then tells whether anyone but the service
    # saved the order meanwhile (its version counts every save).
    def write(shipment_id: int, tracking: str, shipped: bool) -> bool:
        def once(deduct: bool) -> bool:
            return write_shipment(
                engine,
                shop,
                connection_id,
                order_id,
                shipment_id=shipment_id,
                tracking=tracking,
                shipped=deduct,
                clock=clock,
            )

        try:
            return once(shipped)
        except ShipmentRefused as refused:
            if not shipped:
                raise
            # Nothing was written: the deduction waits for a person, told at once (in its own transaction, so a
            # failure of what follows cannot lose it); the tracking still goes.
            report.refused[shipment_id] = refused.why
            report.held.add(shipment_id)
            with engine.begin() as conn:
                raise_incident(
                    conn,
                    connection_id,
                    order_id,
                    kind=Kind.DEDUCT_REFUSED,
                    subject=str(shipment_id),
                    detail={"shipment": shipment_id, "why": refused.why},
                    now=clock.now(),
                )
            return once(False)

    # A replacement still waiting for its predecessor's cancel carries lines too: its shipment is not shipped yet.
    carrying = parts + [p for p in every if p.state == "waiting"]
    report.held |= refused_before
    marking_saves = 0
    if marking is not None:
        settled = settle_marking(
            engine,
            marking,
            connection_id,
            order_id,
            carrying,
            group_names=group_names if group_names is not None else DEFAULT_GROUP_NAMES,
            clock=clock,
        )
        report.held |= settled.held
        marking_saves = settled.saves
        _ask_for_codes(engine, connection_id, order_id, carrying, settled.by_hand_shipments, clock=clock)
    shipments = _shipments(carrying, report, binding.shipments_written or {}, write=write)
    status_version = None
    if returned and decision.write is not None:
        # Goods came back: the order's status is the return's ([orders] returned_status), never written over.
        report.why = "goods of this order came back: its status is the return's"
    elif decision.write is not None and standing is not None:
        # The service may overwrite what it set itself (the statuses of earlier steps) and the statuses orders
        # are forwarded from; anything else was set by a person, and stays.
        ours = order_status.set_by_service(mapping, standing)
        written = write_status(
            engine,
            shop,
            connection_id,
            order_id,
            status=decision.write,
            allowed_from=ours | set(forwarded_from),
            clock=clock,
        )
        report.outcome = written.outcome
        report.written = decision.write if report.outcome == "changed" else None
        status_version = written.version if report.written else None
    seen = edits.seen_after_own_writes(
        binding.seen_version,
        shipment_writes=len(report.shipments) + marking_saves,
        status_version=status_version,
    )
    # Cancelled in the warehouse by the warehouse: not a part the service itself is cancelling (an edit, a way out),
    # whose cancellation the feed may report before the service records it.
    by_service = any(p.state == "cancelling" for p in every) or binding.state == "cancelling"
    with engine.begin() as conn:
        now = clock.now()
        if report.aggregate is not InflowStatus.CANCELLED and not by_service:
            _warehouse_cancelled_parts(conn, connection_id, order_id, parts, now=now)
        if seen is not None:
            store.set_seen_version(conn, connection_id, order_id, seen, now=now)
        if report.shipments:
            store.set_shipments_written(conn, connection_id, order_id, shipments, now=now)
        if decision.record is not None and report.outcome != "refused":
            store.set_applied_status(conn, connection_id, order_id, decision.record.value, now=now)
        if report.outcome == "refused":
            detail = {
                "wanted": decision.write,
                "aggregate": str(report.aggregate),
                "why": "the order's status changed in the shop",
            }
            raise_incident(
                conn,
                connection_id,
                order_id,
                kind=Kind.STATUS_REFUSED,
                subject=str(decision.write),
                detail=detail,
                now=now,
            )
        if report.written or report.shipments or report.outcome == "refused":
            detail2: dict[str, object] = {
                "status": report.written,
                "outcome": report.outcome,
                "shipments": {str(k): v for k, v in report.shipments.items()},
            }
            store.add_timeline(
                conn, connection_id, order_id, source="service", kind="applied", detail=detail2, now=now
            )
    if report.aggregate is InflowStatus.CANCELLED and binding.state != "cancelled" and not by_service:
        report.cancel = _cancel_in_shop(engine, shop, connection_id, order_id, clock=clock)
    log.info("orders.applied", order_id=order_id, aggregate=str(report.aggregate), written=report.written)
    return report


def _warehouse_cancelled_parts(
    conn: Connection, connection_id: str, order_id: int, parts: Collection[store.Part], *, now: dt.datetime
) -> None:
    """Never a silent partial order: a picking order the warehouse cancelled by itself while others of the order go
    on leaves its lines unshipped in the shop's order (still reserved, its shipment never deducted). One incident
    per picking order tells the manager, who removes the lines, sends them again or cancels the order."""
    for part in parts:
        if part.state != "accepted" or part.wms_status != InflowStatus.CANCELLED.value:
            continue
        detail: dict[str, object] = {
            "ref": part.external_ref,
            "wms_order_id": part.wms_order_id,
            "lines": [{"basket_id": ln.basket_id, "sku": ln.sku, "qty": ln.qty} for ln in part.lines],
            "why": "the warehouse cancelled this picking order; the order's other picking orders go on",
        }
        raise_incident(
            conn,
            connection_id,
            order_id,
            kind=Kind.CANCELLED_IN_WMS,
            subject=part.external_ref,
            detail=detail,
            now=now,
        )


def _cancel_in_shop(
    engine: Engine, shop: OrdersShop, connection_id: str, order_id: int, *, clock: Clock
) -> str | None:
    """The warehouse cancelled every picking order: the shop's order is cancelled too (the flag, which releases its
    reservations; the mapped status alone cancels nothing). A refusal (a paid payment, a shipped shipment) is an
    incident, asked once: its existence stops every later attempt, so there is never a retry loop."""
    with engine.connect() as conn:
        known = incidents.of_order(conn, connection_id, order_id)
    if any(i.state == "resolving" for i in known):
        return None  # a way out the service carries out is cancelling it: not the warehouse's own decision
    if any(i.kind == Kind.SHOP_CANCEL_REFUSED for i in known):
        return "refused"
    with own_write(engine, connection_id, order_id, STATUS_WRITE_ECHOES, clock=clock) as done:
        answer = shop.cancel(order_id, reason=WAREHOUSE_CANCELLED)
        done[0] = answer.outcome == "cancelled"
    with engine.begin() as conn:
        now = clock.now()
        if answer.outcome == "refused":
            detail = {
                "why": answer.why,
                "wanted": "cancel the order: the warehouse cancelled its picking orders",
            }
            raise_incident(
                conn,
                connection_id,
                order_id,
                kind=Kind.SHOP_CANCEL_REFUSED,
                subject="",
                detail=detail,
                now=now,
            )
        else:
            store.save_binding(
                conn, connection_id, order_id, state="cancelled", reason=WAREHOUSE_CANCELLED, now=now
            )
            # A part cancelled before the rest was: the whole order is cancelled now, nobody needs to decide.
            incidents.settle(
                conn,
                connection_id,
                order_id,
                kind=Kind.CANCELLED_IN_WMS,
                why="the warehouse cancelled every picking order",
                now=now,
            )
        store.add_timeline(
            conn,
            connection_id,
            order_id,
            source="service",
            kind="shop_cancel",
            detail={"outcome": answer.outcome, "why": answer.why},
            now=now,
        )
    return answer.outcome


def _ask_for_codes(
    engine: Engine,
    connection_id: str,
    order_id: int,
    carrying: Collection[store.Part],
    by_hand: Collection[int],
    *,
    clock: Clock,
) -> None:
    """A shipment held only for its codes to be entered by hand, once every picking order carrying it has left the
    warehouse: the manager is asked (one incident per shipment), not before (it would be deducted half shipped)."""
    shipped = {s.value for s in _SHIPPED}
    for shipment_id in sorted(by_hand):
        with_it = [p for p in carrying if any(line.shipment_id == shipment_id for line in p.lines)]
        if with_it and all(p.wms_status in shipped for p in with_it):
            tell_by_hand(engine, connection_id, order_id, shipment_id, with_it, clock=clock)


def _shipments(
    parts: Collection[store.Part],
    report: ApplyReport,
    written: Mapping[str, Any],
    *,
    write: Callable[[int, str, bool], bool],
) -> dict[str, list[object]]:
    """Each shipment's tracking: the numbers of its parts in part order (never fewer than before); shipped once
    every part carrying its lines has left the warehouse. Only what changed since the service's last write is
    written; the map of what the shipments now carry is returned for the binding."""
    now_written = {key: list(value) for key, value in written.items()}
    by_shipment: dict[int, list[store.Part]] = {}
    for part in sorted(parts, key=lambda p: (p.generation, p.part_no)):
        for shipment_id in dict.fromkeys(line.shipment_id for line in part.lines):
            by_shipment.setdefault(shipment_id, []).append(part)
    for shipment_id, carrying in sorted(by_shipment.items()):
        numbers = [p.tracking_number for p in carrying if p.tracking_number]
        if not numbers:
            continue
        shipped = shipment_id not in report.held and all(
            p.wms_status in {s.value for s in _SHIPPED} for p in carrying
        )
        tracking = ", ".join(dict.fromkeys(numbers))
        if now_written.get(str(shipment_id)) == [tracking, shipped]:
            continue
        if write(shipment_id, tracking, shipped):
            report.shipments[shipment_id] = tracking
            now_written[str(shipment_id)] = [tracking, shipped and shipment_id not in report.held]
    return now_written

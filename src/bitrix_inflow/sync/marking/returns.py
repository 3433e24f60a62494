"""Returns: goods a customer sent back, read from the warehouse's returns feed (one page per transaction, its cursor
moved in the same transaction, so a return is taken exactly once).

For each return of a picking order the service sent: the returned marked units go to state ``returned`` in the
ledger (so they may be sold again, and the audit shows where each unit is); the manager is told through an
incident (once, by the incident's own machinery); the order gets ``[orders] returned_status`` when one is set (a
job, under the order's lock like every status write); restocked units reach the shop through the stock sync, hinted
at once for the returned SKUs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Connection, Engine

from bitrix_inflow.adapters.inflow import InflowPort, ReturnReceived, ReturnsPage
from bitrix_inflow.domain import marking, order_status
from bitrix_inflow.domain.incidents import Kind
from bitrix_inflow.domain.status_mapping import StatusMapping
from bitrix_inflow.domain.vocabulary import InflowStatus
from bitrix_inflow.jobs import queue
from bitrix_inflow.store import marking as ledger
from bitrix_inflow.store import orders as store
from bitrix_inflow.sync import feed
from bitrix_inflow.sync.incidents.inbox import raise_incident
from bitrix_inflow.sync.orders.notice import order_lock_key, write_status
from bitrix_inflow.sync.orders.shop import OrdersShop
from bitrix_inflow.sync.stock import jobs as stock_jobs
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.sync.marking")

RETURNS_CURSOR = "inflow.returns"
RETURNED_KIND = "marking.returned"


@dataclass
class ReturnsReport:
    pages: int = 0
    taken: list[str] = field(default_factory=list)  # return ids
    units_returned: int = 0  # ledger units moved to ``returned``
    unknown: int = 0  # returns of picking orders the service did not send


def read_returns(
    engine: Engine, wms: InflowPort, *, clock: Clock, connection_id: str = "default"
) -> ReturnsReport:
    report = ReturnsReport()

    def take_page(conn: Connection, page: ReturnsPage) -> None:
        for received in page.returns:
            _take(conn, connection_id, received, now=clock.now(), report=report)

    report.pages = feed.walk(engine, connection_id, RETURNS_CURSOR, wms.returns_page, take_page, clock=clock)
    return report


def _identity(raw: str) -> str | None:
    for group in marking.Group:
        try:
            return marking.parse(raw, group).identity
        except marking.MarkingError:
            continue
    return None


def _take(
    conn: Connection, connection_id: str, received: ReturnReceived, *, now: dt.datetime, report: ReturnsReport
) -> None:
    part = store.part_by_wms_id(conn, connection_id, received.order_id)
    if part is None:
        report.unknown += 1
        return
    order_id = part.bitrix_order_id
    codes = [code for line in received.lines for code in line.marking_codes]
    identities = {identity for identity in map(_identity, codes) if identity is not None}
    moved = (
        ledger.move(conn, connection_id, identities, state="returned", now=now, order_id=order_id)
        if identities
        else 0
    )
    report.units_returned += moved
    lines = [
        {"sku": line.sku, "qty": line.qty, "disposition": line.disposition, "codes": len(line.marking_codes)}
        for line in received.lines
    ]
    detail: dict[str, object] = {
        "ref": received.external_ref,
        "return_id": received.id,
        "sku": ", ".join(sorted({line.sku for line in received.lines})),
        "lines": lines,
        "returned_units": moved,
        "why": "; ".join(f"{ln['sku']}: {ln['qty']} back, {ln['disposition']}" for ln in lines),
    }
    if len(identities) != moved:
        detail["not_in_ledger"] = len(identities) - moved
    raise_incident(
        conn, connection_id, order_id, kind=Kind.RETURN_RECEIVED, subject=received.id, detail=detail, now=now
    )
    store.add_timeline(
        conn, connection_id, order_id, source="inflow", kind="returned", detail=detail, now=now
    )
    queue.enqueue_coalesced(
        conn,
        RETURNED_KIND,
        {"order_id": order_id},
        key=f"{RETURNED_KIND}:{connection_id}:{order_id}",
        now=now,
        connection_id=connection_id,
        lock_key=order_lock_key(connection_id, order_id),
    )
    restocked = sorted({line.sku for line in received.lines if line.disposition == "restock"})
    if restocked:
        stock_jobs.hint(conn, received.warehouse, restocked, now=now, connection_id=connection_id)
    report.taken.append(received.id)
    log.info("marking.return_taken", order_id=order_id, return_id=received.id, units=moved)


def mark_returned(
    engine: Engine,
    shop: OrdersShop,
    mapping: StatusMapping,
    order_id: int,
    *,
    status: str,
    clock: Clock,
    connection_id: str = "default",
) -> str:
    """The order's status to ``status`` (goods came back), by compare-and-set from a status the service itself set:
    one a person chose meanwhile stands. The outcome: changed | already_set | refused."""
    delivered = mapping.entries.get(InflowStatus.DELIVERED.value)
    ours = order_status.set_by_service(mapping, InflowStatus.DELIVERED) | (
        {delivered} if delivered else set()
    )
    written = write_status(
        engine, shop, connection_id, order_id, status=status, allowed_from=ours | {status}, clock=clock
    )
    with engine.begin() as conn:
        store.add_timeline(
            conn,
            connection_id,
            order_id,
            source="service",
            kind="returned_status",
            detail={"status": status, "outcome": written.outcome},
            now=clock.now(),
        )
    return written.outcome

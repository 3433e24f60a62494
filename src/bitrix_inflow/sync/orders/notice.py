"""Noticing orders: one poll of the shop (new ids, and updates since the watermark with an overlap window), then,
in one transaction, a binding for each new order, a forwarding job for each order that still has to go, and the
watermark. A crash before the commit repeats the poll; after it, the jobs exist and the watermark has moved.

An order already forwarded is checked for an edit when someone else changed it: the shop counts every save of an
order in its ``version``, and the binding keeps the version the service has accounted for (what it planned from,
plus its own writes). The service's own status and tracking writes therefore start no new round; another version
queues one forwarding run, which compares the order's plan inputs and carries out (or records) the edit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Connection, Engine

from bitrix_inflow.jobs import queue
from bitrix_inflow.store import incidents
from bitrix_inflow.store import orders as store
from bitrix_inflow.sync.orders.edit import EDIT_BLOCKED
from bitrix_inflow.sync.orders.read_ahead import READ_AHEAD
from bitrix_inflow.sync.orders.shop import OrdersShop, StatusWant, StatusWrite, StatusWrites, Watermark
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.sync.orders")

FORWARD_KIND = "orders.forward"
NOTICE_KIND = "orders.notice"
POLL_LOCK = "orders:notice"  # one poll of a shop at a time, scheduled or rung for (made per tenant)
# The shop's events about one write of the service: an order's save sends ONSALEORDERSAVED; a shipment's save sends
# ONSHIPMENTENTITYSAVED and saves its order.
STATUS_WRITE_ECHOES = 1
SHIPMENT_WRITE_ECHOES = 2
CURSOR = "bitrix.orders"
WAITING = ("seen", "ineligible", "blocked", "planned")  # a change may let these go, or they are on their way
SWEPT = (
    "seen",
    "planned",
    "blocked",
    "cancelling",
)  # retried on a schedule: stock may have come, a link may have been fixed, the warehouse may be back


@dataclass
class NoticeReport:
    seen: int = 0
    queued: list[int] = field(default_factory=list)
    # Final, or forwarded and unchanged since the service accounted for them (its own writes included).
    left_alone: list[int] = field(default_factory=list)
    complete: bool = True


def forward_job_key(connection_id: str, order_id: int) -> str:
    return f"{FORWARD_KIND}:{connection_id}:{order_id}"


def order_lock_key(connection_id: str, order_id: int) -> str:
    return f"order:{connection_id}:{order_id}"


def notice_orders(
    engine: Engine, shop: OrdersShop, *, clock: Clock, connection_id: str = "default", max_pages: int = 20
) -> NoticeReport:
    with engine.connect() as conn:
        since = load_watermark(conn, connection_id)
    changes = shop.changed_orders(since, max_pages=max_pages)
    report = NoticeReport(seen=len(changes.ids), complete=changes.complete)
    with engine.begin() as conn:
        now = clock.now()
        for order_id in changes.ids:
            binding = store.load_binding(conn, connection_id, order_id)
            polled = changes.versions.get(order_id)
            if binding is None:
                store.save_binding(conn, connection_id, order_id, state="seen", now=now)
            if polled is not None:
                # Any process's copy of the order read ahead before this version is not used (read_ahead).
                store.set_polled_version(conn, connection_id, order_id, polled, now=now)
            unchanged = polled is not None and binding is not None and polled == binding.seen_version
            if unchanged and binding is not None and binding.state == "forwarded":
                report.left_alone.append(order_id)  # the service's own write, or a change already checked
                continue
            if binding is not None and binding.state not in ("forwarded", *WAITING):
                report.left_alone.append(order_id)
                continue
            queue_forward(conn, connection_id, order_id, now=now)
            report.queued.append(order_id)
        store.save_cursor(conn, connection_id, CURSOR, _stored(changes.watermark), now=now)
        if not changes.complete:
            # More than one call reads: the poll goes on at once, from where this one stopped.
            queue_poll(conn, connection_id, now=now, hinted=None)
    log.info("orders.noticed", seen=report.seen, queued=len(report.queued), left_alone=len(report.left_alone))
    return report


def queue_forward(conn: Connection, connection_id: str, order_id: int, *, now: dt.datetime) -> None:
    """A forwarding run for the order, in the caller's transaction. Coalesced: it joins a run still waiting, and
    a run already under way (which read the order before this change) gets one follow-up after it. A copy of the
    order read ahead is dropped: the run reads it afresh."""
    READ_AHEAD.forget(connection_id, order_id)
    queue.enqueue_coalesced(
        conn,
        FORWARD_KIND,
        {"order_id": order_id},
        key=forward_job_key(connection_id, order_id),
        now=now,
        connection_id=connection_id,
        lock_key=order_lock_key(connection_id, order_id),
    )


def sweep_waiting(
    engine: Engine, *, clock: Clock, connection_id: str = "default", limit: int = 500
) -> list[int]:
    """Orders on their way that nothing in the shop will move again: a part the warehouse was short of, a part
    left ``sending`` by a run that gave up, an edit half carried out, a product link fixed since. Each gets a
    forwarding run; the run decides, so a sweep can never send anything twice."""
    with engine.begin() as conn:
        now = clock.now()
        waiting = store.bindings_in(conn, connection_id, SWEPT, limit=limit)
        # Forwarded orders whose edit could not be planned (a product without a SKU link): checked again.
        waiting += incidents.orders_with_open(conn, connection_id, EDIT_BLOCKED, limit=limit)
        for order_id in waiting:
            queue_forward(conn, connection_id, order_id, now=now)
            store.touch_binding(conn, connection_id, order_id, now=now)  # the next sweep starts with others
    if waiting:
        log.info("orders.swept", queued=len(waiting))
    return waiting


@contextmanager
def own_write(
    engine: Engine, connection_id: str, order_id: int, echoes: int, *, clock: Clock
) -> Iterator[list[bool]]:
    """Around one write of the service to the shop: its echoes are announced *before* the write (the shop's event
    may arrive before the write's answer), and taken back when the body says nothing was written (``done[0]``
    stays False) or fails. A write that happened and whose echo never comes leaves one expectation behind, which
    swallows one later event at most: the periodic poll still sees that change."""
    with engine.begin() as conn:
        store.expect_echoes(conn, connection_id, order_id, echoes, now=clock.now())
    done = [False]
    try:
        yield done
    finally:
        if not done[0]:
            with engine.begin() as conn:
                for _ in range(echoes):
                    store.consume_echo(conn, connection_id, order_id)


def write_status(
    engine: Engine,
    shop: OrdersShop,
    connection_id: str,
    order_id: int,
    *,
    status: str,
    allowed_from: Collection[str],
    clock: Clock,
) -> StatusWrite:
    """The service's own compare-and-set of an order's status, its echo announced first."""
    with own_write(engine, connection_id, order_id, STATUS_WRITE_ECHOES, clock=clock) as done:
        write = shop.set_status(order_id, status, allowed_from=allowed_from)
        done[0] = write.outcome == "changed"
    return write


def write_statuses(
    engine: Engine,
    shop: OrdersShop,
    connection_id: str,
    wants: Sequence[StatusWant],
    *,
    also_read: Sequence[int],
    clock: Clock,
) -> StatusWrites:
    """``write_status`` for many orders in one batch (their echoes announced first, in one transaction); the
    batch's spare room reads ``also_read`` orders ahead."""
    with engine.begin() as conn:
        for want in wants:
            store.expect_echoes(conn, connection_id, want.order_id, STATUS_WRITE_ECHOES, now=clock.now())
    done: StatusWrites | None = None
    try:
        done = shop.set_statuses(wants, also_read=also_read)
        return done
    finally:
        unwritten = [
            w.order_id
            for w in wants
            if done is None or getattr(done.written.get(w.order_id), "outcome", None) != "changed"
        ]
        if unwritten:
            with engine.begin() as conn:
                for order_id in unwritten:
                    for _ in range(STATUS_WRITE_ECHOES):
                        store.consume_echo(conn, connection_id, order_id)


def write_shipment(
    engine: Engine,
    shop: OrdersShop,
    connection_id: str,
    order_id: int,
    *,
    shipment_id: int,
    tracking: str,
    shipped: bool,
    clock: Clock,
) -> bool:
    """The service's own write of a shipment's tracking (and shipped), its echoes announced first."""
    with own_write(engine, connection_id, order_id, SHIPMENT_WRITE_ECHOES, clock=clock) as done:
        done[0] = shop.update_shipment(shipment_id, tracking_number=tracking, shipped=shipped)
    return done[0]


def hint_order(conn: Connection, connection_id: str, order_id: int, *, now: dt.datetime) -> bool:
    """A shop event about an order, in the caller's transaction: the echo of the service's own write is spent
    and starts nothing; anything else queues an early poll (coalesced: one waits, however many events come). The
    event is only a doorbell: the poll reads what changed. True when a poll was queued."""
    if store.consume_echo(conn, connection_id, order_id):
        return False
    queue_poll(conn, connection_id, now=now, hinted=order_id)
    return True


def queue_poll(conn: Connection, connection_id: str, *, now: dt.datetime, hinted: int | None) -> None:
    """An early poll of the shop, in the caller's transaction; coalesced with one already waiting."""
    queue.enqueue_coalesced(
        conn,
        NOTICE_KIND,
        {"hinted": hinted},
        key=f"{NOTICE_KIND}:{connection_id}",
        now=now,
        connection_id=connection_id,
        lock_key=queue.per_connection(POLL_LOCK, connection_id),
        priority=10,  # a customer just ordered, or the poll has more to read
    )


def hint_shipment(conn: Connection, connection_id: str, shipment_id: int, *, now: dt.datetime) -> bool:
    """A shop event about a shipment (it carries only the shipment's id): of an order the service forwarded, it
    counts for that order; a shipment of an order not forwarded yet has its own order event."""
    order_id = store.order_of_shipment(conn, connection_id, shipment_id)
    return False if order_id is None else hint_order(conn, connection_id, order_id, now=now)


def load_watermark(conn: Connection, connection_id: str) -> Watermark:
    """Where the next poll of the shop starts (nothing stored: from the first order)."""
    value = store.load_cursor(conn, connection_id, CURSOR)
    if not value:
        return Watermark()
    updated = value.get("updated_at")
    last_id, resume_id = value.get("last_id", 0), value.get("resume_id", 0)
    return Watermark(
        last_id=int(last_id) if isinstance(last_id, int) else 0,
        # Kept with the shop's own offset: a date filter is sent back as the shop wrote it.
        updated_at=dt.datetime.fromisoformat(updated) if isinstance(updated, str) else None,
        resume_id=int(resume_id) if isinstance(resume_id, int) else 0,
    )


def _stored(mark: Watermark) -> dict[str, object]:
    return {
        "last_id": mark.last_id,
        "updated_at": mark.updated_at.isoformat() if mark.updated_at else None,
        "resume_id": mark.resume_id,
    }

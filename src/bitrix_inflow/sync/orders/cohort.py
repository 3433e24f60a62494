"""Forwarding a cohort of orders in one pass: the shop is asked as little as the work allows.

Per cohort the shop sees one read of every order not read ahead (50 to a ``batch``), then one compare-and-set
batch for the statuses the forwarded ones are owed (one list checks up to 49, one ``batch`` writes them). Both
batches have room to spare, which reads the next orders waiting to be forwarded (``read_ahead``), so the next
cohort's read is usually done already: per cohort of 49, two requests carry its 98 commands and the check.
Each order still goes through ``forward_order`` with its own steps and commits; what fails for one order fails
only that order's job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog
from sqlalchemy import Engine

from bitrix_inflow.adapters.inflow import InflowPort
from bitrix_inflow.errors import LeaseLostError, TransientError
from bitrix_inflow.store import orders as store
from bitrix_inflow.store.engine import reading
from bitrix_inflow.sync.orders.forward import (
    ForwardOptions,
    ForwardReport,
    PendingStatus,
    finish_many,
    forward_order,
)
from bitrix_inflow.sync.orders.notice import write_statuses
from bitrix_inflow.sync.orders.read_ahead import READ_AHEAD
from bitrix_inflow.sync.orders.shop import (
    ORDERS_AT_ONCE,
    WRITES_AT_ONCE,
    OrdersShop,
    ShopOrder,
    StatusWrite,
    read_room,
)
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.sync.orders")

# Orders in a row the warehouse or the shop failed with a passing error: the rest of the cohort is not tried
# (each would wait out the same outage) and fails with it, to be retried on its job's backoff.
OUTAGE_AFTER = 3

Outcome = ForwardReport | Exception


def forward_cohort(
    engine: Engine,
    wms: InflowPort,
    shop: OrdersShop,
    options: ForwardOptions,
    order_ids: Sequence[int],
    *,
    clock: Clock,
    connection_id: str = "default",
    next_waiting: Callable[[int, set[int]], list[int]] | None = None,
    lost: Callable[[int], bool] | None = None,
) -> dict[int, Outcome]:
    """Forward ``order_ids``; each order's report or the error that stopped it. ``next_waiting(n, skip)``: up to
    ``n`` more orders waiting to be forwarded (not in ``skip``), to read ahead in the status batch's spare room.
    ``lost(order_id)``: the order's job is no longer this run's (its lease ran out): it is left to its new owner."""
    read = _still_current(engine, connection_id, READ_AHEAD.take(connection_id, order_ids))
    unread = [i for i in order_ids if i not in read]
    for start in range(0, len(unread), ORDERS_AT_ONCE):
        # One that cannot be read is left out: its own run reads it again and says why.
        read.update(shop.orders(unread[start : start + ORDERS_AT_ONCE]))
    results: dict[int, Outcome] = {}
    failing = 0
    for order_id in order_ids:
        if failing >= OUTAGE_AFTER:
            results[order_id] = TransientError(
                f"not tried: the {failing} orders before it failed the same way"
            )
            continue
        if lost is not None and lost(order_id):
            results[order_id] = LeaseLostError(
                f"order {order_id}: its job was taken over; not forwarded here"
            )
            continue
        try:
            results[order_id] = forward_order(
                engine,
                wms,
                shop,
                options,
                order_id,
                clock=clock,
                connection_id=connection_id,
                order=read.get(order_id),
                defer_status=True,
            )
            failing = 0
        except Exception as error:  # this order's job records it (retry or dead); the others go on
            results[order_id] = error
            failing = failing + 1 if isinstance(error, TransientError) else 0
    pending = [r.pending for r in results.values() if isinstance(r, ForwardReport) and r.pending is not None]
    for start in range(0, len(pending), WRITES_AT_ONCE):
        _write(
            engine,
            shop,
            pending[start : start + WRITES_AT_ONCE],
            results,
            order_ids,
            clock=clock,
            connection_id=connection_id,
            next_waiting=next_waiting,
        )
    return results


def _write(
    engine: Engine,
    shop: OrdersShop,
    pending: Sequence[PendingStatus],
    results: dict[int, Outcome],
    cohort: Sequence[int],
    *,
    clock: Clock,
    connection_id: str,
    next_waiting: Callable[[int, set[int]], list[int]] | None,
) -> None:
    room = read_room(len(pending))
    ahead: list[int] = []
    if next_waiting is not None and room > 0:
        try:
            ahead = next_waiting(room, set(cohort) | READ_AHEAD.holds(connection_id))[:room]
        except Exception as error:  # reading ahead is a saving: without it the writes go all the same
            log.warning("orders.read_ahead_skipped", error=str(error))
    started = READ_AHEAD.started()
    wants = [p.want for p in pending if p.want is not None]
    try:
        done = write_statuses(engine, shop, connection_id, wants, also_read=ahead, clock=clock)
    except Exception as error:
        # Parts accepted, status not written: each order's job runs again and writes it (never a second part).
        for p in pending:
            results[p.order_id] = error
        return
    READ_AHEAD.keep(connection_id, done.read, read_at=started)
    answered: list[tuple[PendingStatus, StatusWrite]] = []
    for p in pending:
        written = done.written.get(p.order_id)
        if isinstance(written, StatusWrite) and isinstance(results[p.order_id], ForwardReport):
            answered.append((p, written))
        else:
            results[p.order_id] = written if isinstance(written, Exception) else TransientError("no answer")
    # Written in the shop; recorded here together (an order whose record fails is recorded by its next run).
    for order_id, status in finish_many(engine, connection_id, answered, clock=clock).items():
        report = results[order_id]
        if isinstance(status, Exception):
            results[order_id] = status
        elif isinstance(report, ForwardReport):
            report.status_written, report.pending = status, None
    log.info("orders.cohort_statuses", written=len(wants), read_ahead=len(done.read))


def _still_current(engine: Engine, connection_id: str, held: dict[int, ShopOrder]) -> dict[int, ShopOrder]:
    """The copies read ahead that no poll has since seen a newer version of (in any process); the others are read
    again. A copy without a version cannot be checked, and is not used."""
    if not held:
        return held
    with reading(engine).connect() as conn:
        polled = store.polled_versions(conn, connection_id, list(held))
    return {
        order_id: order
        for order_id, order in held.items()
        if order.version is not None and polled.get(order_id, order.version) <= order.version
    }

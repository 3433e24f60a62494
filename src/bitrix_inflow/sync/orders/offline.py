"""The shop's offline event queue as the order poll's doorbell, for shops that cannot post events to ``serve`` (a
firewall, no public address) or that lose them (an online event is never sent again).

A record says only that an order was saved, so, like a posted event, it queues an early poll (coalesced), and the
poll stays the truth. Records are read reserved (``clear=0``) and cleared after the poll is queued; the
reservation's id is stored in the transaction that queues the poll, so a reader killed before clearing re-reads the
same records next time and queues the same coalesced poll: nothing is lost and nothing starts twice.

The service's own writes: where the plan keeps writes that carry the service's ``auth_connector`` out of its queue
(``rest_auth_connector``) every record is someone else's change. Elsewhere the writes' announced echoes are spent;
the queue merges an order's saves into one record, so a record spends all of them, and a customer's change merged
with one of the service's writes waits for the next scheduled poll.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Engine

from bitrix_inflow.store import orders as store
from bitrix_inflow.sync.orders.notice import queue_poll
from bitrix_inflow.sync.orders.shop import OfflineQueue, QueueFeatures
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.sync.orders")

EVENTS_KIND = "orders.events"
CURSOR = "bitrix.offline_queue"
# An application's bindings go when it is updated or reinstalled (event-bind.md): checked again this often.
RECHECK = dt.timedelta(hours=1)


@dataclass
class OfflineReport:
    records: int = 0
    polls_queued: int = 0
    own_writes: int = 0
    pages: int = 0
    bound_now: bool = False


def read_offline_events(
    engine: Engine, queue: OfflineQueue, *, clock: Clock, connection_id: str = "default", max_pages: int = 20
) -> OfflineReport:
    report = OfflineReport()
    with engine.connect() as conn:
        stored = store.load_cursor(conn, connection_id, CURSOR) or {}
    features, state = _checked(queue, stored, clock.now(), report)
    if state is not stored:
        _save(engine, connection_id, state, clock)
    pending = state.get("process_id") or None
    for _ in range(max_pages):
        page = queue.take(str(pending) if pending else None, reserve=features.reserve)
        report.pages += 1
        report.records += len(page.orders)
        if page.records:
            with engine.begin() as conn:
                now = clock.now()
                for order_id in page.orders:
                    mine = not features.own_writes_kept_out and order_id is not None
                    if mine and store.spend_echoes(conn, connection_id, order_id or 0):
                        report.own_writes += 1
                        continue
                    queue_poll(conn, connection_id, now=now, hinted=order_id)
                    report.polls_queued += 1
                state = {**state, "process_id": page.process_id}
                store.save_cursor(conn, connection_id, CURSOR, state, now=now)
        if page.process_id and page.records:
            queue.clear(page.process_id)
        if state.get("process_id"):
            state = {**state, "process_id": None}
            _save(engine, connection_id, state, clock)
        if pending:  # a reservation re-read (after a kill): the queue itself is read next
            pending = None
            continue
        if not page.full:
            break
    if report.records or report.bound_now:
        log.info(
            "orders.offline_events",
            records=report.records,
            polls_queued=report.polls_queued,
            own_writes=report.own_writes,
            bound_now=report.bound_now,
        )
    return report


def _save(engine: Engine, connection_id: str, state: dict[str, Any], clock: Clock) -> None:
    with engine.begin() as conn:
        store.save_cursor(conn, connection_id, CURSOR, state, now=clock.now())


def _checked(
    queue: OfflineQueue, state: dict[str, Any], now: dt.datetime, report: OfflineReport
) -> tuple[QueueFeatures, dict[str, Any]]:
    """The binding made and the plan's features read, at most once per ``RECHECK`` (kept with the cursor, so
    every instance and restart shares it)."""
    checked_at = state.get("checked_at")
    if isinstance(checked_at, str) and now - dt.datetime.fromisoformat(checked_at) < RECHECK:
        return QueueFeatures(
            reserve=bool(state.get("reserve")), own_writes_kept_out=bool(state.get("own_writes_kept_out"))
        ), state
    features = queue.features()
    report.bound_now = queue.bind()
    fresh = {
        **state,
        "checked_at": now.isoformat(),
        "reserve": features.reserve,
        "own_writes_kept_out": features.own_writes_kept_out,
    }
    return features, fresh

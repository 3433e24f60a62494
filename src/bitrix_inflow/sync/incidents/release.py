"""A picking error lets go of the failed lines' reservation in the shop at once (through the companion module): the
units the warehouse could not pick stop being held for this order, and the shop's stock is read again from the
warehouse right after (the picking error's stock hint), so nobody buys what is not there and nothing stays held
for goods that will not come. The lines stay in the order until a person chooses a way out.

Queued with the incident, once per picking order (its key), and harmless again: a line holding nothing releases 0.
A shop without the module (Bitrix24 cloud) cannot release one line: the timeline says so, the incident stands.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

import structlog
from sqlalchemy import Connection, Engine

from bitrix_inflow.jobs import queue
from bitrix_inflow.store import orders as store
from bitrix_inflow.sync.marking.shop import CodesRefused, MarkingShop
from bitrix_inflow.sync.orders.notice import STATUS_WRITE_ECHOES, order_lock_key, own_write
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.sync.incidents")

RELEASE_KIND = "incidents.release"


def queue_release(
    conn: Connection,
    connection_id: str,
    order_id: int,
    basket_ids: Sequence[int],
    *,
    ref: str,
    now: dt.datetime,
) -> None:
    queue.enqueue(
        conn,
        RELEASE_KIND,
        {"order_id": order_id, "basket_ids": sorted(set(basket_ids)), "ref": ref},
        now=now,
        connection_id=connection_id,
        dedupe_key=f"{RELEASE_KIND}:{connection_id}:{ref}",
        lock_key=order_lock_key(connection_id, order_id),
        priority=10,  # stock held for goods that will not come
    )


def release_reservations(
    engine: Engine,
    shop: MarkingShop,
    connection_id: str,
    order_id: int,
    basket_ids: Sequence[int],
    *,
    clock: Clock,
) -> dict[int, Decimal] | None:
    """Each line's released units (None: the shop cannot release one line)."""
    released: dict[int, Decimal] = {}
    try:
        for basket_id in basket_ids:
            # The module saves the order when it releases anything: its event is the service's own (no round).
            with own_write(engine, connection_id, order_id, STATUS_WRITE_ECHOES, clock=clock) as done:
                released[basket_id] = shop.release(basket_id)
                done[0] = released[basket_id] > 0
    except CodesRefused as exc:
        detail: dict[str, object] = {"basket_ids": list(basket_ids), "why": exc.why}
        kind = "reservation_kept"
        result = None
    else:
        detail = {"released": {str(k): str(v) for k, v in released.items()}}
        kind = "reservation_released"
        result = released
    with engine.begin() as conn:
        store.add_timeline(
            conn, connection_id, order_id, source="service", kind=kind, detail=detail, now=clock.now()
        )
    log.info("incidents.reservation", order_id=order_id, outcome=kind)
    return result

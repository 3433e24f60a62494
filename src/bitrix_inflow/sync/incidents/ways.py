"""Carrying out the way out a person chose for an incident (``incidents.carry_out``), idempotently: run twice, or
after a crash, it does the work once and records it once.

* **cancel**: the shop's order is cancelled (the flag, which releases its reservations; asking again answers
  "already"), then a forwarding run is queued, which cancels the order's open picking orders in the warehouse
  (``orders.cancel``). A shop that refuses (a paid payment, a shipped shipment) sends the incident back to ``open``
  with the reason in its trail: a person chooses again.
* **retry_when_stock**: the failed picking order is cancelled in the warehouse (nothing of it was picked; a
  warehouse that refuses sends the incident back to ``open``), and its lines become a replacement part under the
  order's next reference generation, waiting for stock (``short``): every forwarding run, and the sweep of orders on
  their way (``schedules.orders_retry_seconds``), sends it once the warehouse can reserve it. One run queued now.
* **dismiss** needs no work: it is resolved when chosen.
"""

from __future__ import annotations

from dataclasses import replace

import structlog
from sqlalchemy import Engine

from bitrix_inflow.adapters.inflow import InflowPort
from bitrix_inflow.domain import split
from bitrix_inflow.domain.incidents import WayOut
from bitrix_inflow.store import incidents as store
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.sync.orders.edit import cancel_recorded
from bitrix_inflow.sync.orders.notice import STATUS_WRITE_ECHOES, own_write, queue_forward
from bitrix_inflow.sync.orders.planning import OrderRun
from bitrix_inflow.sync.orders.shop import OrdersShop
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.sync.incidents")

CARRY_OUT_KIND = "incidents.carry_out"
CANCEL_REASON = "Cancelled after a picking error, as the manager chose"
RETRY_REASON = "Picking error: sent again as a new picking order once the stock is there"


def carry_out(engine: Engine, wms: InflowPort, shop: OrdersShop, incident_id: int, *, clock: Clock) -> str:
    """The chosen way out, done; what happened (``done``, ``refused``, or ``nothing`` when there was nothing to do)."""
    with engine.connect() as conn:
        incident = store.load(conn, incident_id)
    if incident is None or incident.state != "resolving" or not incident.resolution:
        return "nothing"
    way = str(incident.resolution.get("way_out"))
    if way == WayOut.RETRY_WHEN_STOCK:
        return _retry_when_stock(engine, wms, shop, incident, clock=clock)
    if way != WayOut.CANCEL:
        raise ValueError(f"incident {incident_id}: no carrying out for {way!r}")
    with own_write(
        engine, incident.connection_id, incident.order_id, STATUS_WRITE_ECHOES, clock=clock
    ) as done:
        answer = shop.cancel(incident.order_id, reason=CANCEL_REASON)
        done[0] = answer.outcome == "cancelled"
    with engine.begin() as conn:
        now = clock.now()
        if answer.outcome == "refused":
            store.reopen(conn, incident_id, why=f"the shop refused to cancel: {answer.why}", now=now)
            log.info("incidents.way_out_refused", incident_id=incident_id, way_out=way, why=answer.why)
            return "refused"
        # The order is cancelled in the shop: its forwarding run cancels the picking orders in the warehouse.
        queue_forward(conn, incident.connection_id, incident.order_id, now=now)
        resolution = {**dict(incident.resolution), "shop": answer.outcome}
        store.resolve(conn, incident_id, resolution=resolution, actor=store.SERVICE, now=now)
    log.info("incidents.way_out_done", incident_id=incident_id, way_out=way, shop=answer.outcome)
    return "done"


def _retry_when_stock(
    engine: Engine, wms: InflowPort, shop: OrdersShop, incident: store.Incident, *, clock: Clock
) -> str:
    connection_id, order_id = incident.connection_id, incident.order_id
    with engine.connect() as conn:
        parts = order_store.parts_of(conn, connection_id, order_id)
        binding = order_store.load_binding(conn, connection_id, order_id)
    failed = next((p for p in parts if p.external_ref == incident.subject), None)
    if failed is None or binding is None:
        with engine.begin() as conn:
            store.reopen(
                conn, incident.id, why=f"the service has no picking order {incident.subject}", now=clock.now()
            )
        return "refused"
    run = OrderRun(engine, connection_id, clock, shop.order(order_id))
    if failed.state == "accepted":
        with engine.begin() as conn:
            order_store.move_part(conn, failed.id, expected={"accepted"}, state="cancelling", now=clock.now())
        failed = replace(failed, state="cancelling")
    if failed.state == "cancelling" and not cancel_recorded(
        run, wms, failed, reason=RETRY_REASON, done="superseded"
    ):
        with engine.begin() as conn:
            store.reopen(
                conn,
                incident.id,
                why="the warehouse will not cancel the failed picking order",
                now=clock.now(),
            )
        return "refused"
    with engine.begin() as conn:
        now = clock.now()
        current = order_store.load_binding(conn, connection_id, order_id)
        replacement = next(
            (
                p
                for p in order_store.parts_of(conn, connection_id, order_id)
                if p.generation > failed.generation
                and p.part_no == failed.part_no
                and p.state in ("short", "planned", "sending", "accepted")
            ),
            None,
        )
        if replacement is None:  # (not made yet: a crash after the cancel repeats nothing but this)
            generation = (current.generation if current else failed.generation) + 1
            ref = split.external_ref(order_id, generation, failed.part_no)
            new = order_store.NewPart(
                failed.part_no,
                failed.warehouse,
                failed.zone,
                failed.carrier,
                ref,
                failed.lines,
                state="short",
            )
            order_store.plan_parts(conn, connection_id, order_id, generation, [new], now=now)
            order_store.save_binding(
                conn,
                connection_id,
                order_id,
                state="planned",
                generation=generation,
                reason="a picking order waits for stock after a picking error",
                now=now,
            )
        else:
            ref = replacement.external_ref
        queue_forward(conn, connection_id, order_id, now=now)
        resolution = {**dict(incident.resolution or {}), "replacement": ref}
        store.resolve(conn, incident.id, resolution=resolution, actor=store.SERVICE, now=now)
    log.info(
        "incidents.way_out_done", incident_id=incident.id, way_out=WayOut.RETRY_WHEN_STOCK, replacement=ref
    )
    return "done"

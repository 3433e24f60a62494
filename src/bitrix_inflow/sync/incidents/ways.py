"""Carrying out the way out a person chose for an incident (``incidents.carry_out``), idempotently: run twice, or
after a crash, it does the work once and records it once.

* **cancel**: the shop's order is cancelled (the flag, which releases its reservations; asking again answers
  "already"), then a forwarding run is queued, which cancels the order's open picking orders in the warehouse
  (``orders.cancel``). A shop that refuses (a paid payment, a shipped shipment) sends the incident back to ``open``
  with the reason in its trail: a person chooses again.
* **dismiss** needs no work: it is resolved when chosen.
"""

from __future__ import annotations

import structlog
from sqlalchemy import Engine

from bitrix_inflow.domain.incidents import WayOut
from bitrix_inflow.store import incidents as store
from bitrix_inflow.sync.orders.notice import STATUS_WRITE_ECHOES, own_write, queue_forward
from bitrix_inflow.sync.orders.shop import OrdersShop
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.sync.incidents")

CARRY_OUT_KIND = "incidents.carry_out"
CANCEL_REASON = "Cancelled after a picking error, as the manager chose"


def carry_out(engine: Engine, shop: OrdersShop, incident_id: int, *, clock: Clock) -> str:
    """The chosen way out, done; what happened (``done``, ``refused``, or ``nothing`` when there was nothing to do)."""
    with engine.connect() as conn:
        incident = store.load(conn, incident_id)
    if incident is None or incident.state != "resolving" or not incident.resolution:
        return "nothing"
    way = str(incident.resolution.get("way_out"))
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

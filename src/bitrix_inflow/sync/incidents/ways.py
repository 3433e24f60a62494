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
* **ship_rest**: the failed picking order is cancelled in the warehouse, its other lines go as a replacement under
  the next generation, and the failed SKU's lines are removed from the shop's order (their reservation released);
  the order's fingerprint is taken again, so the removal is not mistaken for an edit. Refused (the incident open
  again) when nothing would be left to ship.
* **dismiss** needs no work: it is resolved when chosen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import structlog
from sqlalchemy import Connection, Engine

from bitrix_inflow.adapters.inflow import InflowPort
from bitrix_inflow.domain import split
from bitrix_inflow.domain.incidents import WayOut
from bitrix_inflow.jobs import queue
from bitrix_inflow.store import incidents as store
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.sync.orders.edit import cancel_recorded
from bitrix_inflow.sync.orders.notice import STATUS_WRITE_ECHOES, order_lock_key, own_write, queue_forward
from bitrix_inflow.sync.orders.planning import OrderRun, fingerprint_of
from bitrix_inflow.sync.orders.shop import OrdersShop
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.sync.incidents")

CARRY_OUT_KIND = "incidents.carry_out"
CANCEL_REASON = "Cancelled after a picking error, as the manager chose"
RETRY_REASON = "Picking error: its lines go again in a new picking order, or not at all, as the manager chose"


def queue_carrying_out(conn: Connection, connection_id: str, incident_id: int, *, now: dt.datetime) -> None:
    """The job that carries the chosen way out, in the caller's transaction (it holds the incident's order lock,
    so it never runs beside that order's forwarding)."""
    row = store.load(conn, incident_id)
    if row is None:
        return
    queue.enqueue_coalesced(
        conn,
        CARRY_OUT_KIND,
        {"incident_id": incident_id},
        key=f"{CARRY_OUT_KIND}:{incident_id}",
        now=now,
        connection_id=connection_id,
        lock_key=order_lock_key(connection_id, row.order_id),
        priority=10,
    )


def carry_out(engine: Engine, wms: InflowPort, shop: OrdersShop, incident_id: int, *, clock: Clock) -> str:
    """The chosen way out, done; what happened (``done``, ``refused``, or ``nothing`` when there was nothing to do)."""
    with engine.connect() as conn:
        incident = store.load(conn, incident_id)
    if incident is None or incident.state != "resolving" or not incident.resolution:
        return "nothing"
    way = str(incident.resolution.get("way_out"))
    if way == WayOut.RETRY_WHEN_STOCK:
        return _retry_when_stock(engine, wms, shop, incident, clock=clock)
    if way == WayOut.SHIP_REST:
        return _ship_rest(engine, wms, shop, incident, clock=clock)
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
    failed = _failed_part_cancelled(engine, wms, shop, incident, clock=clock)
    if failed is None:
        return "refused"
    with engine.begin() as conn:
        now = clock.now()
        ref = _replacement(conn, incident, failed, failed.lines, state="short", now=now)
        queue_forward(conn, incident.connection_id, incident.order_id, now=now)
        resolution = {**dict(incident.resolution or {}), "replacement": ref}
        store.resolve(conn, incident.id, resolution=resolution, actor=store.SERVICE, now=now)
    log.info(
        "incidents.way_out_done", incident_id=incident.id, way_out=WayOut.RETRY_WHEN_STOCK, replacement=ref
    )
    return "done"


def _ship_rest(
    engine: Engine, wms: InflowPort, shop: OrdersShop, incident: store.Incident, *, clock: Clock
) -> str:
    sku = str(incident.detail.get("sku") or "")
    with engine.connect() as conn:
        parts = order_store.parts_of(conn, incident.connection_id, incident.order_id)
    live_elsewhere = [
        p
        for p in parts
        if p.external_ref != incident.subject and p.state in ("planned", "sending", "accepted", "short")
    ]
    failed_now = next((p for p in parts if p.external_ref == incident.subject), None)
    rest = [ln for ln in (failed_now.lines if failed_now else ()) if ln.sku != sku]
    failed_items = {ln.basket_id for ln in (failed_now.lines if failed_now else ()) if ln.sku == sku}
    shared = any(ln.basket_id in failed_items for p in live_elsewhere for ln in p.lines)
    if not sku or failed_now is None or shared or (not rest and not live_elsewhere):
        why = (
            "the incident does not name the failed SKU"
            if not sku or failed_now is None
            else "the failed line is also in another picking order: remove it by hand, or choose cancel"
            if shared
            else "nothing would be left to ship: choose cancel"
        )
        with engine.begin() as conn:
            store.reopen(conn, incident.id, why=why, now=clock.now())
        return "refused"
    failed = _failed_part_cancelled(engine, wms, shop, incident, clock=clock)
    if failed is None:
        return "refused"
    with engine.begin() as conn:
        ref = (
            _replacement(conn, incident, failed, tuple(rest), state="planned", now=clock.now())
            if rest
            else None
        )
    # The failed lines leave the shop's order (their reservation released); gone already after a crash: fine.
    removed = sorted({ln.basket_id for ln in failed.lines if ln.sku == sku})
    for basket_id in removed:
        with own_write(engine, incident.connection_id, incident.order_id, 1, clock=clock) as done:
            done[0] = shop.remove_line(basket_id)
    order = shop.order(incident.order_id)
    with engine.begin() as conn:
        now = clock.now()
        # What the plan is now made from: the order without the failed lines is not an edit to re-plan.
        order_store.set_fingerprint(
            conn, incident.connection_id, incident.order_id, fingerprint_of(order), now=now
        )
        queue_forward(conn, incident.connection_id, incident.order_id, now=now)
        resolution = {**dict(incident.resolution or {}), "removed": [sku], "replacement": ref}
        store.resolve(conn, incident.id, resolution=resolution, actor=store.SERVICE, now=now)
    log.info("incidents.way_out_done", incident_id=incident.id, way_out=WayOut.SHIP_REST, replacement=ref)
    return "done"


def _failed_part_cancelled(
    engine: Engine, wms: InflowPort, shop: OrdersShop, incident: store.Incident, *, clock: Clock
) -> order_store.Part | None:
    """The incident's failed picking order cancelled in the warehouse (``superseded`` here); None when it cannot
    be (the incident is then open again, with why)."""
    connection_id, order_id = incident.connection_id, incident.order_id
    with engine.connect() as conn:
        parts = order_store.parts_of(conn, connection_id, order_id)
        binding = order_store.load_binding(conn, connection_id, order_id)
    failed = next((p for p in parts if p.external_ref == incident.subject), None)
    cancelled_here = bool((incident.resolution or {}).get("failed_cancelled"))
    why = None
    if failed is None:
        why = f"the service has no picking order {incident.subject}"
    elif (binding is not None and binding.state in ("cancelled", "cancelling")) or shop.order(
        order_id
    ).facts.canceled:
        why = "the order is cancelled: there is nothing to send again"
    elif failed.state not in ("accepted", "cancelling") and not (
        failed.state == "superseded" and cancelled_here
    ):
        why = f"the picking order {failed.external_ref} is {failed.state}: it cannot be replaced"
    else:
        if failed.state == "accepted":
            with engine.begin() as conn:
                order_store.move_part(
                    conn, failed.id, expected={"accepted"}, state="cancelling", now=clock.now()
                )
            failed = replace(failed, state="cancelling")
        if failed.state == "cancelling":
            run = OrderRun(engine, connection_id, clock, shop.order(order_id))
            if not cancel_recorded(run, wms, failed, reason=RETRY_REASON, done="superseded"):
                why = "the warehouse will not cancel the failed picking order"
            else:
                with engine.begin() as conn:
                    store.note(conn, incident.id, {"failed_cancelled": True}, now=clock.now())
    if why is not None:
        with engine.begin() as conn:
            store.reopen(conn, incident.id, why=why, now=clock.now())
        return None
    return failed


def _replacement(
    conn: Connection,
    incident: store.Incident,
    failed: order_store.Part,
    lines: tuple[order_store.PartLine, ...],
    *,
    state: str,
    now: dt.datetime,
) -> str:
    """The failed part's replacement under the order's next generation (made once: found again after a crash)."""
    connection_id, order_id = incident.connection_id, incident.order_id
    current = store.load(conn, incident.id)
    made = (current.resolution or {}).get("replacement") if current is not None else None
    if made:  # made by an earlier run of this way out, and noted with it
        return str(made)
    binding = order_store.load_binding(conn, connection_id, order_id)
    generation = (binding.generation if binding else failed.generation) + 1
    ref = split.external_ref(order_id, generation, failed.part_no)
    new = order_store.NewPart(
        failed.part_no, failed.warehouse, failed.zone, failed.carrier, ref, lines, state=state
    )
    order_store.plan_parts(conn, connection_id, order_id, generation, [new], now=now)
    store.note(conn, incident.id, {"replacement": ref}, now=now)
    order_store.save_binding(
        conn,
        connection_id,
        order_id,
        state="planned",
        generation=generation,
        reason=f"{ref} replaces {failed.external_ref} after a picking error",
        now=now,
    )
    return ref

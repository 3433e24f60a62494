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
* **substitute**: the chosen SKU must have the units free in the failed picking order's zone (checked before
  anything changes); the failed picking order is cancelled, the new SKU's line added to the shop's order (marked
  with the incident, so a run after a crash finds it), put in the failed line's shipment, the failed line deleted,
  and the replacement sent with the new line in its place.
* **dismiss** needs no work: it is resolved when chosen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal

import structlog
from sqlalchemy import Connection, Engine

from bitrix_inflow.adapters.inflow import InflowPort
from bitrix_inflow.domain import split
from bitrix_inflow.domain.incidents import WayOut
from bitrix_inflow.errors import AuthError, PermanentError
from bitrix_inflow.jobs import queue
from bitrix_inflow.store import incidents as store
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.sync.orders.edit import cancel_recorded
from bitrix_inflow.sync.orders.notice import STATUS_WRITE_ECHOES, order_lock_key, own_write, queue_forward
from bitrix_inflow.sync.orders.planning import OrderRun, fingerprint_of, free_stock
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
    if way == WayOut.SUBSTITUTE:
        return _substitute(engine, wms, shop, incident, clock=clock)
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


@dataclass(frozen=True)
class _Failed:
    """The failed SKU's lines in the incident's picking order, and the rest of that order."""

    sku: str
    part: order_store.Part
    lines: tuple[order_store.PartLine, ...]
    rest: tuple[order_store.PartLine, ...]
    others_live: bool  # other picking orders of the order are still on their way


def _failed_lines(engine: Engine, incident: store.Incident, *, clock: Clock) -> _Failed | None:
    """The failed lines a way out changes; None (the incident open again, with why) when they cannot be changed
    alone: the incident names no SKU, or a failed basket line also travels in another picking order."""
    sku = str(incident.detail.get("sku") or "")
    with engine.connect() as conn:
        parts = order_store.parts_of(conn, incident.connection_id, incident.order_id)
    part = next((p for p in parts if p.external_ref == incident.subject), None)
    live_elsewhere = [
        p
        for p in parts
        if p.external_ref != incident.subject
        and p.state in ("planned", "sending", "accepted", "short", "cancelling", "waiting")
    ]
    why = None
    if not sku or part is None:
        why = "the incident does not name the failed SKU"
    else:
        failed_items = {ln.basket_id for ln in part.lines if ln.sku == sku}
        if any(ln.basket_id in failed_items for p in live_elsewhere for ln in p.lines):
            why = "the failed line is also in another picking order: change it by hand, or choose cancel"
    if why is not None or part is None:
        with engine.begin() as conn:
            store.reopen(conn, incident.id, why=why or "", now=clock.now())
        return None
    return _Failed(
        sku,
        part,
        tuple(ln for ln in part.lines if ln.sku == sku),
        tuple(ln for ln in part.lines if ln.sku != sku),
        bool(live_elsewhere),
    )


def _ship_rest(
    engine: Engine, wms: InflowPort, shop: OrdersShop, incident: store.Incident, *, clock: Clock
) -> str:
    found = _failed_lines(engine, incident, clock=clock)
    if found is None:
        return "refused"
    if not found.rest and not found.others_live:
        with engine.begin() as conn:
            store.reopen(
                conn, incident.id, why="nothing would be left to ship: choose cancel", now=clock.now()
            )
        return "refused"
    failed = _failed_part_cancelled(engine, wms, shop, incident, clock=clock)
    if failed is None:
        return "refused"
    # The failed lines leave the shop's order first (their reservation released; gone already after a crash:
    # fine), so a shop that refuses leaves no replacement behind for the next way out to trip over.
    try:
        for basket_id in sorted({ln.basket_id for ln in found.lines}):
            with own_write(engine, incident.connection_id, incident.order_id, 1, clock=clock) as done:
                done[0] = shop.remove_line(basket_id)
    except PermanentError as exc:
        return _refused_by_shop(engine, incident, exc, WayOut.SHIP_REST, clock=clock)
    with engine.begin() as conn:
        ref = (
            _replacement(conn, incident, failed, found.rest, state="planned", now=clock.now())
            if found.rest
            else None
        )
    resolution = {**dict(incident.resolution or {}), "removed": [found.sku], "replacement": ref}
    _settled(engine, shop, incident, resolution, clock=clock)
    log.info("incidents.way_out_done", incident_id=incident.id, way_out=WayOut.SHIP_REST, replacement=ref)
    return "done"


def _substitute(
    engine: Engine, wms: InflowPort, shop: OrdersShop, incident: store.Incident, *, clock: Clock
) -> str:
    """The failed SKU's lines replaced in the shop's order by another SKU's (same quantity, same shipment), and
    the failed picking order replaced by one with the new lines in their place, in the same zone and carrier.

    Everything that can refuse is checked before the first change (the warehouse's cancel); a run after that point
    (a crash, a retry) carries on and refuses nothing. A shop that refuses one of its writes (an inactive product,
    a shipped shipment) sends the incident back to a person with the reason, the cancel kept on record."""
    found = _failed_lines(engine, incident, clock=clock)
    if found is None:
        return "refused"
    progress = dict(incident.resolution or {})
    chosen, product_id = str(progress.get("sku") or ""), int(progress.get("product_id") or 0)
    if progress.get("checked") != chosen:  # (checked by an earlier run of this very choice: it carries on)
        why = _cannot_substitute(wms, found, chosen, product_id)
        if why is not None:
            with engine.begin() as conn:
                store.reopen(conn, incident.id, why=why, now=clock.now())
            return "refused"
        with engine.begin() as conn:
            store.note(conn, incident.id, {"checked": chosen}, now=clock.now())
    failed = _failed_part_cancelled(engine, wms, shop, incident, clock=clock)
    if failed is None:
        return "refused"
    connection_id, order_id = incident.connection_id, incident.order_id
    new_lines: list[order_store.PartLine] = []
    added: list[int] = []
    try:
        for basket_id in sorted({ln.basket_id for ln in found.lines}):
            old = [ln for ln in found.lines if ln.basket_id == basket_id]
            qty = Decimal(sum(ln.qty for ln in old))
            with own_write(engine, connection_id, order_id, 1, clock=clock) as done:
                # The key makes the added line findable: a run after a crash finds it instead of adding another.
                new_id, done[0] = shop.add_line(
                    order_id, product_id, qty, key=f"bi-{incident.id}-{basket_id}"
                )
            added.append(new_id)
            for ln in old:
                with own_write(engine, connection_id, order_id, 1, clock=clock) as done:
                    done[0] = shop.put_in_shipment(ln.shipment_id, new_id, Decimal(ln.qty))
                new_lines.append(order_store.PartLine(new_id, ln.shipment_id, chosen, ln.qty))
            with own_write(engine, connection_id, order_id, 1, clock=clock) as done:
                done[0] = shop.remove_line(basket_id)
    except PermanentError as exc:
        # Half a change would look like an edit once the incident is open again: the added lines go back out.
        for new_id in added:
            try:
                with own_write(engine, connection_id, order_id, 1, clock=clock) as done:
                    done[0] = shop.remove_line(new_id)
            except PermanentError as also:
                exc = PermanentError(f"{exc}; the added line {new_id} could not be taken back either: {also}")
        return _refused_by_shop(engine, incident, exc, WayOut.SUBSTITUTE, clock=clock)
    with engine.begin() as conn:
        ref = _replacement(
            conn, incident, failed, (*found.rest, *new_lines), state="planned", now=clock.now()
        )
    resolution = {**progress, "replaced": {found.sku: chosen}, "replacement": ref}
    _settled(engine, shop, incident, resolution, clock=clock)
    log.info("incidents.way_out_done", incident_id=incident.id, way_out=WayOut.SUBSTITUTE, replacement=ref)
    return "done"


def _refused_by_shop(
    engine: Engine, incident: store.Incident, exc: PermanentError, way: WayOut, *, clock: Clock
) -> str:
    """A shop write of the way out refused for good (an inactive product, a shipped shipment): the incident goes
    back to a person with the reason. Refused credentials are not the order's matter: the job fails, and is
    retried once they are fixed."""
    if isinstance(exc, AuthError):
        raise exc
    with engine.begin() as conn:
        store.reopen(conn, incident.id, why=f"the shop refused to change the order: {exc}", now=clock.now())
    log.info("incidents.way_out_refused", incident_id=incident.id, way_out=way, why=str(exc))
    return "refused"


def _cannot_substitute(wms: InflowPort, found: _Failed, chosen: str, product_id: int) -> str | None:
    """Why the chosen SKU cannot take the failed one's place now (None: it can): it has no shop product, or the
    warehouse has not the units free where the picking order is picked (anywhere, for one without a zone)."""
    if not chosen or product_id <= 0:
        return "the substitute SKU was not chosen with its shop product: choose substitute again"
    need = sum(ln.qty for ln in found.lines)
    zones = free_stock(wms, found.part.warehouse, [chosen]).get(chosen, {})
    zone = found.part.zone
    free = zones.get(zone, 0) if zone != split.NO_ZONE else sum(zones.values())
    if free >= need:
        return None
    where = (
        f"in zone {zone}, where the picking order is picked," if zone != split.NO_ZONE else "in the warehouse"
    )
    return f"SKU {chosen} has {free} free units {where} and {need} are needed: choose another SKU, or retry_when_stock"


def _settled(
    engine: Engine, shop: OrdersShop, incident: store.Incident, resolution: dict[str, object], *, clock: Clock
) -> None:
    """The order's lines changed by the way out: what the plan is now made from is taken again (the change is
    not an edit to re-plan), its forwarding queued, and the incident resolved."""
    order = shop.order(incident.order_id)
    with engine.begin() as conn:
        now = clock.now()
        order_store.set_fingerprint(
            conn, incident.connection_id, incident.order_id, fingerprint_of(order), now=now
        )
        queue_forward(conn, incident.connection_id, incident.order_id, now=now)
        store.resolve(conn, incident.id, resolution=resolution, actor=store.SERVICE, now=now)


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
    order = shop.order(order_id)  # read once: whether it is cancelled, and what the cancel's run is about
    why = None
    if failed is None:
        why = f"the service has no picking order {incident.subject}"
    elif (binding is not None and binding.state in ("cancelled", "cancelling")) or order.facts.canceled:
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
            run = OrderRun(engine, connection_id, clock, order)
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

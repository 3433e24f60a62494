"""An order cancelled in the shop (``canceled = Y``) after any of it went to the warehouse: every open picking order
is cancelled there too.

1. Parts that never went (``planned``, ``short``, ``waiting``) are ``cancelled`` at once. A part left ``sending``
   by a run that died may be in the warehouse: it is looked up by its reference, and either cancelled there like an
   accepted one or, when the warehouse never got it, ``cancelled`` here.
2. Each part in the warehouse is ``cancelling`` (committed before the request), then cancelled with ``If-Match``
   its version: confirmed, it is ``cancelled``; refused because picking has started, it stays ``accepted`` and a
   ``cancel_refused`` incident tells the manager (once), who decides in the warehouse. A crash between the two
   repeats the cancel, which the warehouse confirms again.
3. The binding is ``cancelled`` once no part is left open; the forwarding flow then leaves the order alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import structlog
from sqlalchemy import Connection

from bitrix_inflow.adapters.inflow import InflowPort
from bitrix_inflow.domain.incidents import Kind
from bitrix_inflow.store import incidents
from bitrix_inflow.store import orders as store
from bitrix_inflow.store.engine import reading
from bitrix_inflow.sync.incidents.inbox import raise_incident
from bitrix_inflow.sync.orders import statuses
from bitrix_inflow.sync.orders.edit import cancel_recorded
from bitrix_inflow.sync.orders.planning import OrderRun

log = structlog.get_logger("bitrix_inflow.sync.orders")

REASON = "The order was cancelled in the shop"
NEVER_SENT = ("planned", "short", "waiting")
IN_WAREHOUSE = ("accepted", "cancelling")


def cancel_everywhere(run: OrderRun, wms: InflowPort, parts: Sequence[store.Part]) -> tuple[str, list[str]]:
    """The cancelled order's open parts cancelled in the warehouse. Returns the outcome (``cancelled``, or
    ``cancel_refused`` while a picking order stands) and what happened, part by part."""
    reasons: list[str] = []
    found = {
        p.id: wms.find_by_external_ref(p.external_ref, p.warehouse) for p in parts if p.state == "sending"
    }
    with run.engine.begin() as conn:
        now = run.clock.now()
        for part in parts:
            there = found.get(part.id)
            if part.state in NEVER_SENT or (part.state == "sending" and there is None):
                store.move_part(conn, part.id, expected={part.state}, state="cancelled", now=now)
                reasons.append(f"{part.external_ref}: never reached the warehouse, not sent")
            elif part.state == "sending" and there is not None:
                if store.move_part(
                    conn, part.id, expected={"sending"}, state="cancelling", now=now, wms_order_id=there.id
                ):
                    # Until now the feed and the webhooks passed this picking order by (the service had no id
                    # for it), while the warehouse may have packed and shipped it: the state found is taken like
                    # a feed page's (status, tracking, marking codes, the order's apply queued) and read once
                    # more after the commit, as forwarding's catch-up does for a send whose answer was lost.
                    adopted = replace(part, state="cancelling", wms_order_id=there.id)
                    statuses.took(conn, run.connection_id, adopted, there, now=now)
                    statuses.queue_refresh(conn, run.connection_id, there.id, now=now)
            elif part.state == "accepted":
                store.move_part(conn, part.id, expected={"accepted"}, state="cancelling", now=now)
        store.save_binding(conn, run.connection_id, run.order_id, state="cancelling", reason=REASON, now=now)
        # A picking error of the order needs no way out any more.
        incidents.settle(
            conn,
            run.connection_id,
            run.order_id,
            kind=Kind.PICKING_ERROR,
            why="the order was cancelled",
            now=now,
        )
        store.add_timeline(
            conn, run.connection_id, run.order_id, source="shop", kind="cancelled", detail={}, now=now
        )
    with reading(run.engine).connect() as conn:
        now_parts = store.parts_of(conn, run.connection_id, run.order_id)
    refused = 0
    for part in now_parts:
        if part.state != "cancelling" or part.wms_order_id is None:
            continue

        def incident(conn: Connection, detail: dict[str, object], part: store.Part = part) -> None:
            raise_incident(
                conn,
                run.connection_id,
                run.order_id,
                kind=Kind.CANCEL_REFUSED,
                subject=part.external_ref,
                detail={
                    **detail,
                    "why": "the shop's order was cancelled, but the warehouse has picked this part",
                },
                now=run.clock.now(),
            )

        cancelled = cancel_recorded(run, wms, part, reason=REASON, done="cancelled", refused=incident)
        refused += not cancelled
        reasons.append(
            f"{part.external_ref}: " + ("cancelled" if cancelled else "refused: its goods are picked")
        )
    with run.engine.begin() as conn:
        now = run.clock.now()
        state = "cancelled" if not refused else "forwarded"
        why = REASON if not refused else f"{REASON}; {refused} picking order(s) stand: see the incidents"
        store.save_binding(conn, run.connection_id, run.order_id, state=state, reason=why, now=now)
        if not refused:
            # The warehouse's answers carried the CANCELLED versions, so the feed brings nothing newer to apply:
            # the mapped status (CANCELLED → Z) is written here, as it is when the feed comes first.
            statuses.queue_reapply(conn, run.connection_id, run.order_id, now=now)
        if run.order.version is not None:
            # This version of the order is dealt with: the polls that see it again leave it alone (a cancel the
            # warehouse refused is not tried again until the order changes).
            store.set_seen_version(conn, run.connection_id, run.order_id, run.order.version, now=now)
    log.info("orders.cancelled", order_id=run.order_id, refused=refused, reasons=reasons)
    return ("cancelled" if not refused else "cancel_refused"), reasons

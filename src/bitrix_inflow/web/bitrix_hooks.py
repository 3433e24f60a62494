"""``POST /hooks/bitrix``: the shop's events (an outgoing webhook or an app's ``event.bind`` handler).

Bitrix posts a form with PHP-bracket keys (``event``, ``data[FIELDS][ID]``, ``auth[application_token]``) once, with
no retry: an event may never come, and it carries no data worth trusting beyond the id. So an event is a doorbell
for the order poll, which stays the truth: ``ONSALEORDERSAVED`` queues an early poll (coalesced), unless it is the
echo of one of the service's own writes; ``ONSHIPMENTENTITYSAVED`` counts for the order whose picking orders carry
that shipment. The application token is compared in constant time before anything is read; nothing changes for an
event without it.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl

import structlog
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from bitrix_inflow.sync.orders import notice
from bitrix_inflow.sync.stock import jobs as stock_jobs
from bitrix_inflow.timing import Clock
from bitrix_inflow.web.limits import RateLimit, admitted_body

log = structlog.get_logger("bitrix_inflow.web.hooks")
NOT_CONFIGURED = (
    "Bitrix events are not configured: set bitrix.application_token (the token the shop sends with every event, "
    "env BITRIX_INFLOW__BITRIX__APPLICATION_TOKEN)"
)
MAX_BODY = 64 * 1024  # an event is a few hundred bytes


def add_bitrix_hooks(
    app: FastAPI,
    engine: Engine,
    *,
    token: str | None,
    clock: Clock,
    limit: RateLimit | None = None,
    connection_id: str = stock_jobs.CONNECTION,
) -> None:
    """``/hooks/bitrix`` of one tenant: its shop's application token admits the event, which starts its poll."""
    per_sender = limit or RateLimit(rate=50, burst=200)

    @app.post("/hooks/bitrix")
    async def bitrix_hook(request: Request) -> JSONResponse:
        if token is None:
            return JSONResponse({"error": NOT_CONFIGURED}, 404)
        body = await admitted_body(request, per_sender, MAX_BODY, what="event")
        if isinstance(body, JSONResponse):
            return body
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        sent = form.get("auth[application_token]", "")
        if not hmac.compare_digest(sent.encode(), token.encode()):
            log.warning("hook.bitrix_bad_token", bitrix_event=form.get("event"))
            return JSONResponse(
                {"error": "auth[application_token] does not match bitrix.application_token"}, 401
            )
        event = form.get("event", "").upper()
        raw_id = form.get("data[FIELDS][ID]", "")
        if event not in ("ONSALEORDERSAVED", "ONSHIPMENTENTITYSAVED"):
            return JSONResponse(
                {"accepted": 0, "ignored": event or "no event"}
            )  # acknowledged, nothing to do
        if not raw_id.isdigit() or int(raw_id) <= 0:
            return JSONResponse({"error": "data[FIELDS][ID]: expected the entity's id"}, 400)
        queued = await run_in_threadpool(_hint, engine, clock, connection_id, event, int(raw_id))
        log.info(
            "hook.bitrix_event",
            bitrix_event=event,
            entity_id=int(raw_id),
            poll_queued=queued,
            connection_id=connection_id,
        )
        return JSONResponse({"accepted": int(queued)})


def _hint(engine: Engine, clock: Clock, connection_id: str, event: str, entity_id: int) -> bool:
    with engine.begin() as conn:
        if event == "ONSALEORDERSAVED":
            return notice.hint_order(conn, connection_id, entity_id, now=clock.now())
        return notice.hint_shipment(conn, connection_id, entity_id, now=clock.now())

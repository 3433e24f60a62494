"""``POST /hooks/inflow``: the warehouse's webhooks (contract §8), verified on the raw bytes before anything else.

A delivery is a doorbell: it may come late, twice, out of order or not at all. A ``stock.changed`` delivery
remembers the SKUs it names and queues one targeted stock sync, so the shop shows the new quantity within seconds;
an ``order.status_changed`` delivery (deduplicated by its event id) queues a re-read of that picking order, whose
version decides. The periodic sync and the changes feed stay the truth. Nothing is changed for a delivery whose
signature does not verify.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from bitrix_inflow.sync.orders import statuses as order_statuses
from bitrix_inflow.sync.stock import jobs as stock_jobs
from bitrix_inflow.timing import Clock
from bitrix_inflow.web.limits import RateLimit, admitted_body

log = structlog.get_logger("bitrix_inflow.web.hooks")
SIGNATURE_HEADER = "X-Inflow-Signature"
NOT_CONFIGURED = (
    "webhooks are not configured: set inflow.webhook_secret (env BITRIX_INFLOW__INFLOW__WEBHOOK_SECRET)"
)
MAX_SKUS = 10_000  # a doorbell naming more is a full sync's job, not a targeted one
MAX_BODY = 1024 * 1024  # MAX_SKUS codes of up to ~90 characters, with room to spare


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.removeprefix("sha256=").strip().lower().encode())


def add_inflow_hooks(
    app: FastAPI,
    engine: Engine,
    *,
    secret: str | None,
    clock: Clock,
    limit: RateLimit | None = None,
    connection_id: str = stock_jobs.CONNECTION,
) -> None:
    """``/hooks/inflow`` of one tenant (its own app, mounted under ``/t/<tenant>`` but for the default one): its
    secret verifies the delivery, and what it rings for is that tenant's."""
    # The warehouse sends a burst after a wave of moves; more than this from one address is not a warehouse.
    per_sender = limit or RateLimit(rate=100, burst=500)

    @app.post("/hooks/inflow")
    async def inflow_hook(request: Request) -> JSONResponse:
        if secret is None:
            return JSONResponse({"error": NOT_CONFIGURED}, 404)
        body = await admitted_body(request, per_sender, MAX_BODY, what="delivery")
        if isinstance(body, JSONResponse):
            return body
        if not signature_ok(secret, body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("hook.bad_signature", event_id=request.headers.get("X-Inflow-Event-Id"))
            return JSONResponse({"error": f"{SIGNATURE_HEADER} does not verify"}, 401)
        try:
            event = json.loads(body)
            kind, data = event["event"], event["data"]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "not a webhook envelope {event_id, event, occurred_at, data}"}, 400)
        if kind == "order.status_changed":
            event_id, order_id = (
                event.get("event_id"),
                data.get("order_id") if isinstance(data, dict) else None,
            )
            if not isinstance(event_id, str) or not event_id or not isinstance(order_id, str) or not order_id:
                return JSONResponse(
                    {"error": "event_id and data.order_id: expected the event's and order's ids"}, 400
                )
            first = await run_in_threadpool(_status_hint, engine, clock, connection_id, event_id, order_id)
            log.info(
                "hook.order_status",
                event_id=event_id,
                wms_order_id=order_id,
                duplicate=not first,
                connection_id=connection_id,
            )
            return JSONResponse({"accepted": int(first)})
        if kind != "stock.changed":
            return JSONResponse(
                {"accepted": 0, "ignored": kind}
            )  # acknowledged: a retry would change nothing
        problem = _stock_problem(data)
        if problem:
            return JSONResponse({"error": problem}, 400)
        accepted = await run_in_threadpool(
            _hint, engine, clock, connection_id, data["warehouse"], data["skus"]
        )
        log.info(
            "hook.stock_changed",
            event_id=event.get("event_id"),
            warehouse=data["warehouse"],
            skus=accepted,
            connection_id=connection_id,
        )
        return JSONResponse({"accepted": accepted})


def _stock_problem(data: Any) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("warehouse"), str):
        return "data.warehouse: expected the warehouse code"
    skus = data.get("skus")
    if not isinstance(skus, list) or not all(isinstance(s, str) and s for s in skus):
        return "data.skus: expected a list of SKU codes"
    if len(skus) > MAX_SKUS:
        return f"data.skus: at most {MAX_SKUS} per delivery"
    return None


def _hint(engine: Engine, clock: Clock, connection_id: str, warehouse: str, skus: list[str]) -> int:
    with engine.begin() as conn:
        return stock_jobs.hint(conn, warehouse, skus, now=clock.now(), connection_id=connection_id)


def _status_hint(engine: Engine, clock: Clock, connection_id: str, event_id: str, wms_order_id: str) -> bool:
    with engine.begin() as conn:
        return order_statuses.hint(
            conn, connection_id, event_id=event_id, wms_order_id=wms_order_id, now=clock.now()
        )

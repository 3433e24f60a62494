"""The HTTP app ``serve`` exposes: the operator console under ``/console``,
``/healthz`` for load balancers, ``/metrics`` for Prometheus, ``/hooks/inflow``
for the warehouse's webhooks, ``/hooks/bitrix`` for the shop's events."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine

from bitrix_inflow.jobs import presence, queue
from bitrix_inflow.log import redactor
from bitrix_inflow.store.schema import ensure_current
from bitrix_inflow.timing import Clock, SystemClock
from bitrix_inflow.web.bitrix_hooks import add_bitrix_hooks
from bitrix_inflow.web.console import Console, add_console
from bitrix_inflow.web.hooks import add_inflow_hooks
from bitrix_inflow.web.limits import RateLimit
from bitrix_inflow.web.metrics import build_registry


def build_app(
    engine: Engine,
    *,
    alive_within: dt.timedelta = dt.timedelta(minutes=2),
    inflow_webhook_secret: str | None = None,
    bitrix_application_token: str | None = None,
    clock: Clock | None = None,
    console: Console | None = None,
    hook_limit: RateLimit | None = None,
) -> FastAPI:
    app = FastAPI(title="bitrix-inflow", docs_url=None, redoc_url=None, openapi_url=None)
    if console is not None:
        add_console(app, console)
    registry = build_registry(engine, alive_within=alive_within)
    add_inflow_hooks(
        app, engine, secret=inflow_webhook_secret, clock=clock or SystemClock(), limit=hook_limit
    )
    add_bitrix_hooks(
        app, engine, token=bitrix_application_token, clock=clock or SystemClock(), limit=hook_limit
    )

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        """200 while the state database answers with the schema this version needs; 503 otherwise, with why."""
        try:
            ensure_current(engine)
            with engine.connect() as conn:
                counts = queue.count_by_status(conn)
        except Exception as exc:  # any failure means "not healthy", and the reason is the answer
            reason = redactor.scrub_text(f"{type(exc).__name__}: {exc}")
            return JSONResponse({"status": "unavailable", "reason": reason}, 503)
        return JSONResponse({"status": "ok", "jobs": {status.value: n for status, n in counts.items()}})

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        """200 when this instance can take work: its schema is current and a worker (of any instance on this
        database) heartbeated recently; 503 with the reasons otherwise (a balancer sends nothing here then)."""
        reasons: list[str] = []
        try:
            ensure_current(engine)
            with engine.connect() as conn:
                alive = presence.count_alive(conn, since=(clock or SystemClock()).now() - alive_within)
        except Exception as exc:  # any failure means "not ready", and the reason is the answer
            return JSONResponse(
                {"status": "unavailable", "reasons": [redactor.scrub_text(f"{type(exc).__name__}: {exc}")]},
                503,
            )
        if not alive:
            reasons.append(
                "no worker has heartbeated recently: are the workers running (bitrix-inflow serve)?"
            )
        if reasons:
            return JSONResponse({"status": "not_ready", "reasons": reasons}, 503)
        return JSONResponse({"status": "ready", "workers_alive": alive})

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app

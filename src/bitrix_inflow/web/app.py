"""The HTTP app ``serve`` exposes: the operator console under ``/console``,
``/healthz`` for load balancers, ``/metrics`` for Prometheus, ``/hooks/inflow``
for the warehouse's webhooks, ``/hooks/bitrix`` for the shop's events; each tenant
but the default one has its console and webhooks under ``/t/<tenant>``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine

from bitrix_inflow.jobs import presence, queue
from bitrix_inflow.jobs.queue import DEFAULT_CONNECTION
from bitrix_inflow.log import redactor
from bitrix_inflow.store.schema import ensure_current
from bitrix_inflow.timing import Clock, SystemClock
from bitrix_inflow.web.bitrix_hooks import add_bitrix_hooks
from bitrix_inflow.web.console import Console, add_console
from bitrix_inflow.web.hooks import add_inflow_hooks
from bitrix_inflow.web.limits import RateLimit
from bitrix_inflow.web.metrics import build_registry


@dataclass(frozen=True)
class TenantWeb:
    """What one tenant (shop/warehouse pair) answers on: its console and its systems' webhooks, with its secrets."""

    connection_id: str
    inflow_webhook_secret: str | None
    bitrix_application_token: str | None
    console: Console | None


def tenant_root(connection_id: str) -> str:
    """Where a tenant's console and webhooks live; the default tenant's are at the root, as before tenants."""
    return "" if connection_id == DEFAULT_CONNECTION else f"/t/{connection_id}"


def add_tenant(
    app: FastAPI, engine: Engine, tenant: TenantWeb, *, clock: Clock, hook_limit: RateLimit | None
) -> None:
    if tenant.console is not None:
        add_console(app, tenant.console)
    add_inflow_hooks(
        app,
        engine,
        secret=tenant.inflow_webhook_secret,
        clock=clock,
        limit=hook_limit,
        connection_id=tenant.connection_id,
    )
    add_bitrix_hooks(
        app,
        engine,
        token=tenant.bitrix_application_token,
        clock=clock,
        limit=hook_limit,
        connection_id=tenant.connection_id,
    )


def build_app(
    engine: Engine,
    *,
    alive_within: dt.timedelta = dt.timedelta(minutes=2),
    inflow_webhook_secret: str | None = None,
    bitrix_application_token: str | None = None,
    clock: Clock | None = None,
    console: Console | None = None,
    hook_limit: RateLimit | None = None,
    tenants: Sequence[TenantWeb] = (),
) -> FastAPI:
    """The default tenant's console and webhooks (the arguments) at the root; each other tenant's under
    ``/t/<tenant>``, an app of its own that knows no other tenant's console, secrets or data."""
    app = FastAPI(title="bitrix-inflow", docs_url=None, redoc_url=None, openapi_url=None)
    clock = clock or SystemClock()
    add_tenant(
        app,
        engine,
        TenantWeb(DEFAULT_CONNECTION, inflow_webhook_secret, bitrix_application_token, console),
        clock=clock,
        hook_limit=hook_limit,
    )
    for tenant in tenants:
        own = FastAPI(
            title=f"bitrix-inflow: {tenant.connection_id}", docs_url=None, redoc_url=None, openapi_url=None
        )
        add_tenant(own, engine, tenant, clock=clock, hook_limit=hook_limit)
        app.mount(tenant_root(tenant.connection_id), own)
    registry = build_registry(engine, alive_within=alive_within)

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

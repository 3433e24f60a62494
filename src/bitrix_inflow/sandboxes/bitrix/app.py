"""The sandbox shop as an ASGI app: the REST endpoint, the OAuth token endpoint and the control API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from bitrix_inflow.sandboxes.bitrix import rest_errors
from bitrix_inflow.sandboxes.bitrix.auth import Credentials
from bitrix_inflow.sandboxes.bitrix.config import Clock, Faults, SandboxConfig
from bitrix_inflow.sandboxes.bitrix.control import control_routes
from bitrix_inflow.sandboxes.bitrix.engine import Engine
from bitrix_inflow.sandboxes.bitrix.event_hub import EventHub
from bitrix_inflow.sandboxes.bitrix.events import EventSender
from bitrix_inflow.sandboxes.bitrix.holds import HeldRequest, Holds, method_names
from bitrix_inflow.sandboxes.bitrix.methods_catalog import METHODS as CATALOG_METHODS
from bitrix_inflow.sandboxes.bitrix.methods_core import core_methods
from bitrix_inflow.sandboxes.bitrix.methods_events import METHODS as EVENT_METHODS
from bitrix_inflow.sandboxes.bitrix.methods_module import METHODS as MODULE_METHODS
from bitrix_inflow.sandboxes.bitrix.methods_notify import METHODS as NOTIFY_METHODS
from bitrix_inflow.sandboxes.bitrix.methods_sale import METHODS as SALE_METHODS
from bitrix_inflow.sandboxes.bitrix.php_params import merge_pairs, parse_str
from bitrix_inflow.sandboxes.bitrix.registry import MethodTable
from bitrix_inflow.sandboxes.bitrix.seed import seed_shop
from bitrix_inflow.sandboxes.bitrix.shop import Shop
from bitrix_inflow.sandboxes.bugs import BugLog, RecordBugs


def php_json(body: Any) -> bytes:
    # PHP's json_encode escapes "/" and non-ASCII; clients must cope with "392\/1", so the sandbox does too.
    return json.dumps(body, ensure_ascii=True).replace("/", "\\/").encode()


def rest_response(status: int, body: Any) -> Response:
    return Response(
        php_json(body),
        status_code=status,
        headers={"Access-Control-Allow-Origin": "*"},
        media_type="application/json; charset=utf-8",
    )


async def request_params(request: Request) -> dict[str, Any]:
    """CRestUtil::getRequestData: query + form; a POST without form fields is read as JSON (only with
    ``application/json``; broken JSON silently becomes empty) or else as a query string; the body wins."""
    params = parse_str(request.url.query)
    if request.method != "POST":
        return params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body: dict[str, Any] = {}
    if content_type == "multipart/form-data":
        form = await request.form()
        pairs = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
        body = merge_pairs(pairs)
        await form.close()
    else:
        raw = await request.body()
        if content_type == "application/json":
            try:
                decoded = json.loads(raw.decode("utf-8")) if raw.strip() else {}
            except (UnicodeDecodeError, json.JSONDecodeError):
                decoded = {}
            body = {str(k): v for k, v in decoded.items()} if isinstance(decoded, dict) else {}
        else:
            body = parse_str(raw.decode("utf-8", errors="replace"))
    params.update(body)
    return params


def _answer_bug(request: Request, exc: Exception) -> Response:
    """The 500 a crash answers with, in the shape the endpoint's clients expect."""
    if request.url.path.startswith("/_sandbox"):
        return JSONResponse(
            {
                "error": f"unexpected {type(exc).__name__}; this is a sandbox bug",
                "field": "",
                "fix": "see GET /_sandbox/errors",
            },
            500,
        )
    # The documented INTERNAL_SERVER_ERROR, the same answer as an injected 500.
    return rest_response(500, rest_errors.internal_error().body())


@dataclass
class BitrixSandbox:
    """Everything one running shop needs; ``app`` is the ASGI application."""

    config: SandboxConfig = field(default_factory=SandboxConfig)
    https: bool = True

    def __post_init__(self) -> None:
        # Survives a reseed: a reset between two tests must not wipe what the first one broke.
        self.bugs = BugLog("bitrix")
        self.clock = Clock(self.config.utc_offset_minutes)
        self.faults = Faults.for_mode(self.config.mode or "onprem")
        self.events = EventSender(self.config, self.clock, self.faults, self.bugs)
        self.hub = EventHub(self.events, self.clock, config=self.config)
        self.shop = Shop(self.config, self.clock, self.hub.emit)
        self.credentials = Credentials(self.config, self.clock)
        self.methods = MethodTable()
        self.methods.add(core_methods(self.methods))
        self.methods.add(SALE_METHODS)
        self.methods.add(CATALOG_METHODS)
        self.methods.add(NOTIFY_METHODS)
        self.methods.add(EVENT_METHODS)
        if self.config.companion_module:
            self.methods.add(MODULE_METHODS)
        self.engine = Engine(
            self.config, self.shop, self.credentials, self.clock, self.faults, self.methods, hub=self.hub
        )
        self.streams: dict[int, dict[str, Any]] = {}
        self.holds = Holds()
        self.stopping = threading.Event()  # ends order streams when the server shuts down
        shop_app = Starlette(
            routes=[
                Route("/rest/{path:path}", self._rest, methods=["GET", "POST"]),
                Route("/oauth/token/", self._oauth_token, methods=["GET", "POST"]),
                Route("/oauth/token", self._oauth_token, methods=["GET", "POST"]),
                *control_routes(self),
            ],
            exception_handlers={Exception: self._on_bug},
            lifespan=self._lifespan,
        )
        self.app: ASGIApp = RecordBugs(shop_app, self.bugs)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self.events.start()
        try:
            yield
        finally:
            self.stopping.set()
            self.events.stop()

    def seed(self, **options: Any) -> dict[str, Any]:
        with self.shop.lock:
            # Before the seeding: the orders it places emit events of the new shop.
            self.events.forget()
            self.hub.forget_offline()
            return seed_shop(self.shop, **options)

    async def _on_bug(self, request: Request, exc: Exception) -> Response:
        # Recorded before the answer leaves: a test must not see the 500 and end before the record exists.
        self.bugs.record_request(request.method, request.url.path, exc)
        return _answer_bug(request, exc)

    async def _rest(self, request: Request) -> Response:
        params = await request_params(request)
        client_ip = request.client.host if request.client else "unknown"
        path = request.path_params["path"]
        names = method_names(path, params)
        stage = self.faults.hold_stage
        hold = self.holds.should_hold(names, self.faults.hold_methods, self.faults.hold_skip)
        held: HeldRequest | None = None
        try:
            if hold and stage == "before":
                held = await self.holds.wait(names, stage)
                if held.state == "dropped":  # as if the shop had failed it: never run
                    return rest_response(500, rest_errors.internal_error().body())
            reply = self.engine.handle(path, params, https=request.url.scheme == "https", client_ip=client_ip)
            if self.faults.slow_ms:
                await asyncio.sleep(self.faults.slow_ms / 1000)
            if hold and stage == "after":
                held = await self.holds.wait(names, stage)
            return rest_response(reply.status, reply.body)
        finally:
            if held is not None:
                self.holds.done(held)

    async def _oauth_token(self, request: Request) -> Response:
        params = await request_params(request)
        try:
            return rest_response(200, self.credentials.refresh_token(params))
        except rest_errors.RestError as error:
            return rest_response(error.status, error.body())

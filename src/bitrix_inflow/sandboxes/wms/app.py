"""Assemble the sandbox: REST, SOAP and control routes, problems, background tasks, transport faults."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from bitrix_inflow.sandboxes.bugs import BugLog, RecordBugs
from bitrix_inflow.sandboxes.wms import persistence
from bitrix_inflow.sandboxes.wms.control import register_control
from bitrix_inflow.sandboxes.wms.http import problem_response
from bitrix_inflow.sandboxes.wms.problems import Problem, field_error
from bitrix_inflow.sandboxes.wms.rest import register_rest
from bitrix_inflow.sandboxes.wms.service import SandboxSettings, WmsService
from bitrix_inflow.sandboxes.wms.soap import fault_response, register_soap
from bitrix_inflow.sandboxes.wms.transport_faults import TransportFaults


def build_service(settings: SandboxSettings) -> WmsService:
    service = WmsService(settings)
    if settings.state_path and persistence.exists(settings.state_path):
        persistence.load(service, settings.state_path)
    else:
        service.seed(
            settings.warehouses,
            skus=settings.skus,
            bins=settings.bins,
            seed=settings.seed,
            qty_min=settings.qty_min,
            qty_max=settings.qty_max,
            catalogue_csv=(
                Path(settings.catalogue_path).read_text(encoding="utf-8") if settings.catalogue_path else None
            ),
            catalogue_size=settings.catalogue_size,
        )
    service.dirty = bool(settings.state_path)
    return service


def build_app(service: WmsService) -> ASGIApp:
    settings = service.settings

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        bugs = service.bugs
        tasks = [asyncio.create_task(_supervised(bugs, "webhook sender", service.hub.run))]
        if settings.pace > 0:
            tasks.append(
                asyncio.create_task(_every(bugs, "clock tick", settings.pace, lambda: _tick(service)))
            )
        if settings.state_path:
            tasks.append(
                asyncio.create_task(_every(bugs, "state snapshot", 1.0, lambda: _save_if_dirty(service)))
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await _save_if_dirty(service)
            except Exception as exc:
                bugs.record("state snapshot", exc)

    app = FastAPI(
        title="Inflow WMS sandbox", openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan
    )
    dialect = service.dialect

    def render(request: Request, problem: Problem) -> JSONResponse:
        document = problem.document()
        if not request.url.path.startswith("/_sandbox") and not problem.in_dialect:
            document = dialect.outbound(document)
        return problem_response(problem, document)

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return render(request, exc)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 405:
            problem = Problem(
                "method-not-allowed",
                f"{request.method} is not allowed on {request.url.path}",
                headers={"Allow": ", ".join(_allowed_methods(app, request.url.path))},
            )
        else:
            problem = Problem(
                "not-found",
                f"no resource at {request.url.path}",
                errors=[field_error("path", "unknown path")],
            )
        return render(request, problem)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            field_error(".".join(str(p) for p in e["loc"][1:]) or "query", str(e["msg"]))
            for e in exc.errors()
        ]
        return render(request, Problem("validation", "invalid parameters", errors=errors))

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception) -> Response:
        # Recorded before the answer leaves: a test must not see the 500 and end before the record exists.
        service.bugs.record_request(request.method, request.url.path, exc)
        problem = Problem(
            "internal", f"unexpected {type(exc).__name__}; this is a sandbox bug (see GET /_sandbox/errors)"
        )
        if request.url.path.startswith("/soap/"):
            return fault_response(problem)
        return render(request, problem)

    register_rest(app, service)
    register_soap(app, service)
    register_control(app, service)
    _serve_only(app, settings.transports, dialect.base_path)

    def render_fault(path: str, problem: Problem) -> ASGIApp:
        if path.startswith("/soap/"):
            return fault_response(problem)
        return problem_response(problem, dialect.outbound(problem.document()))

    faulty = TransportFaults(
        app, service.faults, (dialect.base_path + "/", "/oauth/", "/soap/"), render_fault
    )
    return RecordBugs(faulty, service.bugs)


def _serve_only(app: FastAPI, transports: str, base_path: str) -> None:
    """Drop the routes of a transport this installation does not serve: it answers them as unknown paths."""
    if transports not in ("rest", "soap", "both"):
        raise ValueError(f"transports must be rest, soap or both, got {transports!r}")
    dropped: tuple[str, ...] = ()
    if transports == "soap":
        dropped = (base_path + "/",)
    elif transports == "rest":
        dropped = ("/soap/",)
    app.router.routes[:] = [
        route
        for route in app.router.routes
        if not (dropped and isinstance(route, APIRoute) and route.path.startswith(dropped))
    ]


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """All methods of every route on ``path``: Starlette's own 405 names only the first route's."""
    methods: set[str] = set()
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(path):
            methods |= route.methods or set()
    return sorted(methods)


async def _supervised(bugs: BugLog, where: str, run: Callable[[], Awaitable[None]]) -> None:
    # A background task that dies is otherwise only noticed by its silence (no more webhooks, say).
    try:
        await run()
    except Exception as exc:
        bugs.record(where, exc)


async def _every(bugs: BugLog, where: str, seconds: float, action: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await action()
        except Exception as exc:
            bugs.record(where, exc)


async def _tick(service: WmsService) -> None:
    for order in service.book.open_orders():
        service.book.step(order)


async def _save_if_dirty(service: WmsService) -> None:
    if service.settings.state_path and service.dirty:
        service.dirty = False
        persistence.save(service, service.settings.state_path)

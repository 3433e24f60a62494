"""The operator console: server-rendered pages in Russian and English, behind a sign-in, every action checked to
come from the console's own page. ``add_console`` mounts it on the service's app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from bitrix_inflow.web.console import (
    auth,
    dashboard,
    incidents,
    jobs,
    mapping,
    marking,
    orders,
    settings_page,
)
from bitrix_inflow.web.console.context import Console
from bitrix_inflow.web.console.i18n import N_
from bitrix_inflow.web.console.pages import render
from bitrix_inflow.web.console.security import Refused, SignInNeeded, console_path

__all__ = ["ROUTERS", "Console", "add_console"]

# Every page and action of the console (the security tests walk these).
ROUTERS = (
    auth.router,
    dashboard.router,
    orders.router,
    incidents.router,
    jobs.router,
    mapping.router,
    marking.router,
    settings_page.router,
)


def add_console(app: FastAPI, console: Console) -> None:
    app.state.console = console
    app.mount(
        "/console/static", StaticFiles(directory=Path(__file__).parent / "static"), name="console-static"
    )
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    def root(request: Request) -> Response:
        return RedirectResponse(console_path(request, "/console/"), status_code=303)

    @app.exception_handler(SignInNeeded)
    def sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        if request.method in ("GET", "HEAD"):
            return auth.sign_in_redirect(request)
        return _refused(request, Refused(N_("sign in first")))

    @app.exception_handler(Refused)
    def refused(request: Request, exc: Refused) -> Response:
        return _refused(request, exc)

    @app.exception_handler(RequestValidationError)
    def malformed(request: Request, exc: RequestValidationError) -> Response:
        # A console address with a parameter that is not what it should be: a page, not FastAPI's JSON.
        if request.url.path.startswith(console_path(request, "/console")):
            return _refused(request, Refused(N_("this address is not one the console makes"), status=400))
        return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


def _refused(request: Request, exc: Refused) -> Response:
    language = auth.browser_language(request)
    return render(request, "refused.html", language=language, viewer=None, status=exc.status, why=exc.why)

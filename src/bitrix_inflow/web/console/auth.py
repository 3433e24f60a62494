"""Signing in and out, the language switch, and the dependency that gives each page its signed-in viewer."""

from __future__ import annotations

import functools
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from bitrix_inflow.ops import console as people
from bitrix_inflow.store import console as store
from bitrix_inflow.web.console.context import console_of
from bitrix_inflow.web.console.i18n import LANGUAGES, N_, Language, language_or, negotiate
from bitrix_inflow.web.console.pages import render
from bitrix_inflow.web.console.security import (
    COOKIE_PATH,
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    Refused,
    SignInNeeded,
    Viewer,
    checked_form,
    console_path,
    cookie_options,
    new_token,
)
from bitrix_inflow.web.limits import client_of

router = APIRouter(prefix="/console")


def browser_language(request: Request) -> Language:
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return language_or(chosen, "ru")
    return negotiate(request.headers.get("accept-language"), default=console_of(request).default_language)


def viewer(request: Request) -> Viewer:
    """The signed-in person of this request (run in the thread pool: it reads the database)."""
    console = console_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    session = (
        people.session_of(console.engine, token, clock=console.clock, connection_id=console.connection_id)
        if token
        else None
    )
    if session is None:
        raise SignInNeeded
    language = language_or(session.user.language, browser_language(request))
    return Viewer(session.user.id, session.user.username, session.csrf_token, language, token or "")


def safe_next(request: Request, value: object) -> str:
    """Where to go after signing in: a path of this console only (never another site, never ``//host``, never
    another tenant's console)."""
    text = value if isinstance(value, str) else ""
    home = console_path(request, "/console")
    if text.startswith(home) and not text.startswith("//") and "\\" not in text and "\n" not in text:
        return text
    return home + "/"


@router.get("/sign-in")
def sign_in_form(request: Request, next: str = "") -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    console = console_of(request)
    if (
        token
        and people.session_of(console.engine, token, clock=console.clock, connection_id=console.connection_id)
        is not None
    ):
        return RedirectResponse(safe_next(request, next), status_code=303)
    return _sign_in_page(request, safe_next(request, next))


def _sign_in_page(request: Request, target: str, *, problem: people.SignIn | None = None) -> Response:
    """The form with a fresh token of its own, in its cookie too (double submit: no sign-in CSRF)."""
    form_token = new_token()
    page = render(
        request,
        "sign_in.html",
        language=browser_language(request),
        viewer=None,
        status=401 if problem is not None else 200,
        form_token=form_token,
        next=target,
        problem=problem.why if problem is not None else None,
        until=problem.until if problem is not None else None,
    )
    page.set_cookie(SIGN_IN_COOKIE, form_token, max_age=3600, **cookie_options(request))  # type: ignore[arg-type]
    return page


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    console = console_of(request)
    if console.sign_in_limit.wait(client_of(request)):
        raise Refused(N_("too many sign-in attempts from this address: wait a minute"), status=429)
    form = await checked_form(request, expected_token=request.cookies.get(SIGN_IN_COOKIE) or "")
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    client = request.client.host if request.client else ""
    result = await run_in_threadpool(
        functools.partial(
            people.sign_in,
            console.engine,
            username,
            password,
            clock=console.clock,
            client=client,
            connection_id=console.connection_id,
        )
    )
    target = safe_next(request, form.get("next"))
    if result.token is None:
        return _sign_in_page(request, target, problem=result)
    done = RedirectResponse(target, status_code=303)
    done.set_cookie(SESSION_COOKIE, result.token, **cookie_options(request))  # type: ignore[arg-type]
    done.delete_cookie(SIGN_IN_COOKIE, path=console_path(request, COOKIE_PATH))
    return done


@router.post("/sign-out")
async def sign_out(request: Request, who: Viewer = Depends(viewer)) -> Response:  # noqa: B008 - FastAPI's way
    console = console_of(request)
    await checked_form(request, expected_token=who.csrf_token)
    await run_in_threadpool(people.sign_out, console.engine, who.token, clock=console.clock)
    done = RedirectResponse(console_path(request, "/console/sign-in"), status_code=303)
    done.delete_cookie(SESSION_COOKIE, path=console_path(request, COOKIE_PATH))
    return done


@router.post("/language")
async def choose_language(request: Request) -> Response:
    """The person's language, kept with them (or, before signing in, in a cookie of the browser)."""
    console = console_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    session = (
        await run_in_threadpool(
            people.session_of, console.engine, token, clock=console.clock, connection_id=console.connection_id
        )
        if token
        else None
    )
    expected = session.csrf_token if session is not None else request.cookies.get(SIGN_IN_COOKIE) or ""
    form = await checked_form(request, expected_token=expected)
    chosen = form.get("language")
    if chosen not in LANGUAGES:
        raise Refused(f"unknown language {chosen!r}: choose one of {', '.join(LANGUAGES)}", status=400)
    back = safe_next(request, form.get("back"))
    done = RedirectResponse(back, status_code=303)
    if session is not None:

        def keep() -> None:
            with console.engine.begin() as conn:
                store.set_language(conn, session.user.id, str(chosen), now=console.clock.now())

        await run_in_threadpool(keep)
    else:
        done.set_cookie(LANGUAGE_COOKIE, str(chosen), max_age=365 * 86400, **cookie_options(request))  # type: ignore[arg-type]
    return done


def sign_in_redirect(request: Request) -> Response:
    target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="/?=&")
    return RedirectResponse(console_path(request, f"/console/sign-in?next={target}"), status_code=303)

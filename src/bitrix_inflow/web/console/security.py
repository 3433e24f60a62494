"""Who may use the console and how a request proves it came from the console's own page.

* **Signed in**: the session cookie (HttpOnly, SameSite=Strict, path ``/console``) names a live session; a page
  asked for without one sends the browser to sign in, an action without one is refused (403).
* **Same origin**: every action (POST) must come from a console page: ``Sec-Fetch-Site`` (when the browser sends
  it) says same-origin, the ``Origin`` (or ``Referer``) names this host, and the form carries the session's CSRF
  token. The sign-in form, before any session, carries a token that must match its own cookie (no sign-in CSRF).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request
from starlette.datastructures import FormData, UploadFile

from bitrix_inflow.web.console.i18n import N_, Language
from bitrix_inflow.web.limits import body_within

SESSION_COOKIE = "bi_session"
SIGN_IN_COOKIE = "bi_sign_in"  # the sign-in form's own CSRF token
LANGUAGE_COOKIE = "bi_language"  # the language chosen before signing in
COOKIE_PATH = "/console"
FORM_LIMIT = 64 * 1024  # a console form is small; a bigger body is refused before it is parsed


@dataclass(frozen=True)
class Viewer:
    user_id: int
    username: str
    csrf_token: str
    language: Language
    token: str


class SignInNeeded(Exception):
    """No live session: a page goes to the sign-in form, an action is refused."""


class Refused(Exception):
    """A request the console will not act on (cross-site, a stale or missing CSRF token, too big): 403 or 413."""

    def __init__(self, why: str, *, status: int = 403) -> None:
        super().__init__(why)
        self.why = why
        self.status = status


def same_origin(request: Request) -> bool:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    return urlsplit(source).netloc.lower() == (request.headers.get("host") or "").lower()


async def checked_form(request: Request, *, expected_token: str) -> FormData:
    """The action's form, once it is known to come from the console's own page with the right token. Console
    forms are URL-encoded and small: another type, or a body over ``FORM_LIMIT``, is refused before parsing."""
    if not same_origin(request):
        raise Refused(N_("cross-site request"))
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refused(N_("a console form is sent URL-encoded"), status=415)
    body = await body_within(request, FORM_LIMIT)
    if body is None:
        raise Refused(N_("the form is too large"), status=413)
    try:
        pairs: list[tuple[str, str | UploadFile]] = list(
            parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        )
    except UnicodeDecodeError as exc:
        raise Refused(N_("the form is not UTF-8"), status=400) from exc
    form = FormData(pairs)
    token = form.get("csrf_token")
    if (
        not isinstance(token, str)
        or not expected_token
        or not hmac.compare_digest(token.encode(), expected_token.encode())
    ):
        raise Refused(N_("the form's security token is missing or stale: reload the page"))
    return form


def new_token() -> str:
    return secrets.token_urlsafe(32)


def root_of(request: Request) -> str:
    """Where this console is mounted: "" for the default tenant's, ``/t/<tenant>`` for another's. Every address a
    page makes starts with it, so a tenant's pages only ever lead to its own, and its cookies go nowhere else."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def console_path(request: Request, path: str) -> str:
    return root_of(request) + path


def cookie_options(request: Request) -> dict[str, object]:
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "path": console_path(request, COOKIE_PATH),
    }

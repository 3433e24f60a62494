"""Rendering a console page: the Jinja2 environment of each language (its gettext installed), the layout's context
(who is signed in, the CSRF token every form carries, the navigation), and the security headers of every answer."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bitrix_inflow.domain.incidents import way_out_text
from bitrix_inflow.web.console.context import console_of
from bitrix_inflow.web.console.i18n import N_, Language, translations, when
from bitrix_inflow.web.console.security import Viewer, root_of

# What a console page may load: its own CSS, JS and inline SVG charts; nothing from elsewhere, never in a frame.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# The words for the states an operator sees (orders, picking orders, marked units): marked for the catalog, shown
# through gettext; a state this version does not know is shown as it is.
STATES = {
    "seen": N_("seen"),
    "ineligible": N_("not forwarded (rules)"),
    "before_go_live": N_("before go-live"),
    "planned": N_("planned"),
    "forwarded": N_("forwarded"),
    "blocked": N_("blocked"),
    "conflict": N_("conflict"),
    "closed": N_("closed"),
    "sending": N_("sending"),
    "accepted": N_("accepted"),
    "cancelling": N_("cancelling"),
    "superseded": N_("replaced"),
    "short": N_("waiting for stock"),
    "failed": N_("refused by the warehouse"),
    "waiting": N_("waiting"),
    "dropped": N_("dropped"),
    "shipped": N_("shipped"),
    "returned": N_("returned"),
    "receipt_rejected": N_("receipt rejected"),
}

NAVIGATION = (
    ("dashboard", "/console/"),
    ("orders", "/console/orders"),
    ("incidents", "/console/incidents"),
    ("mapping", "/console/mapping"),
    ("settings", "/console/settings"),
    ("jobs", "/console/jobs"),
    ("marking", "/console/marking"),
)


@cache
def environment(language: Language) -> Environment:
    env = Environment(
        loader=PackageLoader("bitrix_inflow.web.console", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["when"] = lambda moment: when(moment, language)
    env.globals["language"] = language
    env.globals["navigation"] = NAVIGATION
    env.globals["way_text"] = way_out_text
    gettext = translations(language).gettext
    env.filters["state"] = lambda state: gettext(STATES[state]) if state in STATES else state
    return env


def render(
    request: Request,
    template: str,
    *,
    language: Language,
    viewer: Viewer | None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    root = root_of(request)
    path = request.url.path
    page = (
        environment(language)
        .get_template(template)
        .render(
            request_path=path.removeprefix(root),
            root=root,
            tenant=console_of(request).connection_id,
            viewer=viewer,
            **context,
        )
    )
    return HTMLResponse(page, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})

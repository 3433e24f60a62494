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
from bitrix_inflow.web.console.i18n import Language, translations, when
from bitrix_inflow.web.console.security import Viewer

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
    page = (
        environment(language)
        .get_template(template)
        .render(request_path=request.url.path, viewer=viewer, **context)
    )
    return HTMLResponse(page, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})

"""The marking ledger: every shipped marked unit, found by code (as scanned or its identity), package (SSCC), order,
GTIN or date, and exported as CSV or JSON for an audit or a fiscal provider."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from bitrix_inflow.errors import ValidationError
from bitrix_inflow.ops import marking as ops
from bitrix_inflow.web.console.auth import viewer
from bitrix_inflow.web.console.context import console_of
from bitrix_inflow.web.console.pages import SECURITY_HEADERS, render
from bitrix_inflow.web.console.security import Viewer

router = APIRouter(prefix="/console/marking")
SHOWN = 500
TEXT = "text/plain; charset=utf-8"
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


class LedgerQuery(BaseModel):
    """The search form's fields, as typed."""

    code: str = ""
    sscc: str = ""
    order: str = ""
    gtin: str = ""
    since: str = ""
    until: str = ""

    def chosen(self) -> ops.Filters:
        order = self.order.strip()
        if order and not order.isdigit():
            raise ValidationError(
                "order", f"{order!r} is not an order id", "give the shop's order id (digits)"
            )
        return ops.filters(
            code=self.code.strip() or None,
            sscc=self.sscc.strip() or None,
            order_id=int(order) if order else None,
            gtin=self.gtin.strip() or None,
            since=self.since.strip() or None,
            until=self.until.strip() or None,
        )


@router.get("")
def ledger(
    request: Request,
    query: Annotated[LedgerQuery, Query()],
    who: Viewer = Depends(viewer),  # noqa: B008
) -> Response:
    console = console_of(request)
    asked = any(v.strip() for v in query.model_dump().values())
    problem, found = None, []
    try:
        found = ops.units(console.engine, console.connection_id, query.chosen())
    except ValidationError as exc:
        problem = str(exc)
    return render(
        request,
        "marking.html",
        language=who.language,
        viewer=who,
        query=query.model_dump(),
        asked=asked,
        units=found[:SHOWN],
        total=len(found),
        shown=SHOWN,
        problem_text=problem,
        status=400 if problem else 200,
    )


@router.get("/export")
def export(
    request: Request,
    query: Annotated[LedgerQuery, Query()],
    format: str = "csv",
    who: Viewer = Depends(viewer),  # noqa: B008
) -> Response:
    console = console_of(request)
    del who  # signed in is all it takes
    if format not in FORMATS:
        return Response(
            f"format: csv or json, not {format!r}", status_code=400, headers=SECURITY_HEADERS, media_type=TEXT
        )
    try:
        chosen = query.chosen()
    except ValidationError as exc:
        return Response(str(exc), status_code=400, headers=SECURITY_HEADERS, media_type=TEXT)
    found = ops.units(console.engine, console.connection_id, chosen)
    out = io.StringIO()
    ops.write(found, format, out)
    name = f"marking-ledger-{console.clock.now():%Y%m%d-%H%M%S}.{format}"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(out.getvalue(), media_type=FORMATS[format], headers=headers)

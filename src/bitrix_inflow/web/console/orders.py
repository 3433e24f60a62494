"""Orders: found by the shop's order id or number, or by a picking order's reference or warehouse id; one order's
picking orders, and its timeline (events, jobs, statuses, incidents, marked units) in one list by time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from bitrix_inflow.ops import orders as ops
from bitrix_inflow.web.console.auth import viewer
from bitrix_inflow.web.console.context import console_of
from bitrix_inflow.web.console.pages import render
from bitrix_inflow.web.console.security import Refused, Viewer, console_path

router = APIRouter(prefix="/console/orders")


@dataclass(frozen=True)
class Moment:
    at: dt.datetime
    source: str  # bitrix | inflow | service | operator | job | incident | marking
    what: str
    detail: Any


@router.get("")
def orders(request: Request, q: str = "", who: Viewer = Depends(viewer)) -> Response:  # noqa: B008
    console = console_of(request)
    found = ops.find(console.engine, console.connection_id, q, limit=100)
    if q.strip() and len(found) == 1:
        return RedirectResponse(
            console_path(request, f"/console/orders/{found[0].bitrix_order_id}"), status_code=303
        )
    return render(request, "orders.html", language=who.language, viewer=who, found=found, q=q)


@router.get("/{order_id}")
def one(request: Request, order_id: int, who: Viewer = Depends(viewer)) -> Response:  # noqa: B008
    console = console_of(request)
    seen = ops.view(console.engine, console.connection_id, order_id)
    if seen is None:
        raise Refused(f"the service has not seen order {order_id}", status=404)
    moments = [Moment(at, source, kind, detail) for at, source, kind, detail in seen.timeline]
    moments += [
        Moment(j.created_at, "job", f"{j.kind}: {j.status.value}", j.last_error or "") for j in seen.jobs
    ]
    moments += [
        Moment(i.created_at, "incident", i.kind, {"id": i.id, "state": i.state}) for i in seen.incidents
    ]
    moments.sort(key=lambda m: m.at)
    return render(
        request,
        "order.html",
        language=who.language,
        viewer=who,
        order_id=order_id,
        seen=seen,
        moments=moments,
    )

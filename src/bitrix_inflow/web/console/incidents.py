"""The incidents inbox: every open problem with the manager's message, its ways out as buttons, a confirmation
before anything is done, and the trail of who did what."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from bitrix_inflow.domain.incidents import Message, WayOut, message, ways_out
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.ops import incidents as ops
from bitrix_inflow.store import incidents as store
from bitrix_inflow.store import orders as orders_store
from bitrix_inflow.web.console.auth import viewer
from bitrix_inflow.web.console.context import Console, console_of
from bitrix_inflow.web.console.i18n import Language
from bitrix_inflow.web.console.pages import render
from bitrix_inflow.web.console.security import Refused, Viewer, checked_form, console_path

router = APIRouter(prefix="/console/incidents")

# Ways out that change both systems: the confirmation says so.
WEIGHTY = frozenset({WayOut.CANCEL, WayOut.SUBSTITUTE, WayOut.SHIP_REST})


def _mine(console: Console, incident_id: int) -> ops.Shown:
    """The incident with its trail, if it belongs to this console's shop (another's is as good as missing)."""
    try:
        shown = ops.show(console.engine, incident_id)
    except ValidationError as exc:
        raise Refused(str(exc), status=404) from exc
    if shown.incident.connection_id != console.connection_id:
        raise Refused(f"incident {incident_id} does not exist", status=404)
    return shown


def _account(console: Console, order_id: int) -> str:
    with console.engine.connect() as conn:
        binding = orders_store.load_binding(conn, console.connection_id, order_id)
    return (binding.account_number if binding is not None else None) or str(order_id)


def _told(console: Console, incident: store.Incident, language: Language) -> Message:
    """What the manager was told, in the viewer's language."""
    return message(
        incident.kind,
        incident_id=incident.id,
        account=_account(console, incident.order_id),
        detail=incident.detail,
        order_link=None,
        language=language,
        with_ways=False,
    )


@router.get("")
def inbox(request: Request, everything: bool = False, who: Viewer = Depends(viewer)) -> Response:  # noqa: B008
    console = console_of(request)
    found = ops.inbox(console.engine, connection_id=console.connection_id, everything=everything, limit=500)
    rows = [(incident, _told(console, incident, who.language).title) for incident in found]
    return render(
        request, "incidents.html", language=who.language, viewer=who, rows=rows, everything=everything
    )


@router.get("/{incident_id}")
def one(request: Request, incident_id: int, who: Viewer = Depends(viewer)) -> Response:  # noqa: B008
    console = console_of(request)
    shown = _mine(console, incident_id)
    incident = shown.incident
    told = _told(console, incident, who.language)
    return render(
        request,
        "incident.html",
        language=who.language,
        viewer=who,
        incident=incident,
        told=told,
        trail=shown.trail,
        ways=[w.value for w in ways_out(incident.kind) if w.value in incident.ways_out],
    )


@router.get("/{incident_id}/choose")
def confirm(request: Request, incident_id: int, way: str, who: Viewer = Depends(viewer)) -> Response:  # noqa: B008
    """The confirmation: what the way out will do, and (substitute) the SKU to put in the failed one's place."""
    console = console_of(request)
    incident = _mine(console, incident_id).incident
    if way not in incident.ways_out:
        raise Refused(f"{way!r} is not a way out of this incident", status=400)
    return _confirmation(request, who, incident, way)


def _confirmation(
    request: Request, who: Viewer, incident: store.Incident, way: str, *, problem: str | None = None
) -> Response:
    return render(
        request,
        "incident_confirm.html",
        language=who.language,
        viewer=who,
        incident=incident,
        way=way,
        weighty=way in WEIGHTY,
        problem_text=problem,
        status=400 if problem else 200,
    )


@router.post("/{incident_id}/resolve")
async def resolve(request: Request, incident_id: int, who: Viewer = Depends(viewer)) -> Response:  # noqa: B008
    console = console_of(request)
    form = await checked_form(request, expected_token=who.csrf_token)
    incident = (await run_in_threadpool(_mine, console, incident_id)).incident
    way = str(form.get("way") or "")
    sku = str(form.get("sku") or "").strip() or None
    try:
        await run_in_threadpool(
            ops.resolve,
            console.engine,
            incident.id,
            way,
            actor=f"console:{who.username}",
            clock=console.clock,
            sku=sku,
        )
    except ValidationError as exc:
        return _confirmation(request, who, incident, way, problem=str(exc))
    return RedirectResponse(
        console_path(request, f"/console/incidents/{incident.id}?chosen={way}"), status_code=303
    )

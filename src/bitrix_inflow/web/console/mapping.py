"""The status mapping editor: each warehouse status with the shop status it sets, checked against the statuses the
shop has, saved whole or not at all, in force for the next status the service applies (the jobs read the table at
each run), and audited (who, when, from what to what)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from bitrix_inflow.domain.status_mapping import INFLOW_STATUSES
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.ops import mapping as ops
from bitrix_inflow.store import status_map
from bitrix_inflow.web.console.auth import viewer
from bitrix_inflow.web.console.context import Console, console_of
from bitrix_inflow.web.console.i18n import N_
from bitrix_inflow.web.console.pages import render
from bitrix_inflow.web.console.security import Refused, Viewer, checked_form, console_path

router = APIRouter(prefix="/console/mapping")
KEEP = ""  # the form's value for "the order keeps its status"


def _page(
    request: Request,
    who: Viewer,
    *,
    chosen: Mapping[str, str] | None = None,
    problems: Mapping[str, str] | None = None,
    saved: bool = False,
) -> Response:
    console = console_of(request)
    entries = ops.show(console.engine, connection_id=console.connection_id)
    current = {e.inflow_status: e.bitrix_status or KEEP for e in entries}
    return render(
        request,
        "mapping.html",
        language=who.language,
        viewer=who,
        statuses=INFLOW_STATUSES,
        chosen=dict(chosen) if chosen is not None else current,
        current=current,
        shop=console.shop_statuses(),
        problems=dict(problems or {}),
        saved=saved,
        history=ops.history(console.engine, connection_id=console.connection_id, limit=50),
        seen=_latest(console),
        status=400 if problems else 200,
    )


@router.get("")
def mapping(request: Request, saved: bool = False, who: Viewer = Depends(viewer)) -> Response:  # noqa: B008
    return _page(request, who, saved=saved)


def _latest(console: Console) -> int:
    with console.engine.connect() as conn:
        return status_map.latest_change(conn, console.connection_id)


STALE = N_("someone changed the table meanwhile: reload the page to see it; nothing was saved")


def check_against_shop(console: Console, table: Mapping[str, str]) -> dict[str, str]:
    """Each chosen status the shop does not have (its order statuses, type O), by warehouse status."""
    shop = console.shop_statuses()
    if shop is None:
        return {}
    return {
        inflow: f"the shop has no order status {bitrix!r}: choose one of {', '.join(sorted(shop))}"
        for inflow, bitrix in table.items()
        if bitrix not in shop
    }


def _said(problem: ValidationError) -> str:
    return problem.problem + (f" ({problem.fix})" if problem.fix else "")


@router.post("")
async def save(request: Request, who: Viewer = Depends(viewer)) -> Response:  # noqa: B008
    console = console_of(request)
    form = await checked_form(request, expected_token=who.csrf_token)
    chosen = {status: str(form.get(f"status-{status}") or KEEP).strip().upper() for status in INFLOW_STATUSES}
    table = {inflow: bitrix for inflow, bitrix in chosen.items() if bitrix != KEEP}
    if str(form.get("seen") or "") != str(await run_in_threadpool(_latest, console)):
        # The form saves the whole table: one shown before a colleague's change would silently undo it.
        raise Refused(STALE, status=409)
    problems = await run_in_threadpool(check_against_shop, console, table)
    if not problems:
        try:
            await run_in_threadpool(
                ops.import_table,
                console.engine,
                table,
                clock=console.clock,
                actor=f"console:{who.username}",
                connection_id=console.connection_id,
            )
        except* ValidationError as group:
            problems = {e.field: _said(e) for e in group.exceptions if isinstance(e, ValidationError)}
    if problems:
        return await run_in_threadpool(lambda: _page(request, who, chosen=chosen, problems=problems))
    return RedirectResponse(console_path(request, "/console/mapping?saved=true"), status_code=303)

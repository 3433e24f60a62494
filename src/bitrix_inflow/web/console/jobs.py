"""The job queue as an operator acts on it: what waits, runs and died (with its last error); retry or discard one
job or a chosen set."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.ops import jobs as ops
from bitrix_inflow.store import console as audit
from bitrix_inflow.web.console.auth import viewer
from bitrix_inflow.web.console.context import console_of
from bitrix_inflow.web.console.i18n import N_
from bitrix_inflow.web.console.pages import render
from bitrix_inflow.web.console.security import Refused, Viewer, checked_form

router = APIRouter(prefix="/console/jobs")

SHOWN = 200


def _page(
    request: Request, who: Viewer, status: str | None, *, outcome: list[ops.JobActionResult] | None = None
) -> Response:
    console = console_of(request)
    chosen = [JobStatus(status)] if status in {s.value for s in JobStatus} else None
    listing = ops.list_jobs(console.engine, statuses=chosen, limit=SHOWN, connection_id=console.connection_id)
    return render(
        request,
        "jobs.html",
        language=who.language,
        viewer=who,
        listing=listing,
        chosen=status or "",
        statuses=[s.value for s in JobStatus],
        outcome=outcome or [],
    )


@router.get("")
def jobs(request: Request, status: str | None = None, who: Viewer = Depends(viewer)) -> Response:  # noqa: B008
    return _page(request, who, status)


@router.post("")
async def act(request: Request, who: Viewer = Depends(viewer)) -> Response:  # noqa: B008
    """Retry or discard the ticked jobs (or the one whose button was pressed)."""
    console = console_of(request)
    form = await checked_form(request, expected_token=who.csrf_token)
    one = str(form.get("one") or "")
    # A row's own button names its job ("retry:17"); the buttons above the table act on the ticked ones.
    action, _, single = one.partition(":") if one else (str(form.get("action") or ""), "", "")
    if action not in ("retry", "discard"):
        raise Refused(N_("choose retry or discard"), status=400)
    try:
        ids = [int(single)] if single else sorted({int(str(v)) for v in form.getlist("job")})
    except ValueError as exc:
        raise Refused(N_("a job number is not a number"), status=400) from exc
    if not ids:
        raise Refused(N_("no job was chosen"), status=400)
    change = ops.retry if action == "retry" else ops.discard
    actor = f"console:{who.username}"

    def run() -> list[ops.JobActionResult]:
        done = change(
            console.engine, ids, clock=console.clock, actor=actor, connection_id=console.connection_id
        )
        with console.engine.begin() as conn:
            audit.audit(
                conn,
                actor=actor,
                action=f"job.{action}",
                target=f"{len(ids)} job(s)",
                detail={
                    "ids": ids,
                    "done": [r.job_id for r in done if r.ok],
                    "refused": {r.job_id: str(r.refused) for r in done if not r.ok},
                },
                connection_id=console.connection_id,
                now=console.clock.now(),
            )
        return done

    outcome = await run_in_threadpool(run)
    status = form.get("status")
    return await run_in_threadpool(_page, request, who, str(status) if status else None, outcome=outcome)

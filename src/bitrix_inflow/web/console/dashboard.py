"""The dashboard: both connections' health, every schedule's last and next run, and the last day in charts."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.ops import jobs as jobs_ops
from bitrix_inflow.web.console.auth import viewer
from bitrix_inflow.web.console.context import console_of
from bitrix_inflow.web.console.incidents import open_count
from bitrix_inflow.web.console.pages import render
from bitrix_inflow.web.console.security import Viewer

router = APIRouter(prefix="/console")


@router.get("/")
def dashboard(request: Request, who: Viewer = Depends(viewer)) -> Response:  # noqa: B008
    console = console_of(request)
    listing = jobs_ops.list_jobs(console.engine, limit=1, connection_id=console.connection_id)
    return render(
        request,
        "dashboard.html",
        language=who.language,
        viewer=who,
        incidents=open_count(console),
        dead=listing.counts.get(JobStatus.DEAD, 0),
        queued=listing.counts.get(JobStatus.QUEUED, 0),
        running=listing.counts.get(JobStatus.RUNNING, 0),
    )

"""The dashboard: both connections' health, every schedule's last and next run, the oldest waiting job, and the
last day in charts (orders sent, shop quantities written, jobs that died, incidents opened)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bitrix_inflow.ops import dashboard as ops
from bitrix_inflow.web.console.auth import viewer
from bitrix_inflow.web.console.charts import bars
from bitrix_inflow.web.console.context import console_of, schedules_of
from bitrix_inflow.web.console.i18n import N_, translations
from bitrix_inflow.web.console.pages import render
from bitrix_inflow.web.console.security import Viewer

router = APIRouter(prefix="/console")


CHARTS = (
    ("forwarded", N_("Picking orders the warehouse accepted, per hour"), ""),
    (
        "stock_written",
        N_("Products whose shop quantity was written, per hour (the latest write of each)"),
        "",
    ),
    ("dead", N_("Jobs that failed for good, per hour"), "bad"),
    ("incidents", N_("Incidents opened, per hour"), "bad"),
)


@router.get("/")
def dashboard(request: Request, who: Viewer = Depends(viewer)) -> Response:  # noqa: B008
    console = console_of(request)
    seen = ops.read(console.engine, console.connection_id, schedules_of(console), now=console.clock.now())
    gettext = translations(who.language).gettext
    labels = [f"{hour:%H}:00" for hour in seen.hourly.hours]
    charts = []
    for key, title, tone in CHARTS:
        values = getattr(seen.hourly, key)
        charts.append(
            (key, gettext(title), sum(values), bars(values, labels, title=gettext(title), tone=tone))
        )
    return render(
        request,
        "dashboard.html",
        language=who.language,
        viewer=who,
        seen=seen,
        charts=charts,
        health=console.connections(),
        now=console.clock.now(),
    )

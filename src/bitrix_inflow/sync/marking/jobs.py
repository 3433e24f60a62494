"""The marking flow's jobs: the warehouse's returns feed read every ``schedules.statuses_seconds``
(``marking.returns``), and the returned order's status written (``marking.returned``, under the order's lock). Off
without ``[orders] go_live``, like the orders flow."""

from __future__ import annotations

import datetime as dt

from bitrix_inflow.config import Settings
from bitrix_inflow.jobs.blueprint import Blueprint
from bitrix_inflow.jobs.registry import JobContext
from bitrix_inflow.jobs.scheduler import Schedule
from bitrix_inflow.store import status_map
from bitrix_inflow.store.engine import reading
from bitrix_inflow.sync.marking.returns import RETURNED_KIND, mark_returned, read_returns
from bitrix_inflow.sync.orders.jobs import open_sides
from bitrix_inflow.timing import SystemClock

RETURNS_KIND = "marking.returns"

blueprint: Blueprint[Settings] = Blueprint("marking")


@blueprint.task(RETURNS_KIND)
def returns(ctx: JobContext, settings: Settings) -> None:
    with open_sides(settings) as (wms, _):
        report = read_returns(ctx.engine, wms, clock=SystemClock(), connection_id=ctx.job.connection_id)
    if report.taken:
        ctx.log.info("marking.returns_read", returns=report.taken, units=report.units_returned)


@blueprint.task(RETURNED_KIND)
def returned(ctx: JobContext, settings: Settings) -> None:
    status = settings.orders.returned_status
    if not status:
        return  # the manager was told by the return's incident; the order's status stays
    with reading(ctx.engine).connect() as conn:
        mapping = status_map.load(conn, ctx.job.connection_id)
    with open_sides(settings) as (_, shop):
        mark_returned(
            ctx.engine,
            shop,
            mapping,
            int(ctx.payload["order_id"]),
            status=status,
            clock=SystemClock(),
            connection_id=ctx.job.connection_id,
        )


@blueprint.periodic
def returns_feed(settings: Settings) -> Schedule | None:
    if settings.orders.go_live is None or not settings.marking.enabled:
        return None
    if settings.inflow is not None and settings.inflow.transport == "soap":
        return None  # the SOAP interface has no returns feed (returns are read over REST only)
    every = dt.timedelta(seconds=settings.schedules.statuses_seconds)
    return Schedule(name="marking.returns", every=every, kind=RETURNS_KIND, lock_key="marking:returns")

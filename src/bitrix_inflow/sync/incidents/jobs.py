"""The incidents flow's jobs: ``incidents.tell`` (queued with each incident) tells the manager once, and a sweep
every ten minutes queues it again for any incident whose manager is still not told (its job gave up, say, while
the shop was down), so no incident stays silent."""

from __future__ import annotations

import datetime as dt

from bitrix_inflow.config import Settings
from bitrix_inflow.jobs.blueprint import Blueprint
from bitrix_inflow.jobs.registry import JobContext
from bitrix_inflow.jobs.scheduler import Schedule
from bitrix_inflow.store import incidents as store
from bitrix_inflow.sync.incidents.bitrix_channel import BitrixManagerChannel
from bitrix_inflow.sync.incidents.inbox import TELL_KIND, queue_telling
from bitrix_inflow.sync.incidents.release import RELEASE_KIND, release_reservations
from bitrix_inflow.sync.incidents.tell import tell_manager
from bitrix_inflow.sync.incidents.ways import CARRY_OUT_KIND, carry_out, queue_carrying_out
from bitrix_inflow.sync.marking.bitrix_shop import marking_shop_for
from bitrix_inflow.sync.orders.bitrix_shop import BitrixOrdersShop
from bitrix_inflow.sync.sides import open_clients
from bitrix_inflow.timing import SystemClock

SWEEP_KIND = "incidents.sweep"
SWEEP_EVERY = dt.timedelta(minutes=10)

blueprint: Blueprint[Settings] = Blueprint("incidents")


@blueprint.task(TELL_KIND)
def tell(ctx: JobContext, settings: Settings) -> None:
    language = settings.bitrix.language if settings.bitrix is not None else "ru"
    with open_clients(settings) as (_, gateway):
        told = tell_manager(
            ctx.engine,
            BitrixManagerChannel(gateway),
            int(ctx.payload["incident_id"]),
            clock=SystemClock(),
            language=language,
        )
    if told is not None:
        ctx.log.info("incidents.manager_told", incident_id=ctx.payload["incident_id"], by=told.kind)


@blueprint.task(CARRY_OUT_KIND)
def carried_out(ctx: JobContext, settings: Settings) -> None:
    with open_clients(settings) as (wms, gateway):
        outcome = carry_out(
            ctx.engine, wms, BitrixOrdersShop(gateway), int(ctx.payload["incident_id"]), clock=SystemClock()
        )
    ctx.log.info("incidents.carried_out", incident_id=ctx.payload["incident_id"], outcome=outcome)


@blueprint.task(RELEASE_KIND)
def released(ctx: JobContext, settings: Settings) -> None:
    with open_clients(settings) as (_, gateway):
        release_reservations(
            ctx.engine,
            marking_shop_for(settings, gateway),
            ctx.job.connection_id,
            int(ctx.payload["order_id"]),
            [int(b) for b in ctx.payload["basket_ids"]],
            clock=SystemClock(),
        )


@blueprint.task(SWEEP_KIND)
def sweep(ctx: JobContext, settings: Settings) -> None:
    del settings
    with ctx.engine.begin() as conn:
        now = ctx.now()
        untold = store.untold(conn, ctx.job.connection_id, older_than=now - SWEEP_EVERY)
        for incident_id in untold:
            queue_telling(conn, ctx.job.connection_id, incident_id, now=now)
        stuck = store.stuck_resolving(conn, ctx.job.connection_id, older_than=now - SWEEP_EVERY)
        for incident_id in stuck:
            queue_carrying_out(conn, ctx.job.connection_id, incident_id, now=now)
        ctx.complete_in(
            conn, note=f"{len(untold)} incidents to tell again, {len(stuck)} ways out to carry out again"
        )


@blueprint.periodic
def sweep_untold(settings: Settings) -> Schedule | None:
    del settings
    return Schedule(name=SWEEP_KIND, every=SWEEP_EVERY, kind=SWEEP_KIND, lock_key="incidents:sweep")

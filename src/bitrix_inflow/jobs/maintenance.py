"""Housekeeping every deployment runs: pruning finished jobs, old schedule slots, rows of vanished workers."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from bitrix_inflow.jobs import presence, queue, scheduler
from bitrix_inflow.jobs.blueprint import Blueprint
from bitrix_inflow.jobs.registry import JobContext
from bitrix_inflow.jobs.scheduler import Schedule

PRUNE_KIND = "maintenance.prune"
PRUNE_EVERY = dt.timedelta(hours=6)
# A worker that has not heartbeated for a day crashed or was stopped without unregistering (kill -9, power loss).
VANISHED_WORKER_AFTER = dt.timedelta(days=1)


class _Retention(Protocol):
    keep_finished_days: int


class RetentionSettings(Protocol):
    """The part of the service's settings housekeeping needs (the job engine does not depend on ``config``)."""

    @property
    def jobs(self) -> _Retention: ...


# Once for the deployment: pruning covers every tenant's rows.
blueprint: Blueprint[RetentionSettings] = Blueprint("maintenance", per_tenant=False)


@blueprint.task(PRUNE_KIND)
def prune(ctx: JobContext, settings: RetentionSettings) -> None:
    """Delete done/cancelled jobs and schedule slots older than ``keep_days`` and the rows of vanished workers.

    Dead jobs stay until an operator acts on them. The job's own ``keep_days`` (set when it was queued) wins over
    the settings, so a retention changed meanwhile applies from the next slot on.
    """
    keep_days = int(ctx.payload.get("keep_days", settings.jobs.keep_finished_days))
    cutoff = ctx.now() - dt.timedelta(days=keep_days)
    with ctx.engine.begin() as conn:
        removed_jobs = queue.prune_finished(conn, finished_before=cutoff)
        removed_slots = scheduler.prune_slots(conn, older_than=cutoff)
        removed_workers = presence.prune_vanished(conn, silent_since=ctx.now() - VANISHED_WORKER_AFTER)
        ctx.complete_in(
            conn,
            note=f"pruned {removed_jobs} jobs, {removed_slots} schedule slots, {removed_workers} vanished workers",
        )
    ctx.log.info(
        "maintenance.pruned",
        jobs=removed_jobs,
        slots=removed_slots,
        workers=removed_workers,
        cutoff=cutoff.isoformat(),
    )


@blueprint.periodic
def prune_schedule(settings: RetentionSettings) -> Schedule:
    return Schedule(
        name=PRUNE_KIND,
        every=PRUNE_EVERY,
        kind=PRUNE_KIND,
        payload={"keep_days": settings.jobs.keep_finished_days},
    )

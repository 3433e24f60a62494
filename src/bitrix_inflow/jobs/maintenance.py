"""Housekeeping jobs every deployment runs: pruning finished jobs, old schedule slots, rows of vanished workers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete

from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.jobs.registry import JobContext, JobRegistry
from bitrix_inflow.store.tables import jobs, schedule_slots, workers

PRUNE_KIND = "maintenance.prune"
# A worker that has not heartbeated for a day crashed or was stopped without unregistering (kill -9, power loss).
VANISHED_WORKER_AFTER = dt.timedelta(days=1)


def prune(ctx: JobContext) -> None:
    """Delete done/cancelled jobs and schedule slots older than ``keep_days`` and the rows of vanished workers.

    Dead jobs stay until an operator acts on them.
    """
    keep_days = int(ctx.payload.get("keep_days", 14))
    cutoff = ctx.now() - dt.timedelta(days=keep_days)
    with ctx.engine.begin() as conn:
        removed_jobs = conn.execute(
            delete(jobs).where(
                jobs.c.status.in_([JobStatus.DONE.value, JobStatus.CANCELLED.value]),
                jobs.c.finished_at < cutoff,
            )
        ).rowcount
        removed_slots = conn.execute(delete(schedule_slots).where(schedule_slots.c.slot < cutoff)).rowcount
        removed_workers = conn.execute(
            delete(workers).where(workers.c.heartbeat_at < ctx.now() - VANISHED_WORKER_AFTER)
        ).rowcount
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


def register(registry: JobRegistry) -> None:
    registry.register(PRUNE_KIND, prune)

"""Housekeeping jobs every deployment runs: pruning finished jobs and old schedule slots."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete

from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.jobs.registry import JobContext, JobRegistry
from bitrix_inflow.store.tables import jobs, schedule_slots

PRUNE_KIND = "maintenance.prune"


def prune(ctx: JobContext) -> None:
    """Delete done/cancelled jobs and schedule slots older than ``keep_days``; dead jobs stay until an operator acts."""
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
        ctx.complete_in(conn, note=f"pruned {removed_jobs} jobs and {removed_slots} schedule slots")
    ctx.log.info("maintenance.pruned", jobs=removed_jobs, slots=removed_slots, cutoff=cutoff.isoformat())


def register(registry: JobRegistry) -> None:
    registry.register(PRUNE_KIND, prune)

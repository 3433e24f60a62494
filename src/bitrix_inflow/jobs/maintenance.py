"""Housekeeping jobs every deployment runs: pruning finished jobs, old schedule slots, rows of vanished workers."""

from __future__ import annotations

import datetime as dt

from bitrix_inflow.jobs import presence, queue, scheduler
from bitrix_inflow.jobs.registry import JobContext, JobRegistry

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


def register(registry: JobRegistry) -> None:
    registry.register(PRUNE_KIND, prune)

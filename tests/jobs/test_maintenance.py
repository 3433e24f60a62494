from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine, select

from bitrix_inflow.jobs import maintenance, presence, queue
from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.jobs.registry import JobRegistry
from bitrix_inflow.jobs.scheduler import Schedule, tick
from bitrix_inflow.jobs.worker import Worker
from bitrix_inflow.store.tables import schedule_slots, workers

LEASE = dt.timedelta(seconds=60)


def finish(engine: Engine, clock: Any, status: JobStatus) -> int:
    with engine.begin() as conn:
        job_id = queue.enqueue(conn, "k", {}, now=clock.now()).job_id
    job = queue.claim(engine, "w", now=clock.now(), lease=LEASE, kinds=["k"])
    assert job is not None and job.id == job_id
    if status is JobStatus.DONE:
        with engine.begin() as conn:
            queue.mark_done(conn, job, "w", now=clock.now())
    else:
        queue.mark_dead(engine, job, "w", now=clock.now(), error="PermanentError: x")
    return job_id


def test_prune_keeps_recent_history_dead_jobs_and_live_workers(engine: Engine, clock: Any) -> None:
    old_done = finish(engine, clock, JobStatus.DONE)
    old_dead = finish(engine, clock, JobStatus.DEAD)
    tick(
        engine,
        [Schedule(name="s", every=dt.timedelta(minutes=5), kind="x")],
        now=clock.now(),
        instance_id="i",
    )
    with engine.begin() as conn:
        presence.touch(conn, "vanished", hostname="h", pid=1, now=clock.now())
    clock.advance(15 * 86400)
    recent_done = finish(engine, clock, JobStatus.DONE)
    with engine.begin() as conn:
        presence.touch(conn, "alive", hostname="h", pid=2, now=clock.now())
        prune_id = queue.enqueue(conn, maintenance.PRUNE_KIND, {"keep_days": 14}, now=clock.now()).job_id

    registry = JobRegistry()
    maintenance.blueprint.register_into(
        registry, SimpleNamespace(jobs=SimpleNamespace(keep_finished_days=14))
    )
    assert Worker(engine, registry, clock=clock, worker_id="alive").run_one()

    with engine.connect() as conn:
        remaining = {job.id for job in queue.list_jobs(conn, limit=100)}
        pruned = queue.get(conn, prune_id)
        worker_ids = set(conn.execute(select(workers.c.id)).scalars())
        slots = conn.execute(select(schedule_slots.c.id)).all()
    assert old_done not in remaining
    assert {old_dead, recent_done, prune_id} <= remaining
    assert worker_ids == {"alive"}
    assert slots == []
    assert pruned is not None and pruned.status is JobStatus.DONE
    assert pruned.last_error == "pruned 1 jobs, 1 schedule slots, 1 vanished workers"

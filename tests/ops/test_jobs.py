"""Job retry/discard and the listing on both databases: several ids, one answer each."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine
from structlog.testing import capture_logs

from bitrix_inflow.errors import JobStateError
from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.ops import jobs
from bitrix_inflow.timing import Clock

ACTOR = "cli:alice"


def put(engine: Engine, clock: Clock, kind: str = "sync.order") -> int:
    with engine.begin() as conn:
        return queue.enqueue(conn, kind, {}, now=clock.now()).job_id


def bury(engine: Engine, clock: Clock, job_id: int) -> None:
    job = queue.claim(engine, "w", now=clock.now(), lease=dt.timedelta(seconds=30))
    assert job is not None and job.id == job_id
    assert queue.mark_dead(engine, job, "w", now=clock.now(), error="PermanentError: no mapping")


def test_listing_counts_the_whole_queue_and_filters_the_rows(engine: Engine, clock: Clock) -> None:
    dead = put(engine, clock, "sync.order")
    bury(engine, clock, dead)
    queued = put(engine, clock, "sync.stock")
    listing = jobs.list_jobs(engine, statuses=[JobStatus.QUEUED])
    assert [job.id for job in listing.jobs] == [queued]
    assert listing.counts[JobStatus.DEAD] == 1 and listing.counts[JobStatus.QUEUED] == 1
    assert set(listing.counts) == set(JobStatus)
    assert [job.id for job in jobs.list_jobs(engine, kind="sync.order").jobs] == [dead]
    assert [job.id for job in jobs.list_jobs(engine, limit=1).jobs] == [queued]  # newest first


def test_retry_answers_each_id_and_one_refusal_does_not_stop_the_others(engine: Engine, clock: Clock) -> None:
    dead = put(engine, clock)
    bury(engine, clock, dead)
    queued = put(engine, clock)
    with capture_logs() as logs:
        results = jobs.retry(engine, [queued, dead, 999_999], clock=clock, actor=ACTOR)
    assert [r.job_id for r in results] == [queued, dead, 999_999]
    assert [r.ok for r in results] == [False, True, False]
    assert isinstance(results[0].refused, JobStateError)
    assert "only dead or cancelled" in str(results[0].refused)
    assert "does not exist" in str(results[2].refused)
    retried = results[1].job
    assert retried is not None and (retried.status, retried.attempts) == (JobStatus.QUEUED, 0)
    assert retried.run_after == clock.now()
    assert [(e["event"], e["job_id"], e["actor"]) for e in logs] == [("ops.job_retried", dead, ACTOR)]


def test_discard_cancels_queued_and_dead_jobs_and_refuses_a_running_one(engine: Engine, clock: Clock) -> None:
    dead = put(engine, clock)
    bury(engine, clock, dead)
    queued = put(engine, clock)
    running = put(engine, clock)
    claimed = queue.claim(engine, "w", now=clock.now(), lease=dt.timedelta(seconds=30))
    assert claimed is not None and claimed.id == queued  # the older of the two queued jobs
    results = jobs.discard(engine, [dead, queued, running], clock=clock, actor=ACTOR)
    assert [r.ok for r in results] == [True, False, True]
    assert [r.job.status for r in results if r.job] == [JobStatus.CANCELLED, JobStatus.CANCELLED]
    assert "is running" in str(results[1].refused)
    assert results[0].job is not None and results[0].job.finished_at == clock.now()

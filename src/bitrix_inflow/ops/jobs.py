"""The job queue as operators act on it: list with counts, retry and discard several jobs at once.

Retry and discard answer per id: one job that cannot be retried (it is running, it does not exist) does not stop
the others, and each refusal says why (:class:`~bitrix_inflow.errors.JobStateError`). The state change itself and
its guarantees live in :mod:`bitrix_inflow.jobs.queue`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog
from sqlalchemy import Engine

from bitrix_inflow.errors import JobStateError
from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import Job, JobStatus
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.ops")


@dataclass(frozen=True)
class JobListing:
    counts: Mapping[JobStatus, int]  # every status, over the whole queue, whatever the filter
    jobs: Sequence[Job]  # newest first


@dataclass(frozen=True)
class JobActionResult:
    job_id: int
    job: Job | None = None  # the job after the change, when it was made
    refused: JobStateError | None = None  # why it was not, when it was not

    @property
    def ok(self) -> bool:
        return self.refused is None


def list_jobs(
    engine: Engine,
    *,
    statuses: Sequence[JobStatus] | None = None,
    kind: str | None = None,
    limit: int = 50,
    connection_id: str | None = None,
) -> JobListing:
    with engine.connect() as conn:
        counts = queue.count_by_status(conn, connection_id=connection_id)
        jobs = queue.list_jobs(conn, statuses=statuses, kind=kind, limit=limit, connection_id=connection_id)
    return JobListing(counts, jobs)


def retry(
    engine: Engine, job_ids: Iterable[int], *, clock: Clock, actor: str, connection_id: str | None = None
) -> list[JobActionResult]:
    """Put dead or cancelled jobs back in the queue with a fresh attempt budget (of ``connection_id`` only, when
    given: another pair's job is as good as missing)."""
    return _each(
        engine,
        job_ids,
        queue.retry_now,
        "ops.job_retried",
        clock=clock,
        actor=actor,
        connection_id=connection_id,
    )


def discard(
    engine: Engine, job_ids: Iterable[int], *, clock: Clock, actor: str, connection_id: str | None = None
) -> list[JobActionResult]:
    """Cancel queued or dead jobs so they never run."""
    return _each(
        engine,
        job_ids,
        queue.discard,
        "ops.job_discarded",
        clock=clock,
        actor=actor,
        connection_id=connection_id,
    )


def _of_connection(engine: Engine, job_id: int, connection_id: str | None) -> None:
    """Another pair's job is as good as missing to whoever acts for this pair."""
    if connection_id is None:
        return
    with engine.connect() as conn:
        found = queue.get(conn, job_id)
    if found is None or found.connection_id != connection_id:
        raise JobStateError(f"job {job_id} does not exist")


class _StateChange(Protocol):
    def __call__(self, engine: Engine, job_id: int, *, now: dt.datetime) -> Job: ...


def _each(
    engine: Engine,
    job_ids: Iterable[int],
    change: _StateChange,
    event: str,
    *,
    clock: Clock,
    actor: str,
    connection_id: str | None,
) -> list[JobActionResult]:
    results: list[JobActionResult] = []
    for job_id in job_ids:
        try:
            _of_connection(engine, job_id, connection_id)
            job = change(engine, job_id, now=clock.now())
        except JobStateError as exc:
            results.append(JobActionResult(job_id, refused=exc))
        else:
            log.info(event, job_id=job.id, job_kind=job.kind, status=job.status.value, actor=actor)
            results.append(JobActionResult(job_id, job=job))
    return results

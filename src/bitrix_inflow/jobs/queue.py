"""Every statement that touches the ``jobs`` table. The database, not Python, guarantees the invariants.

State changes made by a worker are *fenced*: they only apply while the row is still running under that worker's
lease and attempt number, so a worker that lost its lease (it stalled, the reaper re-queued its job and another
worker took it) can never overwrite the newer attempt's outcome.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from bitrix_inflow.errors import JobStateError, TransientError
from bitrix_inflow.jobs.model import EnqueueResult, Job, JobStatus
from bitrix_inflow.store.sql import insert_ignoring_conflict, param, prepared
from bitrix_inflow.store.tables import jobs

DEFAULT_CONNECTION = "default"


def per_connection(key: str, connection_id: str) -> str:
    """A lock or coalescing key made one tenant's: two shops' runs never wait on, nor join, each other. The default
    tenant keeps its key as it was before tenants, so jobs queued before an upgrade keep their lock."""
    return key if connection_id == DEFAULT_CONNECTION else f"{key}@{connection_id}"


DEFAULT_MAX_ATTEMPTS = 8
_DEDUPE_ROUNDS = 3
_ACTIVE = jobs.c.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value])
# The partial index's own predicate, as literal SQL: PostgreSQL picks the arbiter index of ON CONFLICT while it
# plans, and a statement psycopg has prepared (from its sixth run on a connection) gets a generic plan in which a
# bound "status IN ($1, $2)" proves nothing about the index ("no unique or exclusion constraint matching").
_ACTIVE_INDEX_PREDICATE = text(f"status IN ('{JobStatus.QUEUED.value}', '{JobStatus.RUNNING.value}')")


def enqueue(
    conn: Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    now: dt.datetime,
    connection_id: str = DEFAULT_CONNECTION,
    dedupe_key: str | None = None,
    lock_key: str | None = None,
    priority: int = 100,
    run_after: dt.datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> EnqueueResult:
    """Add a job inside the caller's transaction (the outbox): it exists if and only if the caller commits.

    With a ``dedupe_key``, at most one queued-or-running job per key exists; a second enqueue returns the first.
    """
    values: dict[str, Any] = {
        "connection_id": connection_id,
        "kind": kind,
        "payload": payload,
        "dedupe_key": dedupe_key,
        "lock_key": lock_key,
        "priority": priority,
        "status": JobStatus.QUEUED.value,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": run_after or now,
        "created_at": now,
        "updated_at": now,
    }
    if dedupe_key is None:
        job_id = conn.execute(jobs.insert().values(**values).returning(jobs.c.id)).scalar_one()
        return EnqueueResult(int(job_id), created=True)
    for _ in range(_DEDUPE_ROUNDS):
        new_id = insert_ignoring_conflict(
            conn, jobs, values, index_elements=["dedupe_key"], index_where=_ACTIVE_INDEX_PREDICATE
        )
        if new_id is not None:
            return EnqueueResult(new_id, created=True)
        existing = conn.execute(
            prepared(
                "active_job_by_key",
                lambda: select(jobs.c.id).where(jobs.c.dedupe_key == bindparam("p_key"), _ACTIVE),
            ),
            {"p_key": dedupe_key},
        ).scalar_one_or_none()
        if existing is not None:
            return EnqueueResult(int(existing), created=False)
        # On PostgreSQL (read committed) the active duplicate can finish between the two statements; it will not
        # do this work any more, so insert again rather than fail the caller's business transaction.
    raise TransientError(f"dedupe key {dedupe_key!r} kept changing state while enqueuing; try again")


def enqueue_coalesced(
    conn: Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    key: str,
    now: dt.datetime,
    connection_id: str = DEFAULT_CONNECTION,
    lock_key: str | None = None,
    priority: int = 100,
) -> EnqueueResult:
    """Queue a "bring up to date" run, or join the one already waiting, so such runs never pile up.

    A run that is already *running* read its data before this call and cannot stand in for it: the call gets one
    follow-up run (its own dedupe key), which the shared lock key holds back until the running one ends. At most
    one run per ``key`` is running and at most one waits, however often this is called.
    """

    def add(dedupe_key: str) -> EnqueueResult:
        return enqueue(
            conn,
            kind,
            payload,
            now=now,
            connection_id=connection_id,
            dedupe_key=dedupe_key,
            lock_key=lock_key or key,
            priority=priority,
        )

    result = add(key)
    if result.created:
        return result
    holder = status_of(conn, result.job_id)
    if holder is JobStatus.QUEUED:
        return result  # it has not started yet, so it will see what this call is about
    if holder is JobStatus.RUNNING:
        return add(f"{key}:next")
    return add(key)  # it finished in between (PostgreSQL, read committed): this call needs a run of its own


def claim(
    engine: Engine,
    worker_id: str,
    *,
    now: dt.datetime,
    lease: dt.timedelta,
    kinds: Collection[str] | None = None,
    connections: Collection[str] | None = None,
) -> Job | None:
    """Take the next runnable job (of ``kinds`` and ``connections`` when given), or ``None``.

    One statement for both dialects: PostgreSQL locks the candidate with ``FOR UPDATE SKIP LOCKED`` so concurrent
    workers pass over each other's rows; SQLite serialises writers (``BEGIN IMMEDIATE``) so the statement is atomic.
    A job whose ``lock_key`` has a running job, or an older queued one, waits: work on one entity runs in order and
    never in parallel. Two PostgreSQL workers may still pick different rows of one lock key at the same instant;
    the partial unique index on running lock keys rejects the loser, who simply polls again.

    The candidate is a *scalar* subquery (``id = (SELECT …)``), which PostgreSQL evaluates once as an InitPlan.
    Written as ``id IN (SELECT … LIMIT 1 FOR UPDATE SKIP LOCKED)`` the planner may pick a semi-join that re-runs
    the locking subquery for every outer row, and one "claim" then takes several jobs at once.
    """
    j, candidate = _runnable(now)
    if kinds is not None:
        candidate = candidate.where(j.c.kind.in_(list(kinds)))
    if connections is not None:
        candidate = candidate.where(j.c.connection_id.in_(list(connections)))
    candidate = candidate.order_by(j.c.priority, j.c.id).limit(1).with_for_update(skip_locked=True)
    stmt = _leased(jobs.c.id == candidate.scalar_subquery(), worker_id, now=now, lease=lease)
    try:
        with engine.begin() as conn:
            rows = conn.execute(stmt).mappings().all()
    except IntegrityError:
        return None
    assert len(rows) <= 1, "a claim must never take more than one job"
    return Job.from_row(rows[0]) if rows else None


def claim_more(
    engine: Engine,
    worker_id: str,
    first: Job,
    *,
    limit: int,
    now: dt.datetime,
    lease: dt.timedelta,
) -> list[Job]:
    """Up to ``limit`` more runnable jobs of ``first``'s kind and connection, for a worker that handles that kind in
    cohorts. The same rules as :func:`claim` (lock keys, run_after, priority order) decide which; the candidates are
    picked in one locking subquery, materialised, so PostgreSQL cannot re-run it per row and take more."""
    if limit < 1:
        return []
    j, candidate = _runnable(now)
    picked = (
        candidate.where(j.c.kind == first.kind, j.c.connection_id == first.connection_id)
        .order_by(j.c.priority, j.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED")
    )
    stmt = _leased(jobs.c.id.in_(select(picked.c.id)), worker_id, now=now, lease=lease)
    try:
        with engine.begin() as conn:
            rows = conn.execute(stmt).mappings().all()
    except IntegrityError:
        return []  # a PostgreSQL peer took one of the same lock key at the same instant: go with what we have
    assert len(rows) <= limit, "a cohort claim must never take more than it asked for"
    return sorted((Job.from_row(row) for row in rows), key=lambda job: (job.priority, job.id))


def _runnable(now: dt.datetime) -> tuple[Any, Any]:
    """The jobs a claim may take (queued, due, no running or older queued job of their lock key), as a select of
    ids over the alias it returns."""
    j = jobs.alias("j")
    other = jobs.alias("o")
    blocked = exists().where(
        other.c.lock_key == j.c.lock_key,
        or_(
            other.c.status == JobStatus.RUNNING.value,
            and_(other.c.status == JobStatus.QUEUED.value, other.c.id < j.c.id),
        ),
    )
    candidate = select(j.c.id).where(
        j.c.status == JobStatus.QUEUED.value,
        j.c.run_after <= now,
        or_(j.c.lock_key.is_(None), ~blocked),
    )
    return j, candidate


def _leased(which: Any, worker_id: str, *, now: dt.datetime, lease: dt.timedelta) -> Any:
    """The claimed rows, still queued, leased to ``worker_id`` for one more attempt."""
    return (
        update(jobs)
        .where(which, jobs.c.status == JobStatus.QUEUED.value)
        .values(
            status=JobStatus.RUNNING.value,
            leased_by=worker_id,
            lease_until=now + lease,
            attempts=jobs.c.attempts + 1,
            updated_at=now,
        )
        .returning(*jobs.c)
    )


def _update_fenced(conn: Connection, job: Job, worker_id: str, **values: Any) -> bool:
    """Apply ``values`` only while the row is still this worker's attempt; ``False`` when the fence held it back."""
    names = tuple(sorted(values))

    def build() -> Any:
        fence = and_(
            jobs.c.id == bindparam("w_id"),
            jobs.c.status == JobStatus.RUNNING.value,
            jobs.c.leased_by == bindparam("w_worker"),
            jobs.c.attempts == bindparam("w_attempts"),
        )
        return update(jobs).where(fence).values({n: param(jobs, n) for n in names})

    params = {f"p_{n}": v for n, v in values.items()}
    fenced = {"w_id": job.id, "w_worker": worker_id, "w_attempts": job.attempts}
    return conn.execute(prepared(("update_fenced", names), build), fenced | params).rowcount == 1


def extend_lease(engine: Engine, job: Job, worker_id: str, *, now: dt.datetime, lease: dt.timedelta) -> bool:
    """Heartbeat: push the lease forward. ``False`` means the lease was lost (the job was re-queued)."""
    with engine.begin() as conn:
        return _update_fenced(conn, job, worker_id, lease_until=now + lease, updated_at=now)


def mark_done(
    conn: Connection, job: Job, worker_id: str, *, now: dt.datetime, note: str | None = None
) -> bool:
    """Finish the job in the caller's transaction, so a handler can commit its effect and the completion together."""
    values: dict[str, Any] = {
        "status": JobStatus.DONE.value,
        "finished_at": now,
        "updated_at": now,
        "lease_until": None,
    }
    if note is not None:
        values["last_error"] = note
    return _update_fenced(conn, job, worker_id, **values)


def mark_retry(
    engine: Engine, job: Job, worker_id: str, *, now: dt.datetime, run_after: dt.datetime, error: str
) -> bool:
    with engine.begin() as conn:
        return _update_fenced(
            conn,
            job,
            worker_id,
            status=JobStatus.QUEUED.value,
            run_after=run_after,
            last_error=error,
            leased_by=None,
            lease_until=None,
            updated_at=now,
        )


def mark_dead(engine: Engine, job: Job, worker_id: str, *, now: dt.datetime, error: str) -> bool:
    with engine.begin() as conn:
        return _update_fenced(
            conn,
            job,
            worker_id,
            status=JobStatus.DEAD.value,
            last_error=error,
            finished_at=now,
            lease_until=None,
            updated_at=now,
        )


@dataclass(frozen=True)
class ReapedJob:
    job_id: int
    worker_id: str | None
    new_status: JobStatus


def requeue_expired(engine: Engine, *, now: dt.datetime) -> list[ReapedJob]:
    """Give the jobs of workers that stopped heartbeating back to the queue (or bury them if out of attempts)."""
    reaped: list[ReapedJob] = []
    with engine.begin() as conn:
        expired = conn.execute(
            select(
                jobs.c.id, jobs.c.leased_by, jobs.c.attempts, jobs.c.max_attempts, jobs.c.lease_until
            ).where(jobs.c.status == JobStatus.RUNNING.value, jobs.c.lease_until < now)
        ).all()
        for job_id, worker_id, attempts, max_attempts, lease_until in expired:
            reason = (
                f"lease expired at {lease_until.isoformat()}: worker {worker_id} stopped responding "
                f"during attempt {attempts}"
            )
            still_expired = and_(
                jobs.c.id == job_id,
                jobs.c.status == JobStatus.RUNNING.value,
                jobs.c.attempts == attempts,
                jobs.c.lease_until < now,
            )
            if attempts >= max_attempts:
                values: dict[str, Any] = {
                    "status": JobStatus.DEAD.value,
                    "finished_at": now,
                    "last_error": f"gave up after {attempts} attempts; {reason}",
                }
            else:
                values = {
                    "status": JobStatus.QUEUED.value,
                    "run_after": now,
                    "last_error": reason,
                    "leased_by": None,
                }
            changed = conn.execute(
                update(jobs).where(still_expired).values(lease_until=None, updated_at=now, **values)
            ).rowcount
            if changed:
                reaped.append(ReapedJob(int(job_id), worker_id, JobStatus(values["status"])))
    return reaped


def prune_finished(conn: Connection, *, finished_before: dt.datetime) -> int:
    """Delete done and cancelled jobs finished before the cutoff; dead jobs stay until an operator acts."""
    return int(
        conn.execute(
            delete(jobs).where(
                jobs.c.status.in_([JobStatus.DONE.value, JobStatus.CANCELLED.value]),
                jobs.c.finished_at < finished_before,
            )
        ).rowcount
    )


def status_of(conn: Connection, job_id: int) -> JobStatus | None:
    status = conn.execute(select(jobs.c.status).where(jobs.c.id == job_id)).scalar_one_or_none()
    return None if status is None else JobStatus(status)


def get(conn: Connection, job_id: int) -> Job | None:
    row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
    return None if row is None else Job.from_row(row)


def list_jobs(
    conn: Connection,
    *,
    statuses: Sequence[JobStatus] | None = None,
    kind: str | None = None,
    connection_id: str | None = None,
    lock_key: str | None = None,
    limit: int = 50,
) -> list[Job]:
    stmt = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
    if lock_key:
        stmt = stmt.where(jobs.c.lock_key == lock_key)
    if statuses:
        stmt = stmt.where(jobs.c.status.in_([s.value for s in statuses]))
    if kind:
        stmt = stmt.where(jobs.c.kind == kind)
    if connection_id:
        stmt = stmt.where(jobs.c.connection_id == connection_id)
    return [Job.from_row(row) for row in conn.execute(stmt).mappings()]


def next_queued(
    conn: Connection, kind: str, *, connection_id: str, now: dt.datetime, limit: int
) -> list[Job]:
    """The queued jobs of ``kind`` that are due, in claim order (what the next claims will take, locks aside)."""
    stmt = (
        select(jobs)
        .where(
            jobs.c.status == JobStatus.QUEUED.value,
            jobs.c.kind == kind,
            jobs.c.connection_id == connection_id,
            jobs.c.run_after <= now,
        )
        .order_by(jobs.c.priority, jobs.c.id)
        .limit(limit)
    )
    return [Job.from_row(row) for row in conn.execute(stmt).mappings()]


def count_by_status(conn: Connection, *, connection_id: str | None = None) -> dict[JobStatus, int]:
    query = select(jobs.c.status, func.count()).group_by(jobs.c.status)
    if connection_id is not None:
        query = query.where(jobs.c.connection_id == connection_id)
    rows = conn.execute(query).all()
    counts = dict.fromkeys(JobStatus, 0)
    for status, count in rows:
        counts[JobStatus(status)] = int(count)
    return counts


@dataclass(frozen=True)
class KindStats:
    connection_id: str
    kind: str
    status: JobStatus
    count: int
    oldest_runnable: dt.datetime | None  # for queued jobs: the earliest run_after that is already due


def stats(conn: Connection, *, now: dt.datetime, connection_id: str | None = None) -> list[KindStats]:
    """Jobs per (connection, kind, status) and how long the oldest due job has waited: what an alert needs. One
    connection's (a tenant's console) or every connection's (``/metrics``, labelled by connection)."""
    due_since = func.min(
        case((and_(jobs.c.status == JobStatus.QUEUED.value, jobs.c.run_after <= now), jobs.c.run_after))
    )
    query = select(jobs.c.connection_id, jobs.c.kind, jobs.c.status, func.count(), due_since).group_by(
        jobs.c.connection_id, jobs.c.kind, jobs.c.status
    )
    if connection_id is not None:
        query = query.where(jobs.c.connection_id == connection_id)
    return [
        KindStats(str(connection), kind, JobStatus(status), int(count), as_utc(oldest))
        for connection, kind, status, count, oldest in conn.execute(query).all()
    ]


def as_utc(value: Any) -> dt.datetime | None:
    """Aggregates bypass the column type, so SQLite hands back its stored text: turn it into aware UTC."""
    if value is None:
        return None
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _job_in_state(conn: Connection, job_id: int, allowed: tuple[JobStatus, ...], action: str) -> Job:
    job = get(conn, job_id)
    if job is None:
        raise JobStateError(f"job {job_id} does not exist")
    if job.status not in allowed:
        names = " or ".join(status.value for status in allowed)
        raise JobStateError(f"job {job_id} is {job.status}; only {names} jobs can be {action}")
    return job


def retry_now(engine: Engine, job_id: int, *, now: dt.datetime) -> Job:
    """Operator retry of a dead or cancelled job: back to the queue with a fresh attempt budget."""
    with engine.begin() as conn:
        job = _job_in_state(conn, job_id, (JobStatus.DEAD, JobStatus.CANCELLED), "retried")
        try:
            with conn.begin_nested():
                changed = conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id, jobs.c.status == job.status.value)
                    .values(
                        status=JobStatus.QUEUED.value,
                        attempts=0,
                        run_after=now,
                        finished_at=None,
                        leased_by=None,
                        lease_until=None,
                        updated_at=now,
                    )
                ).rowcount
        except IntegrityError as exc:
            raise JobStateError(
                f"job {job_id} cannot be re-queued: another job with dedupe key {job.dedupe_key!r} is already "
                "queued or running, and it will do the same work"
            ) from exc
        refreshed = _refreshed_after(conn, job_id, changed, "retried")
    return refreshed


def discard(engine: Engine, job_id: int, *, now: dt.datetime) -> Job:
    """Operator discard: a queued or dead job is cancelled and will not run."""
    with engine.begin() as conn:
        job = _job_in_state(conn, job_id, (JobStatus.QUEUED, JobStatus.DEAD), "discarded")
        changed = conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == job.status.value)
            .values(status=JobStatus.CANCELLED.value, finished_at=now, updated_at=now)
        ).rowcount
        refreshed = _refreshed_after(conn, job_id, changed, "discarded")
    return refreshed


def _refreshed_after(conn: Connection, job_id: int, changed: int, action: str) -> Job:
    """The job after an operator's state change; an error if it moved on between the check and the update.

    On PostgreSQL (read committed) a worker or another operator can commit in between: the fenced update then
    touches nothing, and reporting success would tell the operator a lie.
    """
    job = get(conn, job_id)
    assert job is not None
    if not changed:
        raise JobStateError(f"job {job_id} became {job.status} meanwhile; it was not {action}")
    return job


def any_active(conn: Connection, job_ids: Collection[int]) -> bool:
    """Whether any of these jobs is still queued or running: for a caller that waits for a batch to finish."""
    return bool(conn.execute(select(exists().where(jobs.c.id.in_(job_ids), _ACTIVE))).scalar_one())

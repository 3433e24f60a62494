from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine

from bitrix_inflow.errors import JobStateError
from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import JobStatus

LEASE = dt.timedelta(seconds=30)


def put(engine: Engine, clock: Any, kind: str = "k", **kwargs: Any) -> int:
    with engine.begin() as conn:
        return queue.enqueue(conn, kind, kwargs.pop("payload", {}), now=clock.now(), **kwargs).job_id


def test_enqueue_is_part_of_the_callers_transaction(engine: Engine, clock: Any) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), engine.begin() as conn:
        queue.enqueue(conn, "k", {"order": 1}, now=clock.now())
        raise Boom
    assert queue.claim(engine, "w1", now=clock.now(), lease=LEASE) is None


def test_claim_takes_jobs_by_priority_then_age_and_leases_them(engine: Engine, clock: Any) -> None:
    low = put(engine, clock, priority=200)
    first = put(engine, clock, payload={"n": 1})
    second = put(engine, clock, payload={"n": 2})
    claimed = [queue.claim(engine, "w1", now=clock.now(), lease=LEASE) for _ in range(3)]
    assert [j.id for j in claimed if j] == [first, second, low]
    job = claimed[0]
    assert job is not None
    assert job.status is JobStatus.RUNNING
    assert job.attempts == 1
    assert job.leased_by == "w1"
    assert job.lease_until == clock.now() + LEASE
    assert job.payload == {"n": 1}
    assert queue.claim(engine, "w1", now=clock.now(), lease=LEASE) is None


def test_run_after_delays_a_job(engine: Engine, clock: Any) -> None:
    put(engine, clock, run_after=clock.now() + dt.timedelta(seconds=10))
    assert queue.claim(engine, "w", now=clock.now(), lease=LEASE) is None
    clock.advance(10)
    assert queue.claim(engine, "w", now=clock.now(), lease=LEASE) is not None


def test_kinds_filter(engine: Engine, clock: Any) -> None:
    put(engine, clock, kind="other")
    assert queue.claim(engine, "w", now=clock.now(), lease=LEASE, kinds=["mine"]) is None
    mine = put(engine, clock, kind="mine")
    job = queue.claim(engine, "w", now=clock.now(), lease=LEASE, kinds=["mine"])
    assert job is not None and job.id == mine


def test_dedupe_key_returns_the_active_job_then_allows_a_new_one_when_finished(
    engine: Engine, clock: Any
) -> None:
    with engine.begin() as conn:
        a = queue.enqueue(conn, "k", {}, now=clock.now(), dedupe_key="stock:main")
        b = queue.enqueue(conn, "k", {}, now=clock.now(), dedupe_key="stock:main")
    assert a.created and not b.created and a.job_id == b.job_id
    job = queue.claim(engine, "w", now=clock.now(), lease=LEASE)
    assert job is not None
    with engine.begin() as conn:
        still = queue.enqueue(conn, "k", {}, now=clock.now(), dedupe_key="stock:main")
        assert still.job_id == a.job_id and not still.created  # running counts as active
        assert queue.mark_done(conn, job, "w", now=clock.now())
        fresh = queue.enqueue(conn, "k", {}, now=clock.now(), dedupe_key="stock:main")
    assert fresh.created and fresh.job_id != a.job_id


def test_lock_key_serialises_work_on_one_entity_in_order(engine: Engine, clock: Any) -> None:
    a1 = put(engine, clock, lock_key="order:1", payload={"step": 1})
    a2 = put(engine, clock, lock_key="order:1", payload={"step": 2})
    b1 = put(engine, clock, lock_key="order:2")
    first = queue.claim(engine, "w1", now=clock.now(), lease=LEASE)
    second = queue.claim(engine, "w2", now=clock.now(), lease=LEASE)
    assert first is not None and second is not None
    assert (first.id, second.id) == (a1, b1)  # a2 waits behind a1
    assert queue.claim(engine, "w3", now=clock.now(), lease=LEASE) is None
    assert queue.mark_retry(engine, first, "w1", now=clock.now(), run_after=clock.now() + LEASE, error="503")
    # a1 is queued again but not yet due: a2 must still wait, or steps of one order would run out of order.
    assert queue.claim(engine, "w3", now=clock.now(), lease=LEASE) is None
    clock.advance(LEASE.total_seconds())
    again = queue.claim(engine, "w3", now=clock.now(), lease=LEASE)
    assert again is not None and again.id == a1 and again.attempts == 2
    with engine.begin() as conn:
        queue.mark_done(conn, again, "w3", now=clock.now())
    last = queue.claim(engine, "w3", now=clock.now(), lease=LEASE)
    assert last is not None and last.id == a2


def test_a_dead_job_no_longer_blocks_its_lock_key(engine: Engine, clock: Any) -> None:
    put(engine, clock, lock_key="order:1")
    later = put(engine, clock, lock_key="order:1")
    job = queue.claim(engine, "w", now=clock.now(), lease=LEASE)
    assert job is not None
    assert queue.mark_dead(engine, job, "w", now=clock.now(), error="PermanentError: bad data")
    nxt = queue.claim(engine, "w", now=clock.now(), lease=LEASE)
    assert nxt is not None and nxt.id == later


def test_expired_lease_is_requeued_and_the_stale_worker_is_fenced_out(engine: Engine, clock: Any) -> None:
    job_id = put(engine, clock, max_attempts=3)
    stale = queue.claim(engine, "dead-worker", now=clock.now(), lease=LEASE)
    assert stale is not None
    clock.advance(29)
    assert queue.requeue_expired(engine, now=clock.now()) == []
    clock.advance(2)
    (reaped,) = queue.requeue_expired(engine, now=clock.now())
    assert (reaped.job_id, reaped.worker_id, reaped.new_status) == (job_id, "dead-worker", JobStatus.QUEUED)
    fresh = queue.claim(engine, "live-worker", now=clock.now(), lease=LEASE)
    assert fresh is not None and fresh.attempts == 2
    assert fresh.last_error is not None and "dead-worker stopped responding" in fresh.last_error
    # The old worker wakes up: none of its state changes may land.
    assert not queue.extend_lease(engine, stale, "dead-worker", now=clock.now(), lease=LEASE)
    assert not queue.mark_dead(engine, stale, "dead-worker", now=clock.now(), error="late")
    with engine.begin() as conn:
        assert not queue.mark_done(conn, stale, "dead-worker", now=clock.now())
        assert queue.mark_done(conn, fresh, "live-worker", now=clock.now())
        final = queue.get(conn, job_id)
    assert final is not None and final.status is JobStatus.DONE and final.attempts == 2


def test_a_stale_attempt_under_the_same_worker_id_is_fenced_out(engine: Engine, clock: Any) -> None:
    """The reaper re-queued the job and the *same* worker id claimed it again (a fixed worker id, or a pid reused
    by the next process): the lease holder is the same, so only the attempt number tells the stale attempt from
    the live one, and none of the stale attempt's state changes may land."""
    job_id = put(engine, clock, max_attempts=5)
    stale = queue.claim(engine, "w", now=clock.now(), lease=LEASE)
    assert stale is not None
    clock.advance(31)
    assert [r.job_id for r in queue.requeue_expired(engine, now=clock.now())] == [job_id]
    fresh = queue.claim(engine, "w", now=clock.now(), lease=LEASE)
    assert fresh is not None and (fresh.leased_by, fresh.attempts) == ("w", stale.attempts + 1)
    clock.advance(1)

    assert not queue.extend_lease(engine, stale, "w", now=clock.now(), lease=LEASE)
    assert not queue.mark_retry(
        engine, stale, "w", now=clock.now(), run_after=clock.now(), error="stale retry"
    )
    assert not queue.mark_dead(engine, stale, "w", now=clock.now(), error="stale dead")
    with engine.begin() as conn:
        assert not queue.mark_done(conn, stale, "w", now=clock.now(), note="stale done")
        untouched = queue.get(conn, job_id)
    assert untouched is not None
    assert (untouched.status, untouched.attempts, untouched.leased_by) == (JobStatus.RUNNING, 2, "w")
    assert untouched.lease_until == fresh.lease_until and untouched.last_error == fresh.last_error

    # The live attempt still owns the row.
    assert queue.extend_lease(engine, fresh, "w", now=clock.now(), lease=LEASE)
    with engine.begin() as conn:
        assert queue.mark_done(conn, fresh, "w", now=clock.now())
        final = queue.get(conn, job_id)
    assert final is not None and (final.status, final.attempts) == (JobStatus.DONE, 2)


def test_expired_lease_on_the_last_attempt_buries_the_job(engine: Engine, clock: Any) -> None:
    job_id = put(engine, clock, max_attempts=1)
    assert queue.claim(engine, "w", now=clock.now(), lease=LEASE) is not None
    clock.advance(31)
    (reaped,) = queue.requeue_expired(engine, now=clock.now())
    assert reaped.new_status is JobStatus.DEAD
    with engine.connect() as conn:
        job = queue.get(conn, job_id)
    assert job is not None and job.status is JobStatus.DEAD
    assert job.last_error is not None and "gave up after 1 attempts" in job.last_error


def test_heartbeat_keeps_a_long_job_alive(engine: Engine, clock: Any) -> None:
    put(engine, clock)
    job = queue.claim(engine, "w", now=clock.now(), lease=LEASE)
    assert job is not None
    for _ in range(5):
        clock.advance(20)
        assert queue.extend_lease(engine, job, "w", now=clock.now(), lease=LEASE)
        assert queue.requeue_expired(engine, now=clock.now()) == []


def test_operator_retry_and_discard_follow_the_state_rules(engine: Engine, clock: Any) -> None:
    job_id = put(engine, clock, dedupe_key="order:5")
    with pytest.raises(JobStateError, match="only dead or cancelled"):
        queue.retry_now(engine, job_id, now=clock.now())
    job = queue.claim(engine, "w", now=clock.now(), lease=LEASE)
    assert job is not None
    with pytest.raises(JobStateError, match="only queued or dead"):
        queue.discard(engine, job_id, now=clock.now())
    queue.mark_dead(engine, job, "w", now=clock.now(), error="PermanentError: x")
    # While a newer job with the same dedupe key is active, retrying the dead one would duplicate work.
    newer = put(engine, clock, dedupe_key="order:5")
    with pytest.raises(JobStateError, match="dedupe key"):
        queue.retry_now(engine, job_id, now=clock.now())
    assert queue.discard(engine, newer, now=clock.now()).status is JobStatus.CANCELLED
    retried = queue.retry_now(engine, job_id, now=clock.now())
    assert (retried.status, retried.attempts) == (JobStatus.QUEUED, 0)
    assert retried.last_error == "PermanentError: x"  # the reason stays visible until the job succeeds
    with pytest.raises(JobStateError, match="does not exist"):
        queue.retry_now(engine, 999_999, now=clock.now())


def test_count_by_status(engine: Engine, clock: Any) -> None:
    put(engine, clock)
    put(engine, clock)
    assert queue.claim(engine, "w", now=clock.now(), lease=LEASE) is not None
    with engine.connect() as conn:
        counts = queue.count_by_status(conn)
    assert counts[JobStatus.QUEUED] == 1 and counts[JobStatus.RUNNING] == 1 and counts[JobStatus.DEAD] == 0


def test_enqueue_survives_the_active_duplicate_finishing_in_between(
    engine: Engine, clock: Any, meanwhile: Any
) -> None:
    """The insert meets the active job with the same dedupe key; before the look-up of that job, it finishes.

    The caller must still get a job (a new one: the old one will not do this work), not an exception that rolls
    back its business change.
    """
    first = put(engine, clock, dedupe_key="stock:main")
    running = queue.claim(engine, "w", now=clock.now(), lease=LEASE)
    assert running is not None and running.id == first

    def finish_elsewhere() -> None:
        with engine.begin() as other:
            assert queue.mark_done(other, running, "w", now=clock.now())

    meanwhile.arm("SELECT jobs.id", finish_elsewhere)
    with engine.begin() as conn:
        result = queue.enqueue(conn, "k", {}, now=clock.now(), dedupe_key="stock:main")
    assert result.created and result.job_id != first


def test_discard_refuses_a_job_that_a_worker_claimed_meanwhile(
    engine: Engine, clock: Any, meanwhile: Any
) -> None:
    """Discard checks the state, then a worker claims the job: the discard must fail, not report success."""
    job_id = put(engine, clock)
    meanwhile.arm("UPDATE jobs SET status", lambda: queue.claim(engine, "w", now=clock.now(), lease=LEASE))
    with pytest.raises(JobStateError, match="running"):
        queue.discard(engine, job_id, now=clock.now())
    with engine.connect() as conn:
        job = queue.get(conn, job_id)
    assert job is not None and job.status is JobStatus.RUNNING


def test_any_active_sees_queued_and_running_jobs_only(engine: Engine, clock: Any) -> None:
    first, second = put(engine, clock), put(engine, clock)
    with engine.connect() as conn:
        assert queue.any_active(conn, [first, second])
    running = queue.claim(engine, "w", now=clock.now(), lease=LEASE)
    assert running is not None and running.id == first
    queue.discard(engine, second, now=clock.now())
    with engine.connect() as conn:
        assert queue.any_active(conn, [first, second])
        assert not queue.any_active(conn, [second])
    with engine.begin() as conn:
        assert queue.mark_done(conn, running, "w", now=clock.now())
    with engine.connect() as conn:
        assert not queue.any_active(conn, [first, second])


def test_a_deduplicated_enqueue_keeps_working_once_the_driver_prepares_the_statement(
    engine: Engine, clock: Any
) -> None:
    """psycopg prepares a statement from its sixth run on a connection, and PostgreSQL then plans it generically:
    the ON CONFLICT arbiter must be provable without the bound values (it once failed with "no unique or exclusion
    constraint matching the ON CONFLICT specification" on a busy connection)."""
    with engine.begin() as conn:
        ids = [
            queue.enqueue(conn, "k", {"n": n}, now=clock.now(), dedupe_key=f"key-{n % 3}").job_id
            for n in range(30)
        ]
    assert len(set(ids)) == 3

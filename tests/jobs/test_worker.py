from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
import structlog.testing
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, func, insert, select

from bitrix_inflow import log
from bitrix_inflow.errors import NothingToDo, PermanentError, RateLimitedError, TransientError
from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import JobStatus, RetryPolicy
from bitrix_inflow.jobs.registry import JobContext, JobRegistry
from bitrix_inflow.jobs.worker import Worker, WorkerSettings
from bitrix_inflow.store.tables import workers

effects_meta = MetaData()
effects = Table(
    "test_effects", effects_meta, Column("job_id", Integer, primary_key=True), Column("note", String(50))
)


@pytest.fixture
def effects_engine(engine: Engine) -> Engine:
    effects_meta.create_all(engine)
    return engine


def enqueue(engine: Engine, clock: Any, kind: str, **kwargs: Any) -> int:
    with engine.begin() as conn:
        return queue.enqueue(conn, kind, kwargs.pop("payload", {}), now=clock.now(), **kwargs).job_id


def job(engine: Engine, job_id: int) -> queue.Job:
    with engine.connect() as conn:
        found = queue.get(conn, job_id)
    assert found is not None
    return found


def make_worker(engine: Engine, registry: JobRegistry, clock: Any, **settings: Any) -> Worker:
    return Worker(engine, registry, settings=WorkerSettings(**settings), clock=clock, worker_id="w-test")


def test_a_handler_effect_and_its_completion_commit_together(effects_engine: Engine, clock: Any) -> None:
    registry = JobRegistry()

    @registry.handler("write")
    def write(ctx: JobContext) -> None:
        with ctx.engine.begin() as conn:
            conn.execute(insert(effects).values(job_id=ctx.job.id, note=ctx.payload["note"]))
            ctx.complete_in(conn)

    job_id = enqueue(effects_engine, clock, "write", payload={"note": "hello"})
    assert make_worker(effects_engine, registry, clock).run_one()
    assert job(effects_engine, job_id).status is JobStatus.DONE
    with effects_engine.connect() as conn:
        assert conn.execute(select(effects.c.note)).scalars().all() == ["hello"]


def test_an_effect_is_rolled_back_when_the_lease_was_lost(effects_engine: Engine, clock: Any) -> None:
    registry = JobRegistry()

    @registry.handler("write")
    def write(ctx: JobContext) -> None:
        # Meanwhile the job was reaped and re-claimed elsewhere (as if this worker had stalled past its lease).
        clock.advance(120)
        queue.requeue_expired(ctx.engine, now=clock.now())
        assert queue.claim(ctx.engine, "other-worker", now=clock.now(), lease=dt.timedelta(seconds=60))
        with ctx.engine.begin() as conn:
            conn.execute(insert(effects).values(job_id=ctx.job.id, note="stale"))
            ctx.complete_in(conn)

    job_id = enqueue(effects_engine, clock, "write")
    make_worker(effects_engine, registry, clock, lease_seconds=60, heartbeat_seconds=30).run_one()
    with effects_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(effects)).scalar_one() == 0
    current = job(effects_engine, job_id)
    assert (current.status, current.leased_by, current.attempts) == (JobStatus.RUNNING, "other-worker", 2)


def test_transient_failures_are_retried_then_succeed(engine: Engine, clock: Any) -> None:
    registry = JobRegistry(default_policy=RetryPolicy(max_attempts=5, base_delay=10, max_delay=10, jitter=0))
    calls: list[int] = []

    @registry.handler("flaky")
    def flaky(ctx: JobContext) -> None:
        calls.append(ctx.job.attempts)
        if len(calls) < 3:
            raise TransientError("WMS 503")

    job_id = enqueue(engine, clock, "flaky", max_attempts=5)
    worker = make_worker(engine, registry, clock)
    assert worker.run_one()
    assert not worker.run_one()  # backing off: not due yet
    retried = job(engine, job_id)
    assert retried.status is JobStatus.QUEUED and retried.last_error == "TransientError: WMS 503"
    assert retried.run_after == clock.now() + dt.timedelta(seconds=10)
    clock.advance(10)
    assert worker.run_one()
    clock.advance(20)
    assert worker.run_one()
    assert calls == [1, 2, 3]
    assert job(engine, job_id).status is JobStatus.DONE


def test_rate_limited_job_waits_for_retry_after(engine: Engine, clock: Any) -> None:
    registry = JobRegistry(default_policy=RetryPolicy(base_delay=1, max_delay=1))

    @registry.handler("limited")
    def limited(ctx: JobContext) -> None:
        raise RateLimitedError("503 QUERY_LIMIT_EXCEEDED", retry_after=30)

    job_id = enqueue(engine, clock, "limited")
    make_worker(engine, registry, clock).run_one()
    wait = (job(engine, job_id).run_after - clock.now()).total_seconds()
    assert 30 <= wait <= 31


def test_permanent_failure_parks_the_job_dead_with_its_reason(engine: Engine, clock: Any) -> None:
    registry = JobRegistry()

    @registry.handler("bad")
    def bad(ctx: JobContext) -> None:
        raise PermanentError("status 'SHORT_PICK' is not in the mapping table")

    job_id = enqueue(engine, clock, "bad")
    make_worker(engine, registry, clock).run_one()
    dead = job(engine, job_id)
    assert dead.status is JobStatus.DEAD and dead.attempts == 1
    assert dead.last_error == "PermanentError: status 'SHORT_PICK' is not in the mapping table"


def test_nothing_to_do_finishes_with_a_note(engine: Engine, clock: Any) -> None:
    registry = JobRegistry()

    @registry.handler("noop")
    def noop(ctx: JobContext) -> None:
        raise NothingToDo("order 17 was already forwarded")

    job_id = enqueue(engine, clock, "noop")
    make_worker(engine, registry, clock).run_one()
    finished = job(engine, job_id)
    assert finished.status is JobStatus.DONE and "already forwarded" in (finished.last_error or "")


def test_a_worker_leaves_kinds_it_does_not_know_to_others(engine: Engine, clock: Any) -> None:
    registry = JobRegistry()
    registry.register("known", lambda ctx: None)
    unknown = enqueue(engine, clock, "someone-elses")
    assert not make_worker(engine, registry, clock).run_one()
    assert job(engine, unknown).status is JobStatus.QUEUED


def test_registering_a_kind_twice_is_an_error() -> None:
    registry = JobRegistry()
    registry.register("k", lambda ctx: None)
    with pytest.raises(ValueError, match="twice"):
        registry.register("k", lambda ctx: None)


def test_heartbeat_keeps_a_slow_job_from_being_reaped(engine: Engine, clock: Any) -> None:
    """A job running for 210 s under a 60 s lease survives because its worker heartbeats.

    The time is the fake clock's: the handler moves it on 70 s at a time, beyond the lease the previous heartbeat
    set, waits until the heartbeat thread has pushed the lease past the new time, then lets the reaper look. With
    a real clock and a 1 s lease this test failed whenever a loaded machine left the heartbeat thread unscheduled
    for a second.
    """
    registry = JobRegistry()
    lease = dt.timedelta(seconds=60)
    reaped: list[queue.ReapedJob] = []
    leases: list[dt.datetime] = []

    @registry.handler("slow")
    def slow(ctx: JobContext) -> None:
        for _ in range(3):
            clock.advance(70)
            extended = clock.now() + lease
            deadline = time.monotonic() + 60
            while job(ctx.engine, ctx.job.id).lease_until != extended:
                assert time.monotonic() < deadline, "the heartbeat never extended the lease"
                time.sleep(0.01)
            leases.append(extended)
            reaped.extend(queue.requeue_expired(ctx.engine, now=clock.now()))

    with engine.begin() as conn:
        job_id = queue.enqueue(conn, "slow", {}, now=clock.now()).job_id
    started = clock.now()
    worker = make_worker(engine, registry, clock, lease_seconds=60, heartbeat_seconds=0.01)
    assert worker.run_one()
    assert reaped == []
    assert leases == [started + dt.timedelta(seconds=70 * n) + lease for n in (1, 2, 3)]
    finished = job(engine, job_id)
    assert finished.status is JobStatus.DONE and finished.attempts == 1


def test_run_stops_when_asked_and_unregisters_the_worker(engine: Engine, clock: Any) -> None:
    registry = JobRegistry()
    registry.register("k", lambda ctx: None)
    for _ in range(3):
        enqueue(engine, clock, "k")
    stop = threading.Event()
    worker = make_worker(engine, registry, clock, poll_seconds=0.01)
    assert worker.run(stop, exit_when_idle=True) == 3
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(workers)).scalar_one() == 0


def test_a_database_outage_in_the_loop_does_not_kill_the_worker(
    engine: Engine, clock: Any, outage: Any
) -> None:
    """The claim fails twice (server gone); the worker waits and carries on instead of its thread dying."""
    registry = JobRegistry()
    registry.register("k", lambda ctx: None)
    ids = [enqueue(engine, clock, "k") for _ in range(2)]
    outage.arm(times=2, matching="UPDATE jobs")
    worker = make_worker(engine, registry, clock, poll_seconds=0.01)
    assert worker.run(threading.Event(), exit_when_idle=True) == 2
    assert outage.failed == 2
    assert [job(engine, i).status for i in ids] == [JobStatus.DONE, JobStatus.DONE]


def test_an_outcome_lost_to_an_outage_is_not_a_lost_job(engine: Engine, clock: Any, outage: Any) -> None:
    """Recording "done" fails: the job stays running, its lease expires, and the reaper hands it back."""
    registry = JobRegistry()
    runs: list[int] = []
    registry.register("k", lambda ctx: runs.append(ctx.job.attempts))
    job_id = enqueue(engine, clock, "k")
    outage.arm(times=1, matching="finished_at=")
    worker = make_worker(engine, registry, clock, poll_seconds=0.01, lease_seconds=60)
    worker.run(threading.Event(), exit_when_idle=True)
    assert outage.failed == 1 and job(engine, job_id).status is JobStatus.RUNNING
    clock.advance(61)
    worker.run(threading.Event(), exit_when_idle=True)
    finished = job(engine, job_id)
    assert (finished.status, finished.attempts, runs) == (JobStatus.DONE, 2, [1, 2])


def test_a_worker_stops_cleanly_even_if_the_database_is_gone_at_the_end(
    engine: Engine, clock: Any, outage: Any
) -> None:
    registry = JobRegistry()
    registry.register("k", lambda ctx: None)
    outage.arm(times=1, matching="DELETE FROM workers")
    assert (
        make_worker(engine, registry, clock, poll_seconds=0.01).run(threading.Event(), exit_when_idle=True)
        == 0
    )
    assert outage.failed == 1


@pytest.mark.parametrize("error", [TransientError, PermanentError, RuntimeError])
def test_a_secret_in_an_error_never_reaches_the_jobs_table(
    engine: Engine, clock: Any, error: type[Exception]
) -> None:
    """last_error is shown by `jobs list`; the redactor knows the configured secrets and blanks them there too."""
    log.redactor.add(["wh-code-5150xyz"])
    registry = JobRegistry()

    @registry.handler("leaky")
    def leaky(ctx: JobContext) -> None:
        raise error("POST https://shop.example/rest/1/wh-code-5150xyz/sale.order.add: 503")

    job_id = enqueue(engine, clock, "leaky")
    make_worker(engine, registry, clock).run_one()
    stored = job(engine, job_id).last_error or ""
    assert "rest/1/***/sale.order.add" in stored and "wh-code-5150xyz" not in stored


def test_an_outcome_the_fence_rejected_is_not_logged_as_applied(engine: Engine, clock: Any) -> None:
    """The handler committed its completion, then failed: the job is done, so the log must not say 'retry'."""
    registry = JobRegistry()

    @registry.handler("done-then-fails")
    def done_then_fails(ctx: JobContext) -> None:
        with ctx.engine.begin() as conn:
            ctx.complete_in(conn)
        raise TransientError("cleanup after the commit failed")

    job_id = enqueue(engine, clock, "done-then-fails")
    with structlog.testing.capture_logs() as logs:
        make_worker(engine, registry, clock).run_one()
    assert job(engine, job_id).status is JobStatus.DONE
    events = [entry["event"] for entry in logs]
    assert "job.retry" not in events and "job.outcome_discarded" in events


def test_a_running_handler_learns_that_its_lease_was_lost(engine: Engine, clock: Any) -> None:
    """Another worker took the job over (this one stalled past its lease): the next heartbeat tells the handler,
    so a long handler can stop instead of working on the entity alongside the new owner."""
    registry = JobRegistry()
    seen: list[bool] = []

    @registry.handler("long")
    def long_running(ctx: JobContext) -> None:
        assert not ctx.lease_lost.is_set()
        ctx.ensure_lease()  # still ours: no error
        clock.advance(120)
        queue.requeue_expired(ctx.engine, now=clock.now())
        assert queue.claim(ctx.engine, "other-worker", now=clock.now(), lease=dt.timedelta(seconds=60))
        seen.append(ctx.lease_lost.wait(10))
        ctx.ensure_lease()  # raises LeaseLostError: the worker discards this attempt's outcome

    job_id = enqueue(engine, clock, "long")
    outcome = make_worker(engine, registry, clock, lease_seconds=60, heartbeat_seconds=0.05).execute(
        queue.claim(engine, "w-test", now=clock.now(), lease=dt.timedelta(seconds=60))  # type: ignore[arg-type]
    )
    assert seen == [True] and outcome.error == "lease lost"
    assert job(engine, job_id).leased_by == "other-worker"


def test_a_worker_starts_even_if_the_database_blinks_as_it_registers(
    engine: Engine, clock: Any, outage: Any
) -> None:
    registry = JobRegistry()
    registry.register("k", lambda ctx: None)
    job_id = enqueue(engine, clock, "k")
    outage.arm(times=1, matching="INSERT INTO workers")
    assert (
        make_worker(engine, registry, clock, poll_seconds=0.01).run(threading.Event(), exit_when_idle=True)
        == 1
    )
    assert outage.failed == 1 and job(engine, job_id).status is JobStatus.DONE


def test_the_policys_attempt_budget_is_honoured(engine: Engine, clock: Any) -> None:
    """`jobs.max_attempts` (the registry's default policy) and a kind's own policy must bound the retries, even
    for a job enqueued without an explicit budget."""
    registry = JobRegistry(default_policy=RetryPolicy(max_attempts=2, base_delay=1, max_delay=1, jitter=0))
    registry.register("flaky", lambda ctx: (_ for _ in ()).throw(TransientError("WMS 503")))
    registry.register(
        "picky",
        lambda ctx: (_ for _ in ()).throw(TransientError("WMS 503")),
        RetryPolicy(max_attempts=1),
    )
    flaky, picky = enqueue(engine, clock, "flaky"), enqueue(engine, clock, "picky")
    worker = make_worker(engine, registry, clock)
    for _ in range(4):
        worker.run_one()
        clock.advance(5)
    assert (job(engine, flaky).status, job(engine, flaky).attempts) == (JobStatus.DEAD, 2)
    assert (job(engine, picky).status, job(engine, picky).attempts) == (JobStatus.DEAD, 1)
    assert "gave up after 2 attempts" in (job(engine, flaky).last_error or "")


def test_an_idle_worker_keeps_its_heartbeat_fresh(engine: Engine) -> None:
    registry = JobRegistry()
    registry.register("k", lambda ctx: None)
    worker = Worker(engine, registry, settings=WorkerSettings(poll_seconds=0.02, heartbeat_seconds=0.1))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            with engine.connect() as conn:
                row = conn.execute(select(workers).where(workers.c.id == worker.worker_id)).mappings().first()
            if row is not None and row["heartbeat_at"] > row["started_at"]:
                break
            assert time.monotonic() < deadline, "an idle worker never refreshed its heartbeat"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join()


def test_a_kind_handled_in_cohorts_gets_its_jobs_together_and_records_each_outcome(
    engine: Engine, clock: Any
) -> None:
    registry = JobRegistry(RetryPolicy(max_attempts=3, base_delay=1.0, jitter=0.0))
    seen: list[list[str]] = []

    def handle(ctx: JobContext) -> None:
        cohort = ctx.cohort or (ctx,)
        assert cohort[0] is ctx
        seen.append([c.payload["name"] for c in cohort])
        for c in cohort:
            if c.payload["name"] == "flaky":
                c.fail(TransientError("the warehouse hiccupped"))
            elif c.payload["name"] == "broken":
                c.fail(PermanentError("this one can never work"))

    registry.register("many", handle, batch=4)
    registry.register("other", lambda ctx: None)
    ids = {
        name: enqueue(engine, clock, "many", payload={"name": name}, lock_key=lock)
        for name, lock in [
            ("a", "order:1"),
            ("flaky", "order:2"),
            ("a-again", "order:1"),  # same entity as "a": never in the same cohort, never in parallel
            ("broken", "order:3"),
            ("b", "order:4"),
            ("c", "order:5"),
        ]
    }
    other = enqueue(engine, clock, "other", payload={"name": "x"})
    worker = make_worker(engine, registry, clock)

    assert worker.run_one()
    assert seen == [["a", "flaky", "broken", "b"]]  # four at most, of one kind, in claim order
    statuses = {name: job(engine, job_id).status for name, job_id in ids.items()}
    assert statuses == {
        "a": JobStatus.DONE,
        "flaky": JobStatus.QUEUED,  # its own retry, the others unharmed
        "a-again": JobStatus.QUEUED,
        "broken": JobStatus.DEAD,
        "b": JobStatus.DONE,
        "c": JobStatus.QUEUED,
    }
    assert "hiccupped" in (job(engine, ids["flaky"]).last_error or "")
    assert job(engine, ids["flaky"]).attempts == 1
    assert job(engine, other).status is JobStatus.QUEUED

    assert worker.run_one() and worker.run_one()
    assert seen[1:] == [["a-again", "c"]]  # "flaky" waits for its backoff
    assert job(engine, other).status is JobStatus.DONE


def test_a_cohort_handler_that_raises_fails_every_job_of_the_cohort(engine: Engine, clock: Any) -> None:
    registry = JobRegistry(RetryPolicy(max_attempts=3, base_delay=1.0, jitter=0.0))

    def handle(ctx: JobContext) -> None:
        raise TransientError("the shop is down")

    registry.register("many", handle, batch=10)
    ids = [enqueue(engine, clock, "many", payload={"n": n}, lock_key=f"order:{n}") for n in range(3)]
    assert make_worker(engine, registry, clock).run_one()
    assert [job(engine, i).status for i in ids] == [JobStatus.QUEUED] * 3
    assert all("the shop is down" in (job(engine, i).last_error or "") for i in ids)


def test_a_worker_for_one_tenant_takes_only_that_tenant_s_jobs(engine: Engine, clock: Any) -> None:
    """A command's round holds one tenant's settings: another tenant's job, even older, is not its to run."""
    from bitrix_inflow.store import connections  # noqa: PLC0415

    registry = JobRegistry()
    ran: list[str] = []

    @registry.handler("round.work")
    def work(ctx: JobContext) -> None:
        ran.append(ctx.job.connection_id)

    with engine.begin() as conn:
        connections.ensure(conn, "north", now=clock.now())
    theirs = enqueue(engine, clock, "round.work", connection_id="north")  # first in line
    mine = enqueue(engine, clock, "round.work")
    worker = Worker(engine, registry, settings=WorkerSettings(), clock=clock, connections={"default"})
    assert worker.run(threading.Event(), exit_when_idle=True) == 1
    assert ran == ["default"]
    assert job(engine, mine).status is JobStatus.DONE
    assert job(engine, theirs).status is JobStatus.QUEUED
    assert make_worker(engine, registry, clock).run_one()  # a `serve` worker takes every tenant's
    assert ran == ["default", "north"]

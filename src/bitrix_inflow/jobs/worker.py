"""A worker process: claims jobs, heartbeats their leases, runs handlers, records outcomes, reaps dead peers."""

from __future__ import annotations

import datetime as dt
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Engine

from bitrix_inflow.errors import LeaseLostError
from bitrix_inflow.jobs import metrics as job_metrics
from bitrix_inflow.jobs import presence, queue
from bitrix_inflow.jobs.model import Job
from bitrix_inflow.jobs.outcome import Outcome, decide, describe
from bitrix_inflow.jobs.registry import JobContext, JobRegistry, bound_logger
from bitrix_inflow.timing import Clock, SystemClock

log = structlog.get_logger("bitrix_inflow.worker")
MAX_OUTAGE_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    lease_seconds: float = 60.0
    heartbeat_seconds: float = 15.0
    poll_seconds: float = 1.0
    reap_seconds: float = 10.0


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        engine: Engine,
        registry: JobRegistry,
        *,
        settings: WorkerSettings | None = None,
        clock: Clock | None = None,
        worker_id: str | None = None,
        rng: random.Random | None = None,
        connections: Collection[str] | None = None,
    ) -> None:
        """``connections``: the tenants whose jobs this worker takes (all when ``None``, as `serve`'s workers do;
        a command's round takes only its own tenant's, since it holds only that tenant's settings)."""
        self.engine = engine
        self.registry = registry
        self.connections = connections
        self.settings = settings or WorkerSettings()
        self.clock = clock or SystemClock()
        self.worker_id = worker_id or new_worker_id()
        self.rng = rng or random.Random()
        self._lease = dt.timedelta(seconds=self.settings.lease_seconds)
        self._last_reap: dt.datetime | None = None
        self._last_touch: dt.datetime | None = None

    # -- the loop ---------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, max_jobs: int | None = None, exit_when_idle: bool = False) -> int:
        """Work until ``stop`` is set (or ``max_jobs`` ran, or the queue is empty with ``exit_when_idle``)."""
        self._register()
        done = 0
        failures = 0
        try:
            while not stop.is_set() and (max_jobs is None or done < max_jobs):
                try:
                    self.reap_if_due()
                    self._touch_if_due()
                    ran = self.run_one()
                except Exception as exc:
                    # The database went away (restart, fail-over, network blip). Dying here would silently leave
                    # `serve` one worker short for good; a job caught mid-outcome stays running and is handed back
                    # by the reaper when its lease expires, so waiting and carrying on loses nothing.
                    failures += 1
                    log.warning(
                        "worker.loop_failed",
                        worker_id=self.worker_id,
                        consecutive=failures,
                        error=describe(exc, with_traceback=False),
                    )
                    stop.wait(min(self.settings.poll_seconds * 2**failures, MAX_OUTAGE_BACKOFF_SECONDS))
                    continue
                failures = 0
                if ran:
                    done += ran
                    continue
                if exit_when_idle:
                    break
                stop.wait(self.settings.poll_seconds)
        finally:
            self._unregister()
        return done

    def reap_if_due(self) -> None:
        now = self.clock.now()
        if self._last_reap and (now - self._last_reap).total_seconds() < self.settings.reap_seconds:
            return
        self._last_reap = now
        for reaped in queue.requeue_expired(self.engine, now=now):
            log.warning(
                "job.lease_expired", job_id=reaped.job_id, dead_worker=reaped.worker_id, now=reaped.new_status
            )

    def run_one(self) -> int:
        """Claim and run one job (with its cohort, for a kind handled in cohorts): the jobs run, 0 when nothing
        was runnable."""
        job = queue.claim(
            self.engine,
            self.worker_id,
            now=self.clock.now(),
            lease=self._lease,
            kinds=self.registry.kinds,
            connections=self.connections,
        )
        if job is None:
            return 0
        job_type = self.registry.get(job.kind)
        peers: list[Job] = []
        if job_type is not None and job_type.batch > 1:
            peers = queue.claim_more(
                self.engine,
                self.worker_id,
                job,
                limit=job_type.batch - 1,
                now=self.clock.now(),
                lease=self._lease,
            )
        self.execute(job, peers)
        return 1 + len(peers)

    # -- one job ----------------------------------------------------------------------------------------------

    def execute(self, job: Job, peers: Sequence[Job] = ()) -> Outcome:
        """Run ``job`` (with ``peers``, claimed with it for a kind handled in cohorts) and record each outcome;
        returns ``job``'s."""
        job_log = bound_logger(job).bind(attempt=job.attempts, worker_id=self.worker_id)
        job_type = self.registry.get(job.kind)
        assert job_type is not None, "claim only returns kinds this worker handles"
        contexts = [
            JobContext(
                job=one,
                engine=self.engine,
                worker_id=self.worker_id,
                now=self.clock.now,
                log=job_log
                if one is job
                else bound_logger(one).bind(attempt=one.attempts, worker_id=self.worker_id),
            )
            for one in (job, *peers)
        ]
        ctx = contexts[0]
        if peers:
            ctx.cohort = tuple(contexts)
        stop_heartbeat = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat, args=(contexts, stop_heartbeat), daemon=True)
        heartbeat.start()
        error: BaseException | None = None
        started = time.monotonic()
        try:
            # Every line the flow logs while on this job names its tenant (the flows' own loggers too).
            with structlog.contextvars.bound_contextvars(connection_id=job.connection_id):
                job_type.handler(ctx)
        except LeaseLostError:
            job_log.warning(
                "job.lease_lost", detail="another attempt owns the job now; this result is discarded"
            )
            return Outcome("retry", error="lease lost")
        except Exception as exc:
            error = exc
        finally:
            stop_heartbeat.set()
            heartbeat.join()
        outcomes = [
            decide(
                error if error is not None else one.failure,
                attempt=one.job.attempts,
                # The tighter of the job's own budget (set at enqueue) and its kind's policy (`jobs.max_attempts`
                # by default): without the policy here, a configured budget never applied to a job enqueued
                # without one.
                max_attempts=min(one.job.max_attempts, job_type.policy.max_attempts),
                policy=job_type.policy,
                now=self.clock.now(),
                rng=self.rng,
            )
            for one in contexts
        ]
        finished = [
            (one, outcome)
            for one, outcome in zip(contexts, outcomes, strict=True)
            if outcome.action == "done" and not one.completed
        ]
        if len(finished) > 1:
            # A cohort's finished jobs in one transaction, each still fenced by its own lease.
            with self.engine.begin() as conn:
                for one, outcome in finished:
                    one.completed = queue.mark_done(
                        conn, one.job, self.worker_id, now=self.clock.now(), note=outcome.error
                    )
        for one, outcome in zip(contexts, outcomes, strict=True):
            failed = error if error is not None else one.failure
            self._record(one.job, one, outcome, one.log, failed)
            job_metrics.observe(
                one.job.connection_id, one.job.kind, outcome.action, time.monotonic() - started
            )
        return outcomes[0]

    def _record(
        self, job: Job, ctx: JobContext, outcome: Outcome, logger: Any, error: BaseException | None
    ) -> None:
        now = self.clock.now()
        if outcome.action == "done":
            if not ctx.completed:
                with self.engine.begin() as conn:
                    applied = queue.mark_done(conn, job, self.worker_id, now=now, note=outcome.error)
                if not applied:
                    logger.warning(
                        "job.lease_lost", detail="finished after the lease was lost; outcome discarded"
                    )
                    return
            logger.info("job.done", note=outcome.error)
            return
        assert outcome.error is not None
        if outcome.action == "retry":
            assert outcome.run_after is not None
            applied = queue.mark_retry(
                self.engine, job, self.worker_id, now=now, run_after=outcome.run_after, error=outcome.error
            )
        else:
            applied = queue.mark_dead(self.engine, job, self.worker_id, now=now, error=outcome.error)
        if not applied:
            # The fence kept the row as it was: saying "retry" or "dead" here would send an operator after a job
            # that is in fact done, or running under another worker.
            logger.warning(
                "job.outcome_discarded",
                outcome=outcome.action,
                error=outcome.error,
                detail="the job had already committed its completion"
                if ctx.completed
                else "the lease was lost; another attempt owns the job",
            )
        elif outcome.action == "retry":
            assert outcome.run_after is not None
            logger.warning("job.retry", run_after=outcome.run_after.isoformat(), error=outcome.error)
        else:
            logger.error("job.dead", error=outcome.error, exc_type=type(error).__name__ if error else None)

    def _heartbeat(self, contexts: Sequence[JobContext], stop: threading.Event) -> None:
        held = list(contexts)
        while held and not stop.wait(self.settings.heartbeat_seconds):
            try:
                now = self.clock.now()
                for ctx in list(held):
                    if not queue.extend_lease(
                        self.engine, ctx.job, self.worker_id, now=now, lease=self._lease
                    ):
                        log.warning("job.lease_lost", **ctx.job.log_context)
                        ctx.lease_lost.set()
                        held.remove(ctx)
                self._touch(now)
            except Exception as exc:
                log.warning(
                    "worker.heartbeat_failed",
                    error=describe(exc, with_traceback=False),
                    **contexts[0].job.log_context,
                )

    # -- the workers table, for operators --------------------------------------------------------------------------

    def _register(self) -> None:
        try:
            self._touch(self.clock.now())
        except Exception as exc:  # the row is only for operators; the first heartbeat writes it again
            log.warning(
                "worker.register_failed", worker_id=self.worker_id, error=describe(exc, with_traceback=False)
            )

    def _touch_if_due(self) -> None:
        """An idle worker is alive too: refresh its row between jobs (jobs refresh it from their heartbeat)."""
        now = self.clock.now()
        if self._last_touch and (now - self._last_touch).total_seconds() < self.settings.heartbeat_seconds:
            return
        self._touch(now)

    def _touch(self, now: dt.datetime) -> None:
        self._last_touch = now
        with self.engine.begin() as conn:
            presence.touch(conn, self.worker_id, hostname=socket.gethostname(), pid=os.getpid(), now=now)

    def _unregister(self) -> None:
        try:
            with self.engine.begin() as conn:
                presence.remove(conn, self.worker_id)
        except Exception as exc:  # the row is only for operators; a failure must not mask why the loop ended
            log.warning(
                "worker.unregister_failed",
                worker_id=self.worker_id,
                error=describe(exc, with_traceback=False),
            )

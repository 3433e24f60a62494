"""Which handler runs which job kind, with which retry policy."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Connection, Engine

from bitrix_inflow.errors import LeaseLostError
from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import Job, RetryPolicy


@dataclass
class JobContext:
    """What a handler gets: its job, the database, the clock, a logger bound to the job's ids.

    Handlers must be idempotent (delivery is at-least-once). Local database effects get exactly-once semantics by
    calling :meth:`complete_in` inside the transaction that writes them: effect and completion commit together.
    """

    job: Job
    engine: Engine
    worker_id: str
    now: Callable[[], dt.datetime]
    log: Any
    completed: bool = field(default=False, init=False)
    # Set by the heartbeat when another attempt took the job over; long handlers check it between steps.
    lease_lost: threading.Event = field(default_factory=threading.Event, init=False)
    # A kind handled in cohorts (``batch`` > 1): every job claimed with this one, this one first. The handler
    # works on all of them and says per job what failed (``fail``); the worker records each job's outcome.
    cohort: tuple[JobContext, ...] = field(default=(), init=False)
    failure: BaseException | None = field(default=None, init=False)

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    def ensure_lease(self) -> None:
        """Raise :class:`LeaseLostError` if this attempt no longer owns the job; cheap, call it between steps.

        Fencing already keeps a stale attempt's outcome out of the database, but only a handler that stops can keep
        it from calling the remote systems while the new owner works on the same entity.
        """
        if self.lease_lost.is_set():
            raise LeaseLostError(f"job {self.job.id} attempt {self.job.attempts} lost its lease")

    def fail(self, error: BaseException) -> None:
        """This job of a cohort failed (the others did not): its outcome is decided from ``error``."""
        self.failure = error

    def complete_in(self, conn: Connection, note: str | None = None) -> None:
        if not queue.mark_done(conn, self.job, self.worker_id, now=self.now(), note=note):
            raise LeaseLostError(f"job {self.job.id} attempt {self.job.attempts} no longer holds its lease")
        self.completed = True


Handler = Callable[[JobContext], None]


@dataclass(frozen=True)
class JobType:
    kind: str
    handler: Handler
    policy: RetryPolicy
    batch: int = 1  # jobs of this kind a worker claims together (one handler call for them all)


class JobRegistry:
    def __init__(self, default_policy: RetryPolicy | None = None) -> None:
        self._types: dict[str, JobType] = {}
        self.default_policy = default_policy or RetryPolicy()

    def register(
        self, kind: str, handler: Handler, policy: RetryPolicy | None = None, *, batch: int = 1
    ) -> None:
        if kind in self._types:
            raise ValueError(f"job kind {kind!r} is registered twice")
        if batch < 1:
            raise ValueError(f"job kind {kind!r}: batch must be at least 1")
        self._types[kind] = JobType(kind, handler, policy or self.default_policy, batch)

    def handler(self, kind: str, policy: RetryPolicy | None = None) -> Callable[[Handler], Handler]:
        def decorate(func: Handler) -> Handler:
            self.register(kind, func, policy)
            return func

        return decorate

    def get(self, kind: str) -> JobType | None:
        return self._types.get(kind)

    @property
    def kinds(self) -> list[str]:
        return sorted(self._types)

    def only(self, kinds: Collection[str]) -> JobRegistry:
        """A registry of just these kinds (a worker on it claims nothing else): `sync orders` runs its own jobs."""
        narrowed = JobRegistry(self.default_policy)
        narrowed._types = {kind: job_type for kind, job_type in self._types.items() if kind in kinds}
        return narrowed


def bound_logger(job: Job) -> Any:
    return structlog.get_logger("bitrix_inflow.jobs").bind(**job.log_context)

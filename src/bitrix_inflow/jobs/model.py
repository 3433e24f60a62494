"""Value types of the job engine."""

from __future__ import annotations

import datetime as dt
import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bitrix_inflow.timing import backoff_delay


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped; ``max_attempts`` counts every run, the first one included."""

    max_attempts: int = 8
    base_delay: float = 2.0
    multiplier: float = 2.0
    max_delay: float = 900.0
    jitter: float = 0.5  # fraction of the delay that is randomised ("equal jitter" when 0.5)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be >= 0 and multiplier >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return backoff_delay(
            max(1, attempt),
            base=self.base_delay,
            cap=self.max_delay,
            multiplier=self.multiplier,
            jitter=self.jitter,
            rng=rng,
        )


@dataclass(frozen=True, kw_only=True)
class Job:
    id: int
    connection_id: str
    kind: str
    payload: dict[str, Any]
    dedupe_key: str | None
    lock_key: str | None
    priority: int
    status: JobStatus
    attempts: int
    max_attempts: int
    run_after: dt.datetime
    leased_by: str | None
    lease_until: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Job:
        return cls(
            id=int(row["id"]),
            connection_id=row["connection_id"],
            kind=row["kind"],
            payload=dict(row["payload"]),
            dedupe_key=row["dedupe_key"],
            lock_key=row["lock_key"],
            priority=int(row["priority"]),
            status=JobStatus(row["status"]),
            attempts=int(row["attempts"]),
            max_attempts=int(row["max_attempts"]),
            run_after=row["run_after"],
            leased_by=row["leased_by"],
            lease_until=row["lease_until"],
            last_error=row["last_error"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            finished_at=row["finished_at"],
        )

    @property
    def log_context(self) -> dict[str, Any]:
        """Ids every log line about this job carries."""
        ctx: dict[str, Any] = {"job_id": self.id, "job_kind": self.kind, "connection_id": self.connection_id}
        if self.lock_key:
            ctx["lock_key"] = self.lock_key
        return ctx


@dataclass(frozen=True)
class EnqueueResult:
    job_id: int
    created: bool  # False: an active job with the same dedupe key already existed; job_id is that job

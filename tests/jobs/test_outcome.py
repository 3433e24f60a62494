from __future__ import annotations

import datetime as dt
import random

from hypothesis import given
from hypothesis import strategies as st

from bitrix_inflow.errors import (
    ConflictError,
    NothingToDo,
    PermanentError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from bitrix_inflow.jobs.model import RetryPolicy
from bitrix_inflow.jobs.outcome import MAX_RETRY_AFTER_SECONDS, decide

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
POLICY = RetryPolicy(max_attempts=5, base_delay=2, multiplier=2, max_delay=60, jitter=0.5)


def run(exc: BaseException | None, attempt: int = 1) -> object:
    return decide(exc, attempt=attempt, max_attempts=5, policy=POLICY, now=NOW, rng=random.Random(1))


def test_success_and_nothing_to_do_finish_the_job() -> None:
    assert run(None).action == "done"  # type: ignore[attr-defined]
    outcome = run(NothingToDo("order already forwarded"))
    assert outcome.action == "done" and "already forwarded" in outcome.error  # type: ignore[attr-defined]


def test_permanent_errors_go_dead_at_once_with_the_reason() -> None:
    for exc in (
        PermanentError("x"),
        ValidationError("lines[0].qty", "must be > 0", "fix the basket"),
        ConflictError("c"),
    ):
        outcome = run(exc, attempt=1)
        assert outcome.action == "dead"  # type: ignore[attr-defined]
        assert str(exc) in outcome.error  # type: ignore[attr-defined]


def test_transient_errors_retry_with_growing_backoff_until_attempts_run_out() -> None:
    delays = []
    for attempt in range(1, 5):
        outcome = run(TransientError("503"), attempt=attempt)
        assert outcome.action == "retry"  # type: ignore[attr-defined]
        delays.append((outcome.run_after - NOW).total_seconds())  # type: ignore[attr-defined]
    assert delays == sorted(delays)
    last = run(TransientError("503"), attempt=5)
    assert last.action == "dead" and "gave up after 5 attempts" in last.error  # type: ignore[attr-defined]


def test_unexpected_exceptions_are_retried_with_their_traceback_kept() -> None:
    def buggy() -> None:
        raise KeyError("statusId")

    try:
        buggy()
    except KeyError as exc:
        outcome = run(exc)
    assert outcome.action == "retry"  # type: ignore[attr-defined]
    assert "KeyError" in outcome.error and "buggy" in outcome.error  # type: ignore[attr-defined]


def test_rate_limit_waits_at_least_what_the_server_asked() -> None:
    outcome = run(RateLimitedError("429", retry_after=42.0))
    wait = (outcome.run_after - NOW).total_seconds()  # type: ignore[attr-defined]
    assert 42.0 <= wait <= 43.0


@given(attempt=st.integers(1, 50), seed=st.integers(0, 2**32))
def test_backoff_stays_within_its_jittered_band(attempt: int, seed: int) -> None:
    raw = min(POLICY.max_delay, POLICY.base_delay * POLICY.multiplier ** (attempt - 1))
    delay = POLICY.backoff(attempt, random.Random(seed))
    assert raw * (1 - POLICY.jitter) <= delay <= raw


def test_jitter_spreads_retries() -> None:
    rng = random.Random(7)
    assert len({round(POLICY.backoff(3, rng), 6) for _ in range(20)}) > 10


def test_an_absurd_retry_after_is_capped_not_a_crash() -> None:
    """A broken or hostile server may send Retry-After: inf or 1e15; timedelta overflows on those, and the job
    would then sit 'running' until its lease expired, again and again."""
    for wait in (float("inf"), 1e15):
        outcome = run(RateLimitedError("429", retry_after=wait))
        assert outcome.action == "retry"  # type: ignore[attr-defined]
        delay = (outcome.run_after - NOW).total_seconds()  # type: ignore[attr-defined]
        assert MAX_RETRY_AFTER_SECONDS <= delay <= MAX_RETRY_AFTER_SECONDS + 1


def test_a_retry_after_that_is_not_a_number_falls_back_on_the_backoff() -> None:
    outcome = run(RateLimitedError("429", retry_after=float("nan")))
    delay = (outcome.run_after - NOW).total_seconds()  # type: ignore[attr-defined]
    assert 1.0 <= delay <= 2.0  # the policy's first backoff: 2 s with 50 % jitter

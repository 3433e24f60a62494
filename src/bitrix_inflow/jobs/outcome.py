"""What a handler's exception means for its job: pure decision, no I/O."""

from __future__ import annotations

import datetime as dt
import math
import random
import traceback
from dataclasses import dataclass
from typing import Literal

from bitrix_inflow.errors import NothingToDo, PermanentError, RateLimitedError, TransientError
from bitrix_inflow.jobs.model import RetryPolicy
from bitrix_inflow.log import redactor

MAX_ERROR_TEXT = 4000
MAX_RETRY_AFTER_SECONDS = 86_400.0  # a day: longer than any real rate limit, short enough to notice


@dataclass(frozen=True)
class Outcome:
    action: Literal["done", "retry", "dead"]
    run_after: dt.datetime | None = None
    error: str | None = None


def describe(exc: BaseException, *, with_traceback: bool) -> str:
    """The error text a job keeps: operators read it in `jobs list`, so known secrets are blanked as in logs."""
    text = f"{type(exc).__name__}: {exc}"
    if with_traceback:
        text += "\n" + "".join(traceback.format_exception(exc)[-6:])
    return redactor.scrub_text(text)[:MAX_ERROR_TEXT]


def decide(
    exc: BaseException | None,
    *,
    attempt: int,
    max_attempts: int,
    policy: RetryPolicy,
    now: dt.datetime,
    rng: random.Random,
) -> Outcome:
    if exc is None or isinstance(exc, NothingToDo):
        return Outcome("done", error=None if exc is None else describe(exc, with_traceback=False))
    if isinstance(exc, PermanentError):
        return Outcome("dead", error=describe(exc, with_traceback=False))
    # Transient, rate-limited, or an unexpected bug (which may be a race): retry while attempts remain.
    unexpected = not isinstance(exc, TransientError)
    error = describe(exc, with_traceback=unexpected)
    if attempt >= max_attempts:
        return Outcome("dead", error=f"gave up after {attempt} attempts; last error: {error}")
    delay = policy.backoff(attempt, rng)
    if isinstance(exc, RateLimitedError) and exc.retry_after is not None and not math.isnan(exc.retry_after):
        # The server's wait wins, plus a little jitter so that many workers do not return in lock-step; capped,
        # because an absurd wait (inf, 1e15) would overflow the timestamp and crash the outcome's recording.
        wait = min(max(exc.retry_after, 0.0), MAX_RETRY_AFTER_SECONDS)
        delay = wait + rng.uniform(0, min(1.0, policy.base_delay))
    return Outcome("retry", run_after=now + dt.timedelta(seconds=delay), error=error)

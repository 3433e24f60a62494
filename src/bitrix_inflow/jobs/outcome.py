"""What a handler's exception means for its job: pure decision, no I/O."""

from __future__ import annotations

import datetime as dt
import random
import traceback
from dataclasses import dataclass
from typing import Literal

from bitrix_inflow.errors import NothingToDo, PermanentError, RateLimitedError, TransientError
from bitrix_inflow.jobs.model import RetryPolicy
from bitrix_inflow.log import redactor
from bitrix_inflow.timing import MAX_SERVER_WAIT_SECONDS, hinted_delay, usable_server_wait

MAX_ERROR_TEXT = 4000
MAX_RETRY_AFTER_SECONDS = (
    MAX_SERVER_WAIT_SECONDS  # a day: longer than any real rate limit, short enough to notice
)


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
    # The server's wait wins; capped, because an absurd wait (inf, 1e15) would overflow the timestamp and crash
    # the outcome's recording.
    server_wait = usable_server_wait(exc.retry_after) if isinstance(exc, RateLimitedError) else None
    if server_wait is not None:
        delay = hinted_delay(server_wait, base=policy.base_delay, rng=rng)
    return Outcome("retry", run_after=now + dt.timedelta(seconds=delay), error=error)

"""Time as a dependency, and how long to wait before trying again: one copy for the job engine and both adapters.

Everything that reads the time or sleeps takes a :class:`Clock`, so tests drive it with a fake one and nothing
waits for real. :func:`backoff_delay` and :func:`hinted_delay` are the only backoff arithmetic in the service.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from typing import Protocol

# A server wait we still obey; anything longer (inf, 1e15, a broken header) would overflow a timestamp.
MAX_SERVER_WAIT_SECONDS = 86_400.0


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """Wall time, timezone-aware UTC: what is stored and compared with the database."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go backwards: what intervals (rate limits, token lifetimes) are measured in."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


def backoff_delay(
    retry: int,
    *,
    base: float,
    cap: float,
    rng: random.Random,
    multiplier: float = 2.0,
    jitter: float = 0.5,
) -> float:
    """Seconds to wait before retry number ``retry`` (1 = the wait after the first failure).

    Exponential, capped, with ``jitter`` of the step randomised: 0.5 is "equal jitter" (never less than half the
    step, so no hammering; never in lock-step with other clients that failed at the same moment).
    """
    if retry < 1:
        raise ValueError("retry counts from 1")
    step = min(cap, base * multiplier ** (retry - 1))
    fixed = step * (1 - jitter)
    return fixed + rng.uniform(0, step - fixed)


def usable_server_wait(seconds: float | None) -> float | None:
    """A server's ``Retry-After`` as a wait we can obey: ``None`` for nan, clamped to ``0..MAX_SERVER_WAIT``."""
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_SERVER_WAIT_SECONDS)


def hinted_delay(server_wait: float, *, base: float, rng: random.Random) -> float:
    """The wait a server asked for, never less, plus up to a second of jitter so throttled clients spread out."""
    return server_wait + rng.uniform(0, min(1.0, base))

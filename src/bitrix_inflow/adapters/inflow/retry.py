"""Retry policy: exponential backoff with jitter on transient errors only, honouring the server's wait."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from bitrix_inflow.adapters.inflow.problems import UnavailableError
from bitrix_inflow.adapters.inflow.settings import InflowRetry
from bitrix_inflow.errors import RateLimitedError, TransientError

T = TypeVar("T")


class Backoff:
    def __init__(
        self,
        policy: InflowRetry,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self._sleep = sleep
        self._rng = rng or random.Random()  # jitter, not cryptography

    def wait_before_retry(self, retry_no: int, error: TransientError) -> None:
        """Sleep before retry ``retry_no`` (1 = the 2nd attempt), or re-raise if the wait is too long."""
        hinted = error.retry_after if isinstance(error, RateLimitedError | UnavailableError) else None
        if hinted is not None:
            if hinted > self.policy.max_retry_after:
                raise error  # let the job engine reschedule instead of holding a worker
            # Never sooner than asked; a little jitter spreads clients that were throttled together.
            self._sleep(hinted + self._rng.uniform(0, min(1.0, self.policy.base_delay)))
            return
        ceiling = min(self.policy.max_delay, self.policy.base_delay * 2 ** (retry_no - 1))
        self._sleep(self._rng.uniform(ceiling / 2, ceiling))  # "equal jitter": never zero, never in lockstep

    def run(self, action: Callable[[], T]) -> T:
        """Call ``action`` until it succeeds, a non-transient error occurs, or the attempts run out."""
        attempt = 1
        while True:
            try:
                return action()
            except TransientError as exc:
                if attempt >= self.policy.attempts:
                    raise
                self.wait_before_retry(attempt, exc)
                attempt += 1

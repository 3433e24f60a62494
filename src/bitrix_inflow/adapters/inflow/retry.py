"""Retry policy of one Inflow call: backoff with jitter on transient errors only, honouring the server's wait."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeVar

from bitrix_inflow.adapters.inflow.problems import UnavailableError
from bitrix_inflow.adapters.inflow.settings import InflowRetry
from bitrix_inflow.errors import RateLimitedError, TransientError
from bitrix_inflow.timing import Clock, SystemClock, backoff_delay, hinted_delay

T = TypeVar("T")


class Backoff:
    def __init__(
        self, policy: InflowRetry, *, clock: Clock | None = None, rng: random.Random | None = None
    ) -> None:
        self.policy = policy
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()  # jitter, not cryptography

    def wait_before_retry(self, retry_no: int, error: TransientError) -> None:
        """Sleep before retry ``retry_no`` (1 = the 2nd attempt), or re-raise if the wait is too long."""
        hinted = error.retry_after if isinstance(error, RateLimitedError | UnavailableError) else None
        if hinted is not None:
            if hinted > self.policy.max_retry_after:
                raise error  # let the job engine reschedule instead of holding a worker
            self._clock.sleep(hinted_delay(hinted, base=self.policy.base_delay, rng=self._rng))
            return
        self._clock.sleep(
            backoff_delay(retry_no, base=self.policy.base_delay, cap=self.policy.max_delay, rng=self._rng)
        )

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

"""Client-side pacing: a leaky bucket mirroring Bitrix24's own, and the retry budget between attempts.

Both take the shared clock so the arithmetic is tested with a fake one; nothing here talks to the network.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from bitrix_inflow.timing import Clock, backoff_delay, hinted_delay


class LeakyBucket:
    """Bitrix24 counts +1 per HTTP request and drains ``rate`` per second; above ``burst`` it answers 503.

    We keep the same counter locally and wait *before* sending whenever the next request would overflow it,
    so a healthy integration never sees QUERY_LIMIT_EXCEEDED. Thread-safe: waits are reserved under a lock
    and slept outside it, so concurrent callers queue up in order instead of all waking at once.
    """

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._level = 0.0
        self._stamp = clock.monotonic()
        self._lock = threading.Lock()

    def _drain(self, now: float) -> None:
        self._level = max(0.0, self._level - (now - self._stamp) * self.rate)
        self._stamp = now

    def reserve(self) -> float:
        """Take a slot; returns how long the caller must wait before sending (0 if it may go now)."""
        with self._lock:
            now = self._clock.monotonic()
            self._drain(now)
            wait = max(0.0, (self._level + 1.0 - self.burst) / self.rate)
            self._level += 1.0
            return wait

    def acquire(self) -> float:
        wait = self.reserve()
        self._clock.sleep(wait)
        return wait

    def saturate(self) -> None:
        """The server said its bucket is full (503): assume ours is too, so the next sends are paced."""
        with self._lock:
            self._drain(self._clock.monotonic())
            self._level = max(self._level, self.burst)

    @property
    def level(self) -> float:
        with self._lock:
            self._drain(self._clock.monotonic())
            return self._level


_portal_buckets: dict[tuple[str, float, int], LeakyBucket] = {}
_portal_lock = threading.Lock()


def portal_bucket(portal: str, rate: float, burst: int, clock: Clock) -> LeakyBucket:
    """The one bucket of a portal in this process: the portal counts every request from it, whichever worker
    thread sent it, so threads pacing themselves separately would together overrun it (and pay in 503 retries)."""
    with _portal_lock:
        key = (portal, rate, burst)
        bucket = _portal_buckets.get(key)
        if bucket is None:
            bucket = _portal_buckets[key] = LeakyBucket(rate, burst, clock)
        return bucket


@dataclass
class Backoff:
    """The gateway's retry waits (``timing.backoff_delay``); a server wait within ``cap`` is honoured."""

    base: float = 1.0
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, server_wait: float | None = None) -> float:
        """Wait before retry number ``attempt`` (1 = first retry)."""
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        if server_wait is not None and server_wait > 0:
            return hinted_delay(min(self.cap, server_wait), base=self.base, rng=self.rng)
        return backoff_delay(attempt, base=self.base, cap=self.cap, rng=self.rng)

    def too_long(self, server_wait: float | None) -> bool:
        """A server wait beyond ``cap`` is handed to the job engine instead of blocking a worker."""
        return server_wait is not None and server_wait > self.cap

"""Cloud limits: the per-IP leaky bucket (503 QUERY_LIMIT_EXCEEDED) and per-method operating time (429)."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field

OPERATING_WINDOW_S = 600.0


@dataclass
class LeakyBucket:
    """Each request adds 1; the level drains at ``drain_per_s``; a request that would overflow is refused."""

    levels: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, key: str, now: float, *, size: int, drain_per_s: float) -> bool:
        with self._lock:
            level, at = self.levels.get(key, (0.0, now))
            level = max(0.0, level - (now - at) * drain_per_s)
            if level + 1 > size:
                self.levels[key] = (level, now)
                return False
            self.levels[key] = (level + 1, now)
            return True

    def reset(self) -> None:
        with self._lock:
            self.levels.clear()


@dataclass
class OperatingTime:
    """Seconds spent per (credential, method) in a sliding 10-minute window.

    Bookings are appended in time order, so the expired ones are dropped from the left: booking stays O(1)
    however many requests the window holds (100,000 writes in ten minutes made it quadratic before)."""

    spent: dict[tuple[str, str], deque[tuple[float, float]]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _pruned(self, key: tuple[str, str], now: float) -> deque[tuple[float, float]]:
        entries = self.spent[key]
        while entries and entries[0][0] <= now - OPERATING_WINDOW_S:
            entries.popleft()
        return entries

    def used(self, credential: str, method: str, now: float) -> tuple[float, float]:
        """(seconds used, unix time the oldest booking leaves the window)."""
        with self._lock:
            # Filtered again: a clock moved by the control API may have booked out of order.
            entries = [e for e in self._pruned((credential, method), now) if e[0] > now - OPERATING_WINDOW_S]
            total = sum(cost for _, cost in entries)
            reset_at = (entries[0][0] if entries else now) + OPERATING_WINDOW_S
            return total, reset_at

    def book(self, credential: str, method: str, now: float, cost: float) -> None:
        with self._lock:
            self._pruned((credential, method), now).append((now, cost))

    def reset(self) -> None:
        with self._lock:
            self.spent.clear()

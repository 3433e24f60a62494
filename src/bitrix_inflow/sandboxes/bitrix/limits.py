"""Cloud limits: the per-IP leaky bucket (503 QUERY_LIMIT_EXCEEDED) and per-method operating time (429)."""

from __future__ import annotations

import threading
from collections import defaultdict
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
    """Seconds spent per (credential, method) in a sliding 10-minute window."""

    spent: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _window(self, key: tuple[str, str], now: float) -> list[tuple[float, float]]:
        entries = [(at, cost) for at, cost in self.spent[key] if at > now - OPERATING_WINDOW_S]
        self.spent[key] = entries
        return entries

    def used(self, credential: str, method: str, now: float) -> tuple[float, float]:
        """(seconds used, unix time the oldest booking leaves the window)."""
        with self._lock:
            entries = self._window((credential, method), now)
            total = sum(cost for _, cost in entries)
            reset_at = (entries[0][0] if entries else now) + OPERATING_WINDOW_S
            return total, reset_at

    def book(self, credential: str, method: str, now: float, cost: float) -> None:
        with self._lock:
            self._window((credential, method), now).append((now, cost))

    def reset(self) -> None:
        with self._lock:
            self.spent.clear()

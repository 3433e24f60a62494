"""Wall-clock timestamps in microseconds, strictly increasing so that ``updated_since`` deltas never tie."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Timestamps:
    def __init__(self) -> None:
        self._last = 0

    def now_us(self) -> int:
        now = time.time_ns() // 1000
        if now <= self._last:
            now = self._last + 1
        self._last = now
        return now

    def observe(self, us: int) -> None:
        """After loading a snapshot, never hand out a timestamp older than what is stored."""
        self._last = max(self._last, us)


def format_us(us: int) -> str:
    moment = datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339_us(text: str) -> int:
    """Parse an RFC 3339 timestamp (with offset or Z) into epoch microseconds; ValueError if it is not one."""
    if len(text) < 20 or text[10] not in "Tt ":
        raise ValueError("not an RFC 3339 date-time")
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError("RFC 3339 needs an offset or Z")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

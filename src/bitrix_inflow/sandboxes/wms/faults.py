"""Fault injection settings. Every random decision draws from one ``random.Random(seed)`` so runs repeat."""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class FaultSettings:
    seed: int = 0
    latency_ms: int = 0
    error_rate: float = 0.0
    hang_rate: float = 0.0
    hang_seconds: float = 30.0
    reset_rate: float = 0.0
    burst_429: int = 0
    rate_429: float = 0.0  # a share of API requests answered 429 at random (a busy shared gateway)
    rate_limit_rps: int = 0  # a real limit: requests per second and client address, 0 = off
    retry_after: int = 1
    processing_delay_ms: int = 0
    picking_error_rate: float = 0.0
    picking_error_skus: list[str] = field(default_factory=list)
    picking_error_bins: list[str] = field(default_factory=list)
    # A warehouse's scanning mistakes at packing, per SKU: the last unit of a line left without a code (missing),
    # given the line's first code again (repeat, a double scan), or a code this warehouse already shipped in another
    # order (reuse, a label reprinted from an old box).
    marking_missing_skus: list[str] = field(default_factory=list)
    marking_repeat_skus: list[str] = field(default_factory=list)
    marking_reuse_skus: list[str] = field(default_factory=list)
    webhook_drop_rate: float = 0.0
    webhook_duplicate_rate: float = 0.0
    webhook_reorder_rate: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_RATES = {"error_rate", "hang_rate", "reset_rate", "rate_429", "picking_error_rate"} | {
    f"webhook_{k}_rate" for k in ("drop", "duplicate", "reorder")
}


class Faults:
    def __init__(self, settings: FaultSettings | None = None) -> None:
        self.settings = settings or FaultSettings()
        self.rng = random.Random(self.settings.seed)
        self._window = 0
        self._counts: dict[str, int] = {}
        self.met: Counter[str] = Counter()  # faults injected so far, by kind (GET /_sandbox/faults/met)

    def update(self, changes: dict[str, Any]) -> None:
        """Merge validated changes; raise ValueError naming the offending field."""
        known = {f.name: f for f in fields(FaultSettings)}
        merged = self.settings.to_dict()
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"{name}: unknown fault; known: {', '.join(sorted(known))}")
            merged[name] = _checked(name, value, merged[name])
        self.settings = FaultSettings(**merged)
        if "seed" in changes:
            self.rng = random.Random(self.settings.seed)

    def clear(self) -> None:
        self.settings = FaultSettings(seed=self.settings.seed)
        self.rng = random.Random(self.settings.seed)

    def chance(self, rate: float, kind: str | None = None) -> bool:
        # No draw for a zero rate: switching one fault on must not shift the sequence of another.
        hit = rate > 0 and self.rng.random() < rate
        if hit and kind is not None:
            self.met[kind] += 1
        return hit

    def take_429(self, client: str) -> bool:
        if self.settings.burst_429 > 0:
            self.settings.burst_429 -= 1
            self.met["429"] += 1
            return True
        if self.chance(self.settings.rate_429, "429"):
            return True
        limit = self.settings.rate_limit_rps
        if not limit:
            return False
        window = int(time.monotonic())
        if window != self._window:
            self._window, self._counts = window, {}
        self._counts[client] = self._counts.get(client, 0) + 1
        limited = self._counts[client] > limit
        self.met["429"] += int(limited)
        return limited


def _checked(name: str, value: Any, current: Any) -> Any:
    if isinstance(current, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{name}: must be a list of strings")
        return list(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: must be a number")  # noqa: TRY004 - reported as a 400
    if not math.isfinite(value):  # JSON's 1e400 decodes to INF; int(INF) would raise OverflowError
        raise ValueError(f"{name}: must be a finite number")
    if value < 0:
        raise ValueError(f"{name}: must not be negative")
    if name in _RATES and value > 1:
        raise ValueError(f"{name}: a rate is between 0 and 1")
    return type(current)(value)

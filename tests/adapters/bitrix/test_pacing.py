"""Pacing arithmetic with a fake clock: the leaky bucket and the back-off policy."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitrix_inflow.adapters.bitrix.pacing import Backoff, LeakyBucket


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += max(0.0, seconds)


def test_burst_goes_out_without_waiting_then_paces_at_the_rate() -> None:
    clock = FakeClock()
    bucket = LeakyBucket(rate=2.0, burst=5, clock=clock)
    waits = [bucket.acquire() for _ in range(8)]
    assert waits[:5] == [0.0] * 5
    # Every further request waits for half a second's worth of drain at 2 req/s.
    assert waits[5:] == pytest.approx([0.5, 0.5, 0.5])


def test_idle_time_drains_the_bucket() -> None:
    clock = FakeClock()
    bucket = LeakyBucket(rate=2.0, burst=3, clock=clock)
    for _ in range(3):
        bucket.acquire()
    assert bucket.level == pytest.approx(3.0)
    clock.t += 1.0
    assert bucket.level == pytest.approx(1.0)
    clock.t += 10.0
    assert bucket.level == 0.0
    assert bucket.acquire() == 0.0


def test_sustained_rate_never_exceeds_configured_rate() -> None:
    clock = FakeClock()
    bucket = LeakyBucket(rate=2.0, burst=10, clock=clock)
    start = clock.t
    sent = 110
    for _ in range(sent):
        bucket.acquire()
    elapsed = clock.t - start
    # 10 go at once, the other 100 need 50 s at 2/s.
    assert elapsed == pytest.approx(50.0)


def test_saturate_after_a_server_503_makes_the_next_call_wait() -> None:
    clock = FakeClock()
    bucket = LeakyBucket(rate=2.0, burst=50, clock=clock)
    assert bucket.acquire() == 0.0
    bucket.saturate()
    assert bucket.acquire() == pytest.approx(0.5)


def test_concurrent_reservations_queue_in_order() -> None:
    clock = FakeClock()
    bucket = LeakyBucket(rate=4.0, burst=1, clock=clock)
    # Without sleeping in between (as threads reserving at the same instant), waits grow by 1/rate.
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0.0, 0.25, 0.5, 0.75])


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 5), (2, 0)])
def test_bucket_rejects_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        LeakyBucket(rate=rate, burst=burst, clock=FakeClock())


def test_backoff_grows_exponentially_within_jitter_and_cap() -> None:
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(7))
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]:
        for _ in range(50):
            delay = backoff.delay(attempt)
            assert step / 2 <= delay <= step


def test_backoff_jitter_spreads_clients() -> None:
    backoff = Backoff(base=1.0, cap=60.0, rng=random.Random(1))
    delays = {round(backoff.delay(3), 6) for _ in range(20)}
    assert len(delays) > 10


def test_backoff_honours_the_server_wait() -> None:
    backoff = Backoff(base=1.0, cap=30.0, rng=random.Random(3))
    for _ in range(20):
        delay = backoff.delay(1, server_wait=12.0)
        assert 12.0 <= delay <= 13.0
    assert not backoff.too_long(30.0)
    assert backoff.too_long(31.0)
    assert not backoff.too_long(None)


def test_backoff_attempt_counts_from_one() -> None:
    with pytest.raises(ValueError):
        Backoff().delay(0)


@given(
    rate=st.floats(min_value=0.5, max_value=10),
    burst=st.integers(min_value=1, max_value=60),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=200),
)
def test_sends_never_overflow_a_server_bucket_of_the_same_size(
    rate: float, burst: int, gaps: list[float]
) -> None:
    """Whatever the caller's rhythm, replaying the send times into Bitrix's own bucket never overflows it."""
    clock = FakeClock()
    bucket = LeakyBucket(rate=rate, burst=burst, clock=clock)
    sends: list[float] = []
    for gap in gaps:
        clock.t += gap
        bucket.acquire()
        sends.append(clock.t)
    level, last = 0.0, sends[0]
    for at in sends:
        level = max(0.0, level - (at - last) * rate)
        last = at
        assert level + 1 <= burst + 1e-6
        level += 1

from __future__ import annotations

import datetime as dt

import pytest

from bitrix_inflow.timing import SystemClock

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


class FixedClock(SystemClock):
    """Use cases only read the wall time; pinning it lets a test find the exact stamp they wrote."""

    def now(self) -> dt.datetime:
        return NOW


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()

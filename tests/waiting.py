"""Waiting for something another process or thread does: the one polling helper of the tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 10, *, every: float = 0.02) -> Any:
    """``condition()``'s first truthy value, polled every ``every`` seconds; an AssertionError naming ``what`` when
    ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")

"""What any one sender may ask of the web app: bodies read up to a limit (never the whole of an endless one), and
requests per second per client address (a token bucket; the answer says when to come back)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from fastapi import Request
from fastapi.responses import JSONResponse


async def body_within(request: Request, limit: int) -> bytes | None:
    """The request's body, or None as soon as it is known to be longer than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class RateLimit:
    """``rate`` requests a second per key, ``burst`` at once. One instance per endpoint and process: several
    instances behind a balancer each allow their share, which is what a flood meets anyway."""

    MAX_KEYS = 10_000

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """0 when the request may go now (and it is counted), else the seconds until it may."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return (1 - tokens) / self.rate
            if len(self._buckets) >= self.MAX_KEYS and key not in self._buckets:
                self._buckets.clear()  # a flood of addresses: forget them all rather than grow without end
            self._buckets[key] = (tokens - 1, now)
            return 0.0


async def admitted_body(
    request: Request, per_sender: RateLimit, limit: int, *, what: str
) -> bytes | JSONResponse:
    """A hook delivery's body, or the answer refusing it: 429 (with ``Retry-After``) when its sender is over its
    rate, 413 when it is longer than ``limit`` bytes."""
    wait = per_sender.wait(client_of(request))
    if wait:
        return JSONResponse(
            {"error": f"too many {what}s"}, 429, headers={"Retry-After": str(math.ceil(wait))}
        )
    body = await body_within(request, limit)
    if body is None:
        return JSONResponse({"error": f"a {what} is at most {limit} bytes"}, 413)
    return body


def client_of(request: Request) -> str:
    return request.client.host if request.client else "?"

"""A reseed (``POST /_sandbox/seed``) that lands while an order stream is running ends the stream: its orders
would otherwise land in the fresh shop someone just set up, or fail in one without products."""

from __future__ import annotations

import time

from bitrix_inflow.sandboxes.bitrix import SandboxConfig, running_bitrix_sandbox


def test_a_reseed_ends_a_running_order_stream() -> None:
    with running_bitrix_sandbox(SandboxConfig(), https=False, products=3) as shop:
        # Far longer than the test: only the reseed can end it.
        stream = shop.control.stream_orders(count=100_000, rate_per_s=20)
        shop.control.seed(products=0)
        deadline = time.monotonic() + 30
        state = stream
        while not state["done"] and time.monotonic() < deadline:
            time.sleep(0.05)
            state = shop.control.stream_status(stream["id"])
        assert state["done"] and state["stopped_by_reseed"]
        assert shop.control.entities("orders") == []

"""Soak: the gateway's poller keeps up with a stream of orders under cloud limits (``make soak``)."""

from __future__ import annotations

import time

import pytest

from bitrix_inflow.adapters.bitrix import OrderWatermark
from bitrix_inflow.sandboxes.bitrix import SandboxConfig, running_bitrix_sandbox

from .conftest import MakeGateway


@pytest.mark.soak
def test_poller_sees_every_streamed_order_without_tripping_the_cloud_limits(gateway_for: MakeGateway) -> None:
    with running_bitrix_sandbox(SandboxConfig(profile="bitrix24"), products=20) as shop:
        shop.control.faults(limiter=True, bucket_size=50, drain_per_s=2.0)
        gateway = gateway_for(shop, profile="bitrix24")  # default pacing: 2 req/s, burst 10
        stream = shop.control.stream_orders(count=150, rate_per_s=5, shipments=2)
        seen: dict[int, int] = {}
        mark = OrderWatermark()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            state = shop.control.stream_status(stream["id"])
            polled = gateway.orders_changed_since(mark)
            for order in polled.new:
                seen[order.id] = seen.get(order.id, 0) + 1
                bundle = gateway.get_order(order.id)
                assert bundle.shipments and bundle.basket
            mark = polled.watermark
            if state["done"] and polled.complete and set(state["placed"]) <= set(seen):
                break
        assert set(seen) == set(shop.control.stream_status(stream["id"])["placed"])
        assert all(count == 1 for count in seen.values())  # each order is "new" exactly once
        assert gateway.transport.retries == 0  # paced below the bucket: no 503 ever

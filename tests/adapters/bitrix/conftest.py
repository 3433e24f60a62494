"""Fixtures: sandbox shops on 127.0.0.1 over HTTPS with their test CA, and gateways pointed at them.

The sandbox is only ever used from these tests; the gateway itself knows nothing about it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bitrix_inflow.adapters.bitrix import BitrixGateway, BitrixSettings
from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox

MakeGateway = Callable[..., BitrixGateway]


@pytest.fixture(scope="module")
def site_shop() -> Iterator[RunningSandbox]:
    """On-prem Site Management (no limits), inventory management off so product quantities are writable."""
    with running_bitrix_sandbox(
        SandboxConfig(profile="site", inventory_management=False), products=12
    ) as running:
        yield running


@pytest.fixture(scope="module")
def cloud_shop() -> Iterator[RunningSandbox]:
    """Bitrix24 in cloud mode: leaky bucket and operating-time limit on, inventory management on."""
    with running_bitrix_sandbox(SandboxConfig(profile="bitrix24"), products=12) as running:
        yield running


@pytest.fixture
def faults(cloud_shop: RunningSandbox) -> Iterator[RunningSandbox]:
    """The cloud shop, with its fault switches and limit counters put back after the test."""
    before = cloud_shop.control.faults()
    yield cloud_shop
    cloud_shop.control.faults(**before)
    cloud_shop.control.reset_limits()


@pytest.fixture
def gateway_for() -> Iterator[MakeGateway]:
    """``gateway_for(shop, **settings)``: a webhook gateway trusting the shop's test CA."""
    made: list[BitrixGateway] = []

    def make(running: RunningSandbox, **overrides: Any) -> BitrixGateway:
        options: dict[str, Any] = {
            "webhook_url": running.webhook_url,
            "verify": running.ca_file,
            "manager_user_id": 1,
            "backoff_base": 0.05,
            "backoff_cap": 2.0,
            "read_timeout": 10.0,
        }
        options.update(overrides)
        gateway = BitrixGateway(BitrixSettings(**options))
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.close()


def place(running: RunningSandbox, *lines: tuple[int, float], **extra: Any) -> dict[str, Any]:
    """Places an order through the sandbox's control API (the shop's own storefront, not the REST API)."""
    return running.control.place_order(
        lines=[{"productId": pid, "quantity": qty} for pid, qty in lines], **extra
    )


def product_ids(running: RunningSandbox) -> list[int]:
    return sorted(int(row["id"]) for row in running.control.entities("products"))

"""Fixtures: real sandbox shops on 127.0.0.1 (ephemeral ports, HTTPS with a throwaway CA unless noted)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox


def trust(running: RunningSandbox) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=str(running.ca_file)) if running.ca_file else True


class Rest:
    """Calls REST methods the way a plain HTTP client would; returns the raw response."""

    def __init__(self, running: RunningSandbox) -> None:
        self.running = running
        self.http = httpx.Client(verify=trust(running), timeout=20)

    def post(
        self, method: str, params: dict[str, Any] | None = None, *, base: str | None = None
    ) -> httpx.Response:
        return self.http.post((base or self.running.webhook_url) + method, json=params or {})

    def ok(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.post(method, params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "error" not in body
        return dict(body)

    def error(self, method: str, params: dict[str, Any] | None = None, *, status: int) -> dict[str, Any]:
        response = self.post(method, params)
        assert response.status_code == status, response.text
        body = dict(response.json())
        assert set(body) >= {"error", "error_description"}
        assert "time" not in body
        return body

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="session")
def rest_class() -> type[Rest]:
    """For modules that run a shop of their own: ``rest_class(running)`` talks to it like ``rest``."""
    return Rest


@pytest.fixture(scope="module")
def shop() -> Iterator[RunningSandbox]:
    """Site Management, on-prem, HTTPS, 30 generated products. Their shipments deduct without marking codes: these
    tests are about sale and stock arithmetic (the marking check has its own, test_companion_module.py)."""
    config = SandboxConfig(profile="site", marking_check_on_deduct=False)
    with running_bitrix_sandbox(config, products=30) as running:
        yield running


@pytest.fixture(scope="module")
def rest(shop: RunningSandbox) -> Iterator[Rest]:
    client = Rest(shop)
    yield client
    client.close()


@pytest.fixture(scope="module")
def cloud_shop() -> Iterator[RunningSandbox]:
    """Bitrix24 profile in cloud mode (limits on, operating keys in ``time``)."""
    with running_bitrix_sandbox(SandboxConfig(profile="bitrix24"), products=10) as running:
        yield running


@pytest.fixture(scope="module")
def cloud_rest(cloud_shop: RunningSandbox) -> Iterator[Rest]:
    client = Rest(cloud_shop)
    yield client
    client.close()


@pytest.fixture
def clean_faults(cloud_shop: RunningSandbox) -> Iterator[RunningSandbox]:
    """Hands out the cloud shop and puts its fault switches back afterwards."""
    before = cloud_shop.control.faults()
    yield cloud_shop
    cloud_shop.control.faults(**before)
    cloud_shop.control.reset_limits()


def _place(running: RunningSandbox, *lines: tuple[int, float], **extra: Any) -> dict[str, Any]:
    return running.control.place_order(
        lines=[{"productId": pid, "quantity": qty} for pid, qty in lines], **extra
    )


@pytest.fixture(scope="session")
def place() -> Any:
    """``place(sandbox, (product_id, quantity), ...)`` places an order through the control API."""
    return _place

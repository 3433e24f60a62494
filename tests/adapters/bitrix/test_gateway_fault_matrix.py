"""Every gateway method against every fault the sandbox injects: it succeeds, or raises the right typed error.

Creating calls (stock documents, notifications, tasks) are the exception to "retry until it works": after a
500 or a timeout they may have been applied, so they raise TransientError instead of repeating.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from bitrix_inflow.adapters.bitrix import (
    BitrixGateway,
    BitrixSettings,
    OAuthCredentials,
    OrderWatermark,
    StockLine,
)
from bitrix_inflow.errors import IntegrationError, RateLimitedError, TransientError
from bitrix_inflow.sandboxes.bitrix import RunningSandbox
from bitrix_inflow.timing import SystemClock

from .conftest import place, product_ids


@dataclass(frozen=True)
class Subject:
    order_id: int
    shipment_id: int
    product_id: int


Op = Callable[[BitrixGateway, Subject], Any]

OPERATIONS: dict[str, Op] = {
    "orders_changed_since": lambda g, s: g.orders_changed_since(OrderWatermark(last_id=s.order_id - 1)),
    "get_order": lambda g, s: g.get_order(s.order_id),
    "set_order_status": lambda g, s: g.set_order_status(s.order_id, "P", allowed_from={"N", "P"}),
    "update_shipment": lambda g, s: g.update_shipment(s.shipment_id, tracking_number="RU1"),
    "set_product_quantities": lambda g, s: g.set_product_quantities({s.product_id: 1}),
    # S (acquisition) adds stock without a supplier; an A receipt needs one to be conducted.
    "post_stock_document": lambda g, s: g.post_stock_document(
        "S", [StockLine(product_id=s.product_id, amount=Decimal(1), store_to=1)]
    ),
    "stores": lambda g, s: g.stores(),
    "statuses": lambda g, s: g.statuses(),
    "check_access": lambda g, s: g.check_access(),
    "notify_manager": lambda g, s: g.notify_manager("matrix"),
    "create_task": lambda g, s: g.create_task("matrix", "fault matrix"),
}
CREATING = {"post_stock_document", "notify_manager", "create_task"}


@pytest.fixture(scope="module")
def subject(cloud_shop: RunningSandbox) -> Subject:
    pid = product_ids(cloud_shop)[0]
    order = place(cloud_shop, (pid, 1), shipments=[{"deliveryId": 2, "lines": [0]}])
    shipments = [
        s for s in cloud_shop.control.entities("shipments", orderId=order["id"]) if s.get("system") != "Y"
    ]
    return Subject(order_id=int(order["id"]), shipment_id=int(shipments[0]["id"]), product_id=pid)


class HealOnSleep(SystemClock):
    """Clears the faults at the gateway's first back-off, so a retry meets a healthy shop."""

    def __init__(self, running: RunningSandbox, healthy: dict[str, Any]) -> None:
        self.running = running
        self.healthy = healthy
        self.healed = False

    def sleep(self, seconds: float) -> None:
        if not self.healed:
            self.healed = True
            self.running.control.faults(**self.healthy)
            self.running.control.reset_limits()
        super().sleep(min(seconds, 0.02))


@pytest.fixture
def make(faults: RunningSandbox) -> Iterator[Callable[..., BitrixGateway]]:
    made: list[BitrixGateway] = []

    def build(clock: SystemClock | None = None, **overrides: Any) -> BitrixGateway:
        options: dict[str, Any] = {
            "webhook_url": faults.webhook_url,
            "verify": faults.ca_file,
            "profile": "bitrix24",
            "rate_limit": False,  # the server's own limits are what these tests provoke
            "manager_user_id": 1,
            "max_attempts": 3,
            "backoff_base": 0.01,
            "backoff_cap": 0.05,
            "read_timeout": 10.0,
        }
        options.update(overrides)
        gateway = BitrixGateway(BitrixSettings(**options), clock=clock)
        made.append(gateway)
        return gateway

    yield build
    for gateway in made:
        gateway.close()


FAULTS_THAT_PERSIST: dict[str, tuple[dict[str, Any], type[IntegrationError]]] = {
    "503 QUERY_LIMIT_EXCEEDED": ({"limiter": True, "bucket_size": 1, "drain_per_s": 0.001}, RateLimitedError),
    "429 OPERATION_TIME_LIMIT": ({"force_429": True}, RateLimitedError),
    "503 OVERLOAD_LIMIT": ({"overload": True}, RateLimitedError),
    "500 INTERNAL_SERVER_ERROR": ({"error_500_rate": 1.0}, TransientError),
}


@pytest.mark.parametrize("fault", list(FAULTS_THAT_PERSIST))
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_fault_that_persists_raises_its_typed_error(
    faults: RunningSandbox, make: Callable[..., BitrixGateway], subject: Subject, operation: str, fault: str
) -> None:
    switches, expected = FAULTS_THAT_PERSIST[fault]
    gateway = make()
    faults.control.reset_limits()
    faults.control.faults(**switches)
    if switches.get("limiter"):
        gateway.transport.call("server.time")  # fills the one-request bucket
    with pytest.raises(expected) as caught:
        OPERATIONS[operation](gateway, subject)
    assert type(caught.value) is expected


@pytest.mark.parametrize("fault", list(FAULTS_THAT_PERSIST))
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_fault_that_clears_is_ridden_out(
    faults: RunningSandbox, make: Callable[..., BitrixGateway], subject: Subject, operation: str, fault: str
) -> None:
    switches, _ = FAULTS_THAT_PERSIST[fault]
    healthy = {"limiter": False, "force_429": False, "overload": False, "error_500_rate": 0.0}
    clock = HealOnSleep(faults, healthy)
    gateway = make(clock=clock)
    faults.control.reset_limits()
    faults.control.faults(**switches)
    if switches.get("limiter"):
        gateway.transport.call("server.time")
    if operation in CREATING and fault.startswith("500"):
        # It may have been applied: not repeated, the job engine decides.
        with pytest.raises(TransientError):
            OPERATIONS[operation](gateway, subject)
        assert gateway.transport.retries == 0
    else:
        OPERATIONS[operation](gateway, subject)
        assert clock.healed and gateway.transport.retries >= 1


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_answers_slower_than_the_read_timeout(
    faults: RunningSandbox, make: Callable[..., BitrixGateway], subject: Subject, operation: str
) -> None:
    faults.control.faults(slow_ms=600)
    gateway = make(read_timeout=0.2, max_attempts=2)
    with pytest.raises(TransientError, match="in time"):
        OPERATIONS[operation](gateway, subject)
    assert gateway.transport.requests_sent == (1 if operation in CREATING else 2)


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_slow_answers_within_the_read_timeout(
    faults: RunningSandbox, make: Callable[..., BitrixGateway], subject: Subject, operation: str
) -> None:
    faults.control.faults(slow_ms=100)
    gateway = make(read_timeout=5.0)
    started = time.monotonic()
    OPERATIONS[operation](gateway, subject)
    assert time.monotonic() - started >= 0.1  # the answer really was slow (a lower bound, not a speed check)
    assert gateway.transport.retries == 0


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_an_expired_oauth_token_is_refreshed_for_every_method(
    faults: RunningSandbox, subject: Subject, operation: str
) -> None:
    token = faults.control.issue_token()
    config = faults.sandbox.config
    refreshed: list[str] = []
    settings = BitrixSettings(
        oauth=OAuthCredentials(
            portal_url=faults.base_url,
            client_id=config.oauth_client_id,
            client_secret=config.oauth_client_secret,
            access_token=token["access_token"],
            refresh_token=token["refresh_token"],
            token_url=faults.base_url + "/oauth/token/",
        ),
        verify=faults.ca_file,
        profile="bitrix24",
        rate_limit=False,
        manager_user_id=1,
    )
    with BitrixGateway(settings, on_token_refreshed=lambda access, _: refreshed.append(access)) as gateway:
        faults.control.advance_clock(config.token_ttl_s + 60)
        OPERATIONS[operation](gateway, subject)
    assert len(refreshed) == 1

"""A reset (``POST /_sandbox/seed``) that lands while a request is in flight must not crash it, and the request
must not reach into the state the reset started: a create takes effect in the new state as if it had just
arrived; a webhook delivery on the wire belongs to the forgotten history.

Whatever is in flight waits at a gate the test opens, so each race runs in one fixed order.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from bitrix_inflow.sandboxes.bugs import BugLog
from bitrix_inflow.sandboxes.wms.app import build_service
from bitrix_inflow.sandboxes.wms.clock import Timestamps
from bitrix_inflow.sandboxes.wms.faults import Faults
from bitrix_inflow.sandboxes.wms.problems import Problem
from bitrix_inflow.sandboxes.wms.service import WmsService
from bitrix_inflow.sandboxes.wms.webhooks import Subscription, WebhookHub, WebhookSettings

PRINCIPAL = "api-key:sandbox-key"


class Gates:
    """Stands in for the processing delay: the first ``count`` creates each wait until the test opens their gate."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.gates: list[asyncio.Event] = []

    async def __call__(self) -> None:
        if len(self.gates) >= self.count:
            return
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()

    async def reached(self, count: int) -> None:
        while len(self.gates) < count:
            await asyncio.sleep(0)


def order_body(service: WmsService, ref: str = "B-1-1") -> dict[str, Any]:
    sku = next(s.code for s in service.stock.skus if s.marking_group is None)
    return {
        "external_ref": ref,
        "customer_order_ref": ref.split("-")[1],
        "warehouse": "MAIN",
        "lines": [{"line_no": 1, "sku": sku, "qty": 1}],
    }


def reset(service: WmsService) -> None:
    """What ``POST /_sandbox/seed`` does."""
    s = service.settings
    service.seed(s.warehouses, skus=s.skus, bins=s.bins, seed=s.seed, qty_min=s.qty_min, qty_max=s.qty_max)


@pytest.fixture
def service(settings_factory: Any) -> WmsService:
    built: WmsService = build_service(settings_factory())
    return built


def test_a_reset_while_a_keyed_create_is_in_flight(service: WmsService, monkeypatch: Any) -> None:
    gates = Gates(1)
    monkeypatch.setattr(service, "processing_delay", gates)

    async def race() -> None:
        create = asyncio.create_task(service.create_order(PRINCIPAL, order_body(service), "key-1"))
        await gates.reached(1)
        reset(service)
        gates.gates[0].set()
        response, replayed = await create
        assert response.status == 201 and not replayed
        assert list(service.book.orders) == [response.document["id"]]
        # The key belongs to the state the order landed in: a retry replays rather than meeting its own order
        # as a duplicate external_ref.
        retry, replayed = await service.create_order(PRINCIPAL, order_body(service), "key-1")
        assert replayed and retry.document == response.document

    asyncio.run(race())


def test_a_request_across_a_reset_meets_the_keys_of_the_new_state(
    service: WmsService, monkeypatch: Any
) -> None:
    gates = Gates(2)
    monkeypatch.setattr(service, "processing_delay", gates)
    body = order_body(service)

    async def race() -> None:
        before = asyncio.create_task(service.create_order(PRINCIPAL, body, "key-1"))
        await gates.reached(1)
        reset(service)
        after = asyncio.create_task(service.create_order(PRINCIPAL, body, "key-1"))
        await gates.reached(2)
        gates.gates[0].set()
        with pytest.raises(Problem) as refused:
            await before
        assert refused.value.kind == "idempotency-in-flight"
        gates.gates[1].set()
        response, replayed = await after
        assert response.status == 201 and not replayed
        assert list(service.book.orders) == [response.document["id"]]
        # The refused request left the key of the one that went on alone.
        replay, replayed = await service.create_order(PRINCIPAL, body, "key-1")
        assert replayed and replay.document == response.document

    asyncio.run(race())


# --------------------------------------------------------------------------------------------- webhooks


class GatedReceiver:
    """A webhook endpoint (an httpx mock transport) that holds each request until the test opens the gate."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.gate = asyncio.Event()
        self.status = 200

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.arrived.set()
        await self.gate.wait()
        return httpx.Response(self.status)


def hub_with_subscription() -> tuple[WebhookHub, Subscription]:
    hub = WebhookHub(Faults(), Timestamps(), WebhookSettings(), lambda data: data, BugLog("test"))
    return hub, hub.subscribe("http://receiver.test/hook", ["stock.changed"], "s3cret-s3cret-s3cret")


async def send_in_background(hub: WebhookHub, client: httpx.AsyncClient, receiver: GatedReceiver) -> Any:
    """Publish one event and start its delivery the way the hub's sender does; returns (delivery, task)."""
    hub.publish("stock.changed", {"warehouse": "MAIN", "skus": ["SKU-1"]})
    delivery = hub.deliveries[-1]
    delivery.state = "sending"
    task = asyncio.create_task(hub._attempt(client, delivery))
    await receiver.arrived.wait()
    return delivery, task


def test_a_delivery_on_the_wire_across_a_reset_leaves_the_new_history_alone() -> None:
    hub, _ = hub_with_subscription()
    receiver = GatedReceiver()

    async def race() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as client:
            old, sending = await send_in_background(hub, client, receiver)
            hub.forget_deliveries()
            hub.faults.update({"webhook_reorder_rate": 1.0})
            hub.publish("stock.changed", {"warehouse": "MAIN", "skus": ["SKU-2"]})
            [held] = hub.deliveries
            receiver.gate.set()
            await sending
            assert old.state == "delivered"
            # It overtook nothing of the new history: the reordered delivery waits for a later one.
            assert held.state == "held"

    asyncio.run(race())


def test_a_failed_delivery_of_a_forgotten_history_is_not_retried() -> None:
    hub, _ = hub_with_subscription()
    receiver = GatedReceiver()
    receiver.status = 503

    async def race() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as client:
            old, sending = await send_in_background(hub, client, receiver)
            hub.forget_deliveries()
            receiver.gate.set()
            await sending
            assert old.state == "dropped"

    asyncio.run(race())


def test_a_failed_delivery_of_a_deleted_subscription_is_not_retried() -> None:
    hub, subscription = hub_with_subscription()
    receiver = GatedReceiver()
    receiver.status = 503

    async def race() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as client:
            delivery, sending = await send_in_background(hub, client, receiver)
            hub.unsubscribe(subscription.id)
            receiver.gate.set()
            await sending
            assert delivery.state == "dropped"
            assert [d.state for d in hub.deliveries] == ["dropped"]

    asyncio.run(race())


def test_an_older_delivery_arriving_late_does_not_release_a_newer_held_one() -> None:
    hub, _ = hub_with_subscription()
    receiver = GatedReceiver()

    async def race() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as client:
            older, sending = await send_in_background(hub, client, receiver)
            hub.faults.update({"webhook_reorder_rate": 1.0})
            hub.publish("stock.changed", {"warehouse": "MAIN", "skus": ["SKU-2"]})
            newer = hub.deliveries[-1]
            receiver.gate.set()
            await sending
            assert older.state == "delivered"
            assert newer.state == "held"

    asyncio.run(race())

"""A reset (``POST /_sandbox/seed``) that lands while a create is in flight must not crash the request, and the
request takes effect in the state after the reset as if it had just arrived.

The warehouse's processing delay is replaced by gates the test opens, so each race runs in one fixed order.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bitrix_inflow.sandboxes.wms.app import build_service
from bitrix_inflow.sandboxes.wms.problems import Problem
from bitrix_inflow.sandboxes.wms.service import WmsService

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

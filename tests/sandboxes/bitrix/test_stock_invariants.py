"""Random sequences of shop operations never create or lose stock (seeded, so a failure replays)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox


@pytest.fixture(scope="module")
def small_shop() -> Iterator[RunningSandbox]:
    # Stock arithmetic over generated products: deducting needs no marking codes here (see test_companion_module.py).
    config = SandboxConfig(marking_check_on_deduct=False)
    with running_bitrix_sandbox(config, https=False, products=6, stores=2) as running:
        yield running


def _check_invariants(shop: RunningSandbox) -> None:
    cells = shop.control.entities("storeProducts")
    for product in shop.control.entities("products"):
        mine = [c for c in cells if c["productId"] == product["id"]]
        physical = sum(c["amount"] for c in mine)
        held = sum(c["quantityReserved"] for c in mine)
        # free + reserved is what the stores physically hold; reserved matches the stores' reservations
        assert product["quantity"] + product["quantityReserved"] == pytest.approx(physical), product["id"]
        assert product["quantityReserved"] == pytest.approx(held), product["id"]
        assert product["quantityReserved"] >= 0
    open_reservations: dict[int, float] = {}
    for item in shop.control.entities("basketItems"):
        for reservation in item["reservations"]:
            assert reservation["quantity"] >= 0
            open_reservations[item["productId"]] = (
                open_reservations.get(item["productId"], 0) + reservation["quantity"]
            )
    for product in shop.control.entities("products"):
        assert product["quantityReserved"] == pytest.approx(open_reservations.get(product["id"], 0)), product[
            "id"
        ]


def test_partial_shipment_then_a_refused_cancel_keeps_stock_consistent(small_shop: RunningSandbox) -> None:
    order = small_shop.control.place_order(lines=[{"productId": 1, "quantity": 3}], storeId=1)
    shipment = order["shipments"][0]
    line = shipment["shipmentItems"][0]
    with httpx.Client(timeout=20) as http:
        url = small_shop.webhook_url
        assert http.post(
            url + "sale.shipmentitem.update", json={"id": line["id"], "fields": {"quantity": 1}}
        ).is_success
        fields = {"allowDelivery": "Y", "deducted": "Y", "deliveryId": shipment["deliveryId"]}
        assert http.post(
            url + "sale.shipment.update", json={"id": shipment["id"], "fields": fields}
        ).is_success
        _check_invariants(small_shop)
        cancel = {"id": order["id"], "fields": {"canceled": "Y"}}
        refused = http.post(url + "sale.order.update", json=cancel)  # a shipped shipment: the shop refuses
        assert (
            refused.status_code == 400
            and refused.json()["error"] == "SALE_ORDER_CANCEL_SHIPMENT_EXIST_SHIPPED"
        )
        assert small_shop.control.entity("orders", order["id"])["canceled"] == "N"
    _check_invariants(small_shop)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_operations_keep_stock_consistent(small_shop: RunningSandbox, seed: int) -> None:
    rng = random.Random(seed)
    http = httpx.Client(timeout=20)

    def call(method: str, params: dict[str, Any]) -> httpx.Response:
        return http.post(small_shop.webhook_url + method, json=params)

    try:
        for _ in range(100):
            orders = small_shop.control.entities("orders")
            action = rng.choice(
                ["place", "place", "cancel", "status_z", "deduct", "undeduct", "shrink", "doc", "free"]
            )
            if action == "place" or not orders:
                lines = [
                    {"productId": rng.randint(1, 6), "quantity": rng.randint(1, 4)}
                    for _ in range(rng.randint(1, 3))
                ]
                plan = [{"deliveryId": rng.randint(1, 4), "lines": list(range(len(lines)))}]
                small_shop.control.place_order(lines=lines, shipments=plan, storeId=rng.randint(1, 2))
            elif action in ("cancel", "status_z"):
                fields = {"canceled": "Y"} if action == "cancel" else {"statusId": "Z"}
                answer = call("sale.order.update", {"id": rng.choice(orders)["id"], "fields": fields})
                # A cancel is refused while a shipment is shipped; a status is only a status.
                assert (
                    answer.status_code == 200
                    or answer.json()["error"] == "SALE_ORDER_CANCEL_SHIPMENT_EXIST_SHIPPED"
                )
            elif action in ("deduct", "undeduct"):
                shipment = rng.choice(small_shop.control.entities("shipments"))
                fields = {
                    "allowDelivery": "Y",
                    "deducted": "Y" if action == "deduct" else "N",
                    "deliveryId": shipment["deliveryId"],
                }
                assert (
                    call("sale.shipment.update", {"id": shipment["id"], "fields": fields}).status_code == 200
                )
            elif action == "shrink":
                line = rng.choice(small_shop.control.entities("shipmentItems"))
                response = call("sale.shipmentitem.update", {"id": line["id"], "fields": {"quantity": 1}})
                assert response.status_code in (200, 400)  # refused once the shipment is deducted
            elif action == "doc":
                doc = call(
                    "catalog.document.add",
                    # A receipt names its supplier, or conducting it is refused.
                    {"fields": {"docType": "A", "currency": "RUB", "responsibleId": 1, "contractorId": 1}},
                ).json()["result"]["document"]
                element = {
                    "docId": doc["id"],
                    "elementId": rng.randint(1, 6),
                    "storeTo": rng.randint(1, 2),
                    "amount": 3,
                }
                call("catalog.document.element.add", {"fields": element})
                assert call("catalog.document.conduct", {"id": doc["id"]}).status_code == 200
            else:
                small_shop.control.unreserve(rng.choice(orders)["id"])
            _check_invariants(small_shop)
    finally:
        http.close()

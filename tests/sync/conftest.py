"""Both sandboxes on loopback, the shop's products linked to the warehouse's SKUs (a full stock sync), for the flow
tests that run end to end over HTTP."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import Engine

from bitrix_inflow.adapters.bitrix import BitrixGateway, BitrixSettings
from bitrix_inflow.adapters.inflow import InflowClient, InflowSettings
from bitrix_inflow.domain.eligibility import OrderRules
from bitrix_inflow.domain.status_mapping import DEFAULT_MAPPING, StatusMapping
from bitrix_inflow.sandboxes import wms
from bitrix_inflow.sandboxes.bitrix import SandboxConfig, running_bitrix_sandbox
from bitrix_inflow.sync.incidents.bitrix_channel import BitrixManagerChannel
from bitrix_inflow.sync.marking.bitrix_shop import BitrixMarkingShop
from bitrix_inflow.sync.orders.bitrix_shop import BitrixOrdersShop
from bitrix_inflow.sync.orders.forward import ForwardOptions
from bitrix_inflow.sync.stock.bitrix_shop import BitrixShopStock
from bitrix_inflow.sync.stock.flow import StockOptions, sync_stock
from bitrix_inflow.timing import SystemClock


class Sides:
    """The two sandboxes and the service's clients of them."""

    def __init__(self, warehouse: Any, shop: Any, client: InflowClient, gateway: BitrixGateway) -> None:
        self.warehouse, self.shop, self.client, self.gateway = warehouse, shop, client, gateway
        self.orders = BitrixOrdersShop(gateway)
        self.stock = BitrixShopStock(gateway)
        self.channel = BitrixManagerChannel(gateway)
        self.marking = BitrixMarkingShop(gateway)

    def wms_orders(self) -> list[dict[str, Any]]:
        return list(httpx.get(self.warehouse.base_url + "/_sandbox/orders", timeout=30).json()["items"])

    def admin(self, method: str, params: dict[str, Any]) -> Any:
        """A person in the shop's admin panel, through its REST (not the service's client)."""
        trust = ssl.create_default_context(cafile=str(self.shop.ca_file))
        response = httpx.post(self.shop.webhook_url + method, json=params, verify=trust, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["result"]

    def forward_options(self) -> ForwardOptions:
        deliveries = {int(row["id"]): str(row["name"]) for row in self.shop.control.entities("deliveries")}
        rules = OrderRules(
            go_live=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), statuses=frozenset({"N"}), carriers=deliveries
        )
        return ForwardOptions(rules=rules, mapping=StatusMapping(DEFAULT_MAPPING), warehouse="MAIN")


@contextmanager
def running_sides(engine: Engine, profile: str, *, manager_user_id: int = 1) -> Iterator[Sides]:
    with (
        wms.run_in_process(wms.SandboxSettings(seed=3)) as warehouse,
        running_bitrix_sandbox(SandboxConfig(profile=profile, inventory_management=False)) as shop,
    ):
        inflow = InflowSettings(
            base_url=warehouse.base_url, api_key=SecretStr("sandbox-key"), warehouse="MAIN"
        )
        bitrix = BitrixSettings(
            webhook_url=SecretStr(shop.webhook_url),
            verify=shop.ca_file,
            manager_user_id=manager_user_id,
            profile=profile,  # type: ignore[arg-type]
            rate_limit=False,
        )
        with InflowClient(inflow) as client, BitrixGateway(bitrix) as gateway:
            # The stock sync links the shop's products to the warehouse's SKUs: the orders flow uses that binder.
            report = sync_stock(
                engine,
                client,
                BitrixShopStock(gateway),
                StockOptions(warehouses=("MAIN",)),
                clock=SystemClock(),
                full=True,
            )
            assert not report.errors
            yield Sides(warehouse, shop, client, gateway)

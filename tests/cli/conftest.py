"""What the CLI tests that run the service against both sandboxes share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from bitrix_inflow.adapters.bitrix import BitrixGateway, BitrixSettings
from bitrix_inflow.adapters.inflow import InflowClient, InflowSettings
from bitrix_inflow.sandboxes import wms
from bitrix_inflow.sandboxes.bitrix import SandboxConfig, running_bitrix_sandbox
from bitrix_inflow.sync.stock.bitrix_shop import BitrixShopStock
from bitrix_inflow.sync.stock.flow import StockOptions, sync_stock
from bitrix_inflow.timing import SystemClock


@pytest.fixture
def sides(engine: Engine) -> Iterator[tuple[Any, Any]]:
    with (
        wms.run_in_process(wms.SandboxSettings(seed=3)) as warehouse,
        running_bitrix_sandbox(SandboxConfig(profile="site", inventory_management=False)) as shop,
    ):
        inflow = InflowSettings(base_url=warehouse.base_url, api_key=SecretStr("sandbox-key"))
        bitrix = BitrixSettings(
            webhook_url=SecretStr(shop.webhook_url), verify=shop.ca_file, manager_user_id=1
        )
        with InflowClient(inflow) as client, BitrixGateway(bitrix) as gateway:
            options = StockOptions(warehouses=("MAIN",))
            sync_stock(engine, client, BitrixShopStock(gateway), options, clock=SystemClock(), full=True)
        yield warehouse, shop

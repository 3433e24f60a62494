"""Reading warehouse stock from the sandbox WMS over HTTP, aggregated there or here, whole, incremental, targeted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bitrix_inflow.adapters.inflow import InflowClient, InflowSettings
from bitrix_inflow.sandboxes import wms
from bitrix_inflow.sync.stock.read import read_stock


@pytest.fixture(scope="module")
def warehouse() -> Iterator[Any]:
    settings = wms.SandboxSettings(
        seed=11, skus=25, bins=300, qty_min=0, qty_max=20, warehouses=["MAIN", "SPB"]
    )
    with wms.run_in_process(settings) as running:
        yield running


@pytest.fixture
def client(warehouse: Any) -> Iterator[InflowClient]:
    with InflowClient(
        InflowSettings(base_url=warehouse.base_url, api_key=SecretStr("sandbox-key"))
    ) as inflow:
        yield inflow


def adjust(warehouse: Any, sku: str, delta: int, where: str = "MAIN") -> None:
    httpx.post(
        warehouse.base_url + "/_sandbox/stock",
        json={"warehouse": where, "sku": sku, "delta": delta},
        timeout=30,
    ).raise_for_status()


def test_the_service_sums_bins_exactly_as_the_wms_aggregates(client: InflowClient) -> None:
    by_wms = read_stock(client, ["MAIN", "SPB"], aggregate="wms")
    by_service = read_stock(client, ["MAIN", "SPB"], aggregate="service")
    assert by_wms.available and by_wms.available == by_service.available
    assert {wh for _, wh in by_wms.available} == {"MAIN", "SPB"}
    assert all(value >= 0 for value in by_wms.available.values())
    assert by_wms.high_water["MAIN"] is not None


@pytest.mark.parametrize("aggregate", ["wms", "service"])
def test_an_incremental_read_names_what_changed_with_its_whole_quantity(
    client: InflowClient, warehouse: Any, aggregate: Any
) -> None:
    whole = read_stock(client, ["MAIN"], aggregate=aggregate)
    first, second = sorted(sku for sku, _ in whole.available)[3:5]
    adjust(warehouse, first, 2)
    # The seed stamps every row alike; the first change gives the cursor a moment of its own.
    cursor = read_stock(client, ["MAIN"], aggregate=aggregate, since=whole.high_water).high_water
    adjust(warehouse, second, 7)
    later = read_stock(client, ["MAIN"], aggregate=aggregate, since=cursor)
    # Inclusive delta (contract §5): the row at the cursor comes again, with the one that changed after it.
    assert set(later.available) == {(first, "MAIN"), (second, "MAIN")}
    assert later.available[(second, "MAIN")] == whole.available[(second, "MAIN")] + 7
    assert later.high_water["MAIN"] is not None and cursor["MAIN"] is not None
    assert later.high_water["MAIN"] > cursor["MAIN"]


def test_a_targeted_read_reads_only_the_named_skus(client: InflowClient) -> None:
    whole = read_stock(client, ["MAIN"], aggregate="wms")
    wanted = sorted(sku for sku, _ in whole.available)[:2]
    targeted = read_stock(client, ["MAIN"], aggregate="service", skus=wanted)
    assert targeted.available == {(sku, "MAIN"): whole.available[(sku, "MAIN")] for sku in wanted}

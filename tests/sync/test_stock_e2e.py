"""The stock sync end to end over HTTP: the sandbox warehouse and the sandbox shop, seeded from one catalogue, the
real Inflow client and Bitrix gateway, the state database on both backends."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from bitrix_inflow.adapters.bitrix import BitrixGateway, BitrixSettings
from bitrix_inflow.adapters.inflow import InflowClient, InflowSettings, NewOrderLine, NewPickingOrder
from bitrix_inflow.sandboxes import wms
from bitrix_inflow.sandboxes.bitrix import SandboxConfig, running_bitrix_sandbox
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.store import stock as store
from bitrix_inflow.sync.stock.bitrix_shop import BitrixShopStock
from bitrix_inflow.sync.stock.flow import StockOptions, sync_stock
from bitrix_inflow.timing import SystemClock

CLOCK = SystemClock()
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
OPTIONS = StockOptions(warehouses=("MAIN",))


@pytest.fixture(scope="module")
def warehouse() -> Iterator[Any]:
    with wms.run_in_process(wms.SandboxSettings(seed=3)) as running:
        yield running


@pytest.fixture
def shop() -> Iterator[Any]:
    with running_bitrix_sandbox(SandboxConfig(profile="site")) as running:
        yield running


@pytest.fixture
def sides(warehouse: Any, shop: Any) -> Iterator[tuple[InflowClient, BitrixShopStock]]:
    inflow = InflowSettings(base_url=warehouse.base_url, api_key=SecretStr("sandbox-key"))
    bitrix = BitrixSettings(webhook_url=SecretStr(shop.webhook_url), verify=shop.ca_file, manager_user_id=1)
    with InflowClient(inflow) as client, BitrixGateway(bitrix) as gateway:
        yield client, BitrixShopStock(gateway)


def available(client: InflowClient) -> dict[str, int]:
    return {row.sku: row.qty_available for row in client.iter_available_stock(warehouse="MAIN")}


def shop_quantities(shop: Any) -> dict[str, float]:
    """Quantity per matching key, products and offers alike, as the shop's own tables hold it."""
    rows = shop.control.entities("products")
    return {row["xmlId"]: float(row["quantity"]) for row in rows if row.get("xmlId")}


def test_quantity_mode_full_incremental_and_dry_run(
    engine: Engine, warehouse: Any, shop: Any, sides: tuple[InflowClient, BitrixShopStock]
) -> None:
    client, shop_side = sides
    shop.control.settings(inventory_management=False)
    first = sync_stock(engine, client, shop_side, OPTIONS, clock=CLOCK, full=True)
    assert first.mode == "quantity" and not first.errors
    truth = available(client)
    held = shop_quantities(shop)
    linked = set(truth) & set(held)
    assert first.matched == len(linked) > 30 and first.written == len(linked)
    assert all(held[sku] == truth[sku] for sku in linked), "the shop shows what the warehouse can sell"
    with engine.connect() as conn:
        sides_seen = {u.side for u in store.load_unmatched(conn, "default")}
    assert {"warehouse", "shop"} <= sides_seen  # the catalogue's deliberate mismatches, both ways

    sku = sorted(linked)[5]
    httpx.post(
        warehouse.base_url + "/_sandbox/stock", json={"warehouse": "MAIN", "sku": sku, "delta": 4}, timeout=30
    ).raise_for_status()
    planned = sync_stock(engine, client, shop_side, OPTIONS, clock=CLOCK, dry_run=True)
    assert [(p.skus, p.after) for p in planned.plan] == [((sku,), truth[sku] + 4)]
    assert shop_quantities(shop)[sku] == truth[sku]  # a dry run writes nothing
    later = sync_stock(engine, client, shop_side, OPTIONS, clock=CLOCK)
    assert later.written == 1 and shop_quantities(shop)[sku] == truth[sku] + 4


def test_document_mode_brings_the_store_to_the_plan_once(
    engine: Engine, warehouse: Any, shop: Any, sides: tuple[InflowClient, BitrixShopStock]
) -> None:
    client, shop_side = sides
    options = StockOptions(warehouses=("MAIN",), stores={"MAIN": 1})
    report = sync_stock(engine, client, shop_side, options, clock=CLOCK, full=True)
    assert report.mode == "documents" and report.documents
    assert any("barcodeMulti" in note for note in report.notes)  # the catalogue's perfumes need barcodes
    assert not report.errors
    truth = available(client)
    with engine.connect() as conn:
        links = store.load_links(conn, "default")
    amounts = {
        int(row["productId"]): float(row["amount"])
        for row in shop.control.entities("storeProducts")
        if int(row["storeId"]) == 1
    }
    for sku, link in links.items():
        if not link.barcode_multi:
            assert amounts.get(link.product_id, 0) == truth.get(sku, 0), sku
    documents = shop.control.entities("documents")
    assert len(documents) == len(report.documents) and all(d["status"] == "Y" for d in documents)
    again = sync_stock(engine, client, shop_side, options, clock=CLOCK, full=True)
    assert again.changed == 0 and len(shop.control.entities("documents")) == len(documents)


@contextlib.contextmanager
def fresh_warehouse(shop: Any) -> Iterator[tuple[Any, InflowClient, BitrixShopStock]]:
    """A warehouse of its own (the module's is shared), the shop in quantity mode, both sides' clients."""
    with wms.run_in_process(wms.SandboxSettings(seed=3)) as fresh:
        inflow = InflowSettings(base_url=fresh.base_url, api_key=SecretStr("sandbox-key"), warehouse="MAIN")
        bitrix = BitrixSettings(
            webhook_url=SecretStr(shop.webhook_url), verify=shop.ca_file, manager_user_id=1
        )
        shop.control.settings(inventory_management=False)
        with InflowClient(inflow) as client, BitrixGateway(bitrix) as gateway:
            yield fresh, client, BitrixShopStock(gateway)


def test_a_sku_new_in_the_warehouse_sells_after_the_next_incremental_run(engine: Engine, shop: Any) -> None:
    """The catalogue's shop-only jacket starts to be stocked: it is linked and written without a full sync."""
    with fresh_warehouse(shop) as (fresh, client, shop_side):
        sync_stock(engine, client, shop_side, OPTIONS, clock=CLOCK, full=True)
        jacket = "SB-JACKET-DOWN-L"  # in the shop only (catalogue.csv), so reported unmatched
        with engine.connect() as conn:
            assert jacket not in store.load_links(conn, "default")
        body = {"warehouse": "MAIN", "sku": jacket, "delta": 7, "gtin": "04620070000388"}
        httpx.post(fresh.base_url + "/_sandbox/stock", json=body, timeout=30).raise_for_status()
        report = sync_stock(engine, client, shop_side, OPTIONS, clock=CLOCK)
        assert not report.errors and report.written == 1
        assert shop_quantities(shop)[jacket] == 7
        with engine.connect() as conn:
            link = store.load_links(conn, "default")[jacket]
            shop_side_unmatched = {u.item for u in store.load_unmatched(conn, "default") if u.side == "shop"}
        assert link.origin == "key" and str(link.product_id) not in shop_side_unmatched


def test_the_oversell_guard_holds_sold_units_until_the_warehouse_reserves_them(
    engine: Engine, shop: Any
) -> None:
    """Units of a picking order planned but not yet accepted are held back from the shop; once the warehouse
    accepts (and reserves) them they leave its availability instead, and are not subtracted twice."""
    with fresh_warehouse(shop) as (_, client, shop_side):
        sync_stock(engine, client, shop_side, OPTIONS, clock=CLOCK, full=True)
        with engine.connect() as conn:
            linked = store.load_links(conn, "default")
        sku = next(s for s, qty in sorted(available(client).items()) if s in linked and qty >= 5)
        before = shop_quantities(shop)[sku]
        line = order_store.PartLine(basket_id=1, shipment_id=1, sku=sku, qty=2)
        with engine.begin() as conn:
            [part] = order_store.plan_parts(
                conn,
                "default",
                501,
                1,
                [order_store.NewPart(1, "MAIN", "", "CDEK", "B-501-1", (line,))],
                now=NOW,
            )
        sync_stock(engine, client, shop_side, OPTIONS, clock=CLOCK)
        assert shop_quantities(shop)[sku] == before - 2, "sold, not yet reserved: not offered again"

        order = NewPickingOrder("B-501-1", "501", (NewOrderLine(1, sku, 2),), warehouse="MAIN")
        accepted = client.create_picking_order(order, idempotency_key="guard-test-501-1")
        with engine.begin() as conn:
            order_store.move_part(
                conn, part.id, expected={"planned"}, state="accepted", now=NOW, wms_order_id=accepted.id
            )
        assert available(client)[sku] == before - 2  # the warehouse reserved them
        sync_stock(engine, client, shop_side, OPTIONS, clock=CLOCK)
        assert shop_quantities(shop)[sku] == before - 2, "the reservation replaced the guard: counted once"

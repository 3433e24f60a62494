"""Dialects: the legacy example installation renames base path, paths, fields, statuses and the page cap."""

from __future__ import annotations

import json

import httpx
import pytest

from bitrix_inflow.sandboxes.wms import run_in_process
from bitrix_inflow.sandboxes.wms.contract import contract_dir
from bitrix_inflow.sandboxes.wms.dialect import Dialect
from bitrix_inflow.sandboxes.wms.service import SandboxSettings


@pytest.fixture(scope="module")
def legacy_running():
    dialect = Dialect.load(contract_dir() / "dialects" / "legacy-example.toml")
    settings = SandboxSettings(seed=7, skus=20, bins=200, qty_min=5, qty_max=20, dialect=dialect)
    with run_in_process(settings) as running:
        yield running


@pytest.fixture
def legacy(legacy_running):
    with httpx.Client(base_url=legacy_running.base_url, headers={"X-API-Key": "sandbox-key"}) as api:
        yield api


def test_default_dialect_file_is_the_identity():
    assert Dialect.load(contract_dir() / "dialects" / "default.toml") == Dialect(name="default")


def test_base_path_paths_and_fields_are_renamed(legacy):
    assert legacy.get("/api/v1/stock").status_code == 404
    page = legacy.get(
        "/wms/rest/v2/inventory", params={"available_only": "true", "warehouse_code": "MAIN"}
    ).json()
    assert set(page["items"][0]) == {"article", "warehouse_code", "quantity_available", "updated_at"}
    assert len(page["items"]) == 20
    bins = legacy.get("/wms/rest/v2/inventory", params={"limit": 3}).json()["items"]
    assert set(bins[0]) == {
        "article",
        "warehouse_code",
        "zone",
        "bin",
        "qty_on_hand",
        "qty_reserved",
        "qty_in_picking",
        "sellable",
        "updated_at",
    }


def test_page_cap_of_the_dialect(legacy):
    assert len(legacy.get("/wms/rest/v2/inventory").json()["items"]) == 100
    assert legacy.get("/wms/rest/v2/inventory", params={"limit": 200}).status_code == 200
    too_big = legacy.get("/wms/rest/v2/inventory", params={"limit": 201})
    assert too_big.status_code == 400 and "between 1 and 200" in too_big.json()["errors"][0]["problem"]


def test_orders_with_renamed_fields_and_statuses(legacy):
    body = {
        "client_ref": "L-1-1",
        "customer_order_ref": "1",
        "warehouse_code": "MAIN",
        "lines": [{"line_no": 1, "article": "SKU-000002", "quantity": 2}],
    }
    created = legacy.post("/wms/rest/v2/picking-orders", json=body)
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["status"] == "CREATED" and order["client_ref"] == "L-1-1"
    assert order["lines"][0]["article"] == "SKU-000002" and order["lines"][0]["quantity_picked"] == 0
    assert created.headers["location"] == f"/wms/rest/v2/picking-orders/{order['id']}"
    status = legacy.get(f"/wms/rest/v2/picking-orders/{order['id']}/status").json()
    assert status["status"] == "CREATED"
    found = legacy.get("/wms/rest/v2/picking-orders", params={"status": "CREATED"}).json()["items"]
    assert [o["id"] for o in found] == [order["id"]]
    canonical_status = legacy.get("/wms/rest/v2/picking-orders", params={"status": "NEW"})
    assert canonical_status.status_code == 400
    duplicate = legacy.post("/wms/rest/v2/picking-orders", json=body)
    assert duplicate.status_code == 409 and duplicate.json()["errors"][0]["field"] == "client_ref"
    changes = legacy.get("/wms/rest/v2/picking-orders/changes").json()
    assert changes["items"][-1]["status"] == "CREATED"


def test_shipped_and_short_pick_are_renamed(legacy):
    base = str(legacy.base_url)
    body = {
        "client_ref": "L-2-1",
        "customer_order_ref": "2",
        "warehouse_code": "MAIN",
        "lines": [{"line_no": 1, "article": "SKU-000003", "quantity": 1}],
    }
    order = legacy.post("/wms/rest/v2/picking-orders", json=body).json()
    httpx.post(base + f"/_sandbox/orders/{order['id']}/advance", json={"to": "SHIPPED"}).raise_for_status()
    assert legacy.get(f"/wms/rest/v2/picking-orders/{order['id']}").json()["status"] == "DISPATCHED"
    httpx.put(base + "/_sandbox/faults", json={"picking_error_skus": ["SKU-000004"]}).raise_for_status()
    body = {
        "client_ref": "L-3-1",
        "customer_order_ref": "3",
        "warehouse_code": "MAIN",
        "lines": [{"line_no": 1, "article": "SKU-000004", "quantity": 1}],
    }
    short = legacy.post("/wms/rest/v2/picking-orders", json=body).json()
    httpx.post(base + "/_sandbox/clock/step", json={"order_id": short["id"], "steps": 2}).raise_for_status()
    errored = legacy.get(f"/wms/rest/v2/picking-orders/{short['id']}").json()
    assert errored["status"] == "SHORT_PICK" and errored["error"]["article"] == "SKU-000004"
    httpx.delete(base + "/_sandbox/faults").raise_for_status()


def test_canonical_names_are_unknown_in_the_dialect(legacy):
    body = {
        "client_ref": "L-9-1",
        "customer_order_ref": "9",
        "warehouse_code": "MAIN",
        "lines": [{"line_no": 1, "sku": "SKU-000002", "quantity": 1}],
    }
    response = legacy.post("/wms/rest/v2/picking-orders", json=body)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "lines[0].sku", "problem": "unknown field; this installation calls it 'article'"}
    ]
    bad_qty = dict(body, lines=[{"line_no": 1, "article": "SKU-000002", "quantity": -1}])
    assert (
        legacy.post("/wms/rest/v2/picking-orders", json=bad_qty).json()["errors"][0]["field"]
        == "lines[0].quantity"
    )
    query = legacy.get("/wms/rest/v2/inventory", params={"warehouse": "MAIN"})
    assert query.status_code == 400 and "warehouse_code" in query.json()["errors"][0]["problem"]


def test_shortage_uses_dialect_names(legacy):
    body = {
        "client_ref": "L-5-1",
        "customer_order_ref": "5",
        "warehouse_code": "MAIN",
        "lines": [{"line_no": 1, "article": "SKU-000002", "quantity": 100000}],
    }
    response = legacy.post("/wms/rest/v2/picking-orders", json=body)
    assert response.status_code == 422
    assert set(response.json()["shortages"][0]) == {"article", "requested", "available"}


def test_bad_dialect_files_are_refused(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('base_path = "/_sandbox/x"\n')
    with pytest.raises(ValueError, match="base_path"):
        Dialect.load(bad)
    bad.write_text('[paths]\nfoo = "bar"\n')
    with pytest.raises(ValueError, match="paths"):
        Dialect.load(bad)
    bad.write_text("default_page_size = 500\nmax_page_size = 100\n")
    with pytest.raises(ValueError, match="page_size"):
        Dialect.load(bad)


def test_webhook_data_speaks_the_dialect(legacy, receiver):
    hook = {"url": receiver.url, "events": ["order.status_changed"], "secret": "x" * 16}
    legacy.post("/wms/rest/v2/webhooks", json=hook).raise_for_status()
    body = {
        "client_ref": "L-7-1",
        "customer_order_ref": "7",
        "warehouse_code": "MAIN",
        "lines": [{"line_no": 1, "article": "SKU-000006", "quantity": 1}],
    }
    order = legacy.post("/wms/rest/v2/picking-orders", json=body).json()
    legacy.post("/_sandbox/clock/step", json={"order_id": order["id"]}).raise_for_status()
    [delivery] = receiver.wait_for(1)
    event = json.loads(delivery["raw"])
    assert set(event) == {"event_id", "event", "occurred_at", "data"}
    assert event["data"]["client_ref"] == "L-7-1" and event["data"]["warehouse_code"] == "MAIN"
    assert (event["data"]["previous_status"], event["data"]["status"]) == ("CREATED", "ASSIGNED")

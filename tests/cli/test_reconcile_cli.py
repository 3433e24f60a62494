"""`reconcile` and `reconcile --repair` as an operator runs them, against the two sandboxes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from bitrix_inflow.store import stock as stock_store

from .test_orders_cli import run


def test_reconcile_reports_then_repairs_an_order_the_service_never_saw(
    db_url: str, engine: Engine, sides: tuple[Any, Any], tmp_path: Path
) -> None:
    warehouse, shop = sides
    now = {"BITRIX_INFLOW__RECONCILE__GRACE_MINUTES": "0"}  # the order placed a moment ago counts
    with engine.connect() as conn:
        tee = stock_store.load_links(conn, "default")["SB-TEE-CLASSIC-S"].product_id
    order_id = int(
        shop.control.place_order(
            lines=[{"productId": tee, "quantity": 1}], shipments=[{"deliveryId": 2, "lines": [0]}]
        )["id"]
    )
    orders_url = warehouse.base_url + "/_sandbox/orders"

    code, output = run(db_url, warehouse, shop, tmp_path, "reconcile", go_live=False, settings=now)
    assert code == 2 and "[orders] go_live" in output

    code, output = run(db_url, warehouse, shop, tmp_path, "reconcile", settings=now)
    assert code == 1, output
    assert "missing_in_wms" in output and "would repair" in output and "nothing was changed" in output
    assert httpx.get(orders_url, timeout=30).json()["items"] == []

    code, output = run(db_url, warehouse, shop, tmp_path, "reconcile", "--repair", settings=now)
    assert code == 1, output
    assert "repaired" in output and "job(s) ran" in output
    placed = httpx.get(orders_url, timeout=30).json()["items"]
    assert [o["external_ref"] for o in placed] == [f"B-{order_id}-1"]

    code, output = run(db_url, warehouse, shop, tmp_path, "sync", "stock")  # the reservation reaches the shop
    assert code == 0, output
    code, output = run(db_url, warehouse, shop, tmp_path, "reconcile", settings=now)
    assert code == 0, output
    assert "agree" in output

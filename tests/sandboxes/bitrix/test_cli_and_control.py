"""The ``bitrix-inflow sandbox bitrix`` command and the control API (seeding, order streams, inspection)."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox


def test_cli_serves_https_with_the_printed_ca(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-u",
        "-c",
        "from bitrix_inflow.cli import main; main()",
        "sandbox",
        "bitrix",
        "--port",
        "0",
        "--profile",
        "bitrix24",
        "--mode",
        "onprem",
        "--seed",
        "3",
        "--products",
        "4",
        "--orders",
        "2",
        "--state-dir",
        str(tmp_path),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        printed = [process.stdout.readline() for _ in range(6)]
        banner = "".join(printed)
        found = re.search(r"on https://127\.0\.0\.1:(\d+)", banner)
        assert found, banner
        port = int(found.group(1))
        assert port > 0
        assert f"webhook URL: https://127.0.0.1:{port}/rest/1/" in banner
        assert str(tmp_path / "sandbox-ca.pem") in banner
        context = ssl.create_default_context(cafile=str(tmp_path / "sandbox-ca.pem"))
        body: dict[str, Any] = {}
        deadline = time.monotonic() + 30
        while not body and time.monotonic() < deadline and process.poll() is None:
            try:
                body = httpx.get(f"https://127.0.0.1:{port}/_sandbox/", verify=context).json()
            except httpx.HTTPError:
                time.sleep(0.1)
        assert body["profile"] == "bitrix24"
        assert body["mode"] == "onprem"
        assert body["counts"]["products"] == 4
        assert body["counts"]["orders"] == 2
        webhook = f"https://127.0.0.1:{port}{body['webhook_path']}"
        scope = httpx.post(webhook + "scope", json={}, verify=context).json()["result"]
        # On-premise Bitrix24 (a box) may install the companion module: by default it has.
        assert scope == ["sale", "catalog", "im", "task", "crm", "bitrixinflow"]
    finally:
        process.terminate()
        process.communicate(timeout=15)


def test_cli_refuses_a_busy_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        command = [sys.executable, "-c", "from bitrix_inflow.cli import main; main()", "sandbox", "bitrix"]
        result = subprocess.run(
            [*command, "--http", "--port", str(port)], capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode != 0
    assert "cannot listen on 127.0.0.1" in result.stdout + result.stderr


def test_cli_rejects_an_unknown_profile() -> None:
    command = [
        sys.executable,
        "-c",
        "from bitrix_inflow.cli import main; main()",
        "sandbox",
        "bitrix",
        "--profile",
        "x",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "profile must be 'site' or 'bitrix24'" in result.stdout + result.stderr


def test_seeding_is_deterministic() -> None:
    snapshots = []
    for _ in range(2):
        with running_bitrix_sandbox(SandboxConfig(), https=False, seed=None) as shop:
            summary = shop.control.seed(
                seed=42, products=6, offers_per_product=2, stores=3, carriers=["CDEK", "DPD"]
            )
            products = shop.control.entities("products")
            snapshots.append(
                (
                    summary,
                    [(p["name"], p["property102"], p["quantity"]) for p in products if "property102" in p],
                )
            )
    assert snapshots[0] == snapshots[1]
    summary, _ = snapshots[0]
    assert len(summary["products"]) == 6 * 3  # parents plus two offers each
    assert summary["stores"] == [1, 2, 3]
    assert summary["deliveries"] == [1, 2]


def test_seeded_products_carry_sku_gtin_and_marking_group(shop: RunningSandbox, rest: Any) -> None:
    products = rest.ok(
        "catalog.product.list",
        {
            "select": ["id", "iblockId", "xmlId", "property101", "property102", "property103"],
            "filter": {"iblockId": 23},
        },
    )["result"]["products"]
    assert len(products) == 30
    gtin = products[0]["property102"]["value"]
    assert len(gtin) == 13
    digits = [int(d) for d in gtin]
    assert (sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits[:12])) + digits[12]) % 10 == 0
    assert products[0]["property101"]["value"] == "ART-00001"
    assert {p["property103"]["value"] for p in products if p["property103"]} <= {
        "shoes",
        "clothes",
        "perfume",
        "tires",
    }


def test_order_stream_places_orders_with_several_shipments(shop: RunningSandbox) -> None:
    stream = shop.control.stream_orders(count=4, rate_per_s=50, shipments=2, seed=5)
    deadline = time.monotonic() + 20
    state = stream
    while not state["done"] and time.monotonic() < deadline:
        time.sleep(0.05)
        state = shop.control.stream_status(stream["id"])
    assert state["done"]
    assert len(state["placed"]) == 4
    shipments = [len(shop.control.entity("orders", order_id)["shipments"]) for order_id in state["placed"]]
    assert max(shipments) == 2  # orders with one line cannot be split


def test_inspection_endpoints(shop: RunningSandbox) -> None:
    order = shop.control.place_order(random=True, seed=9)
    assert shop.control.entity("orders", order["id"])["id"] == order["id"]
    assert shop.control.entities("shipments", orderId=order["id"])
    statuses = {row["id"] for row in shop.control.entities("statuses")}
    assert statuses >= {"N", "P", "Q", "D", "F", "Z", "DN", "DF"}
    assert [d["name"] for d in shop.control.entities("deliveries")] == [
        "Courier",
        "CDEK",
        "Russian Post",
        "Pickup point",
    ]
    with httpx.Client(verify=ssl.create_default_context(cafile=str(shop.ca_file))) as http:
        missing = http.get(f"{shop.base_url}/_sandbox/entities/orders/987654")
    assert missing.status_code == 400
    assert missing.json()["field"] == "entity_id"


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--port", "99999"], "--port"),
        (["--port", "-1"], "--port"),
        (["--products", "-1"], "--products"),
        (["--orders", "-5"], "--orders"),
        (["--event-handler", "handler.example/bitrix"], "--event-handler"),
    ],
)
def test_cli_rejects_bad_numbers_and_urls_before_starting(flags: list[str], named: str) -> None:
    # A value out of range must stop the command with a usage error, not a traceback or a running server.
    command = [sys.executable, "-c", "from bitrix_inflow.cli import main; main()", "sandbox", "bitrix"]
    result = subprocess.run(
        [*command, "--http", *flags], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert named in result.stdout + result.stderr
    assert "Traceback" not in result.stderr

"""Running the sandbox: SQLite state survives a restart, the paced clock advances orders, the CLI serves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from bitrix_inflow.sandboxes.wms import SandboxSettings, run_in_process

KEY = {"X-API-Key": "sandbox-key"}
ORDER = {
    "external_ref": "B-1-1",
    "customer_order_ref": "1",
    "warehouse": "MAIN",
    "lines": [{"line_no": 1, "sku": "SKU-000001", "qty": 2}],
}


def test_sqlite_state_survives_a_restart(tmp_path, settings_factory):
    path = str(tmp_path / "wms.sqlite")
    with run_in_process(settings_factory(state_path=path)) as running:
        created = httpx.post(running.api_url + "/orders", json=ORDER, headers=KEY).json()
        httpx.post(running.base_url + f"/_sandbox/orders/{created['id']}/advance", json={"to": "PACKING"})
        before_order = httpx.get(running.api_url + f"/orders/{created['id']}", headers=KEY).json()
        before_stock = httpx.get(running.api_url + "/stock", params={"limit": 1000}, headers=KEY).json()
        hook = {"url": "http://127.0.0.1:9/hook", "events": ["stock.changed"], "secret": "x" * 16}
        httpx.post(running.api_url + "/webhooks", json=hook, headers=KEY).raise_for_status()
    assert os.path.getsize(path) > 0
    with run_in_process(settings_factory(state_path=path, seed=99)) as running:
        after_order = httpx.get(running.api_url + f"/orders/{created['id']}", headers=KEY).json()
        after_stock = httpx.get(running.api_url + "/stock", params={"limit": 1000}, headers=KEY).json()
        assert after_order == before_order
        assert after_stock == before_stock
        assert len(httpx.get(running.api_url + "/webhooks", headers=KEY).json()["items"]) == 1
        duplicate = httpx.post(running.api_url + "/orders", json=ORDER, headers=KEY)
        assert duplicate.status_code == 409
        second = httpx.post(
            running.api_url + "/orders", json={**ORDER, "external_ref": "B-2-1"}, headers=KEY
        ).json()
        assert second["id"] == "PO-00000002"
        shipped = httpx.post(
            running.base_url + f"/_sandbox/orders/{created['id']}/advance", json={"to": "SHIPPED"}
        )
        assert shipped.json()["tracking"]["number"] == "TRK0000000001"


def test_paced_clock_moves_orders_on_its_own(settings_factory):
    with run_in_process(settings_factory(pace=0.02)) as running:
        order = httpx.post(running.api_url + "/orders", json=ORDER, headers=KEY).json()
        # The status the order was created with counts as seen: on a loaded machine the paced clock may run the
        # whole state machine before the first poll, and that still shows it moving on its own.
        seen = {order["status"]}
        deadline = time.monotonic() + 60
        status = order["status"]
        while status != "DELIVERED" and time.monotonic() < deadline:
            time.sleep(0.01)
            status = httpx.get(running.api_url + f"/orders/{order['id']}/status", headers=KEY).json()[
                "status"
            ]
            seen.add(status)
        assert status == "DELIVERED"
        assert len(seen) >= 2


def test_cli_serves_the_dialect_and_stops_cleanly(tmp_path):
    with __import__("socket").socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dialect = os.path.join(
        os.path.dirname(__file__),
        "..",
        "..",
        "..",
        "contracts",
        "inflow-v1",
        "dialects",
        "legacy-example.toml",
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bitrix_inflow.sandboxes.wms.cli",
            "--port",
            str(port),
            "--skus",
            "5",
            "--bins",
            "20",
            "--dialect",
            dialect,
            "--api-key",
            "cli-key",
            "--no-oauth",
            "--burst-429",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                httpx.get(base + "/_sandbox/state", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        limited = httpx.get(base + "/wms/rest/v2/inventory", headers={"X-API-Key": "cli-key"})
        assert limited.status_code == 429
        page = httpx.get(
            base + "/wms/rest/v2/inventory",
            params={"available_only": "true"},
            headers={"X-API-Key": "cli-key"},
        )
        assert page.status_code == 200 and len(page.json()["items"]) == 5
        assert (
            httpx.get(base + "/wms/rest/v2/inventory", headers={"X-API-Key": "sandbox-key"}).status_code
            == 401
        )
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=20)[0].decode()
    assert "Inflow WMS sandbox on" in output and "legacy-example" in output


def test_cli_rejects_bad_options():
    result = subprocess.run(
        [sys.executable, "-m", "bitrix_inflow.sandboxes.wms.cli", "--state", "postgres://x", "--port", "0"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "sqlite:PATH" in result.stdout + result.stderr


@pytest.mark.soak
def test_seed_scales_to_a_million_bins():
    with run_in_process(SandboxSettings(skus=100_000, bins=1_000_000, seed=1)) as running:
        rows, cursor = 0, None
        with httpx.Client(base_url=running.api_url, headers=KEY, timeout=60) as api:
            while True:
                page = api.get(
                    "/stock",
                    params={
                        "available_only": "true",
                        "limit": 1000,
                        **({"cursor": cursor} if cursor else {}),
                    },
                ).json()
                rows += len(page["items"])
                cursor = page["next_cursor"]
                if cursor is None:
                    break
        assert rows == 100_000

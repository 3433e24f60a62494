"""Long runs, kept out of the normal suite (``make soak``)."""

from __future__ import annotations

import ssl
import time

import httpx
import pytest

from bitrix_inflow.sandboxes.bitrix import SandboxConfig, running_bitrix_sandbox


@pytest.mark.soak
def test_id_cursor_poller_sees_every_streamed_order_under_cloud_limits() -> None:
    """Orders arrive at 20/s while a poller reads them with the >id cursor and respects 503s."""
    with running_bitrix_sandbox(SandboxConfig(profile="bitrix24", mode="cloud"), products=40) as shop:
        shop.control.faults(bucket_size=10, drain_per_s=4)
        stream = shop.control.stream_orders(count=300, rate_per_s=20, shipments=2, seed=3)
        seen: list[int] = []
        refused = 0
        last = 0
        context = ssl.create_default_context(cafile=str(shop.ca_file))
        with httpx.Client(verify=context, timeout=20) as http:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                response = http.post(
                    shop.webhook_url + "sale.order.list",
                    json={"select": ["id"], "filter": {">id": last}, "order": {"id": "asc"}, "start": -1},
                )
                if response.status_code == 503:
                    assert response.json()["error"] == "QUERY_LIMIT_EXCEEDED"
                    refused += 1
                    time.sleep(0.5)
                    continue
                assert response.status_code == 200, response.text
                page = [row["id"] for row in response.json()["result"]["orders"]]
                seen.extend(page)
                last = page[-1] if page else last
                done = shop.control.stream_status(stream["id"])["done"]
                if done and len(page) < 50 and len(seen) == 300:
                    break
                if len(page) < 50:
                    time.sleep(0.05)
        assert seen == list(range(1, 301))
        assert refused > 0  # the poller ran into the bucket at least once

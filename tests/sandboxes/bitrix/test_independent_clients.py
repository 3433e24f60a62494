"""Independent clients work against the sandbox unmodified: fast-bitrix24 (HTTP and HTTPS) and b24pysdk
(HTTPS, trusting the sandbox's test CA through REQUESTS_CA_BUNDLE)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from b24pysdk import BitrixApp, BitrixToken, BitrixWebhook, Client
from b24pysdk.api.requesters.bitrix_oauth_requester import BitrixOAuthRequester
from fast_bitrix24 import Bitrix, BitrixAsync

from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox

ORDERS = 120


@pytest.fixture(scope="module")
def plain_shop() -> Iterator[RunningSandbox]:
    with running_bitrix_sandbox(SandboxConfig(), https=False, products=12, orders=ORDERS) as running:
        yield running


@pytest.fixture(scope="module")
def tls_shop() -> Iterator[RunningSandbox]:
    with running_bitrix_sandbox(SandboxConfig(), https=True, products=12, orders=ORDERS) as running:
        yield running


def test_fast_bitrix24_get_all_and_batched_call_over_http(plain_shop: RunningSandbox) -> None:
    bitrix = Bitrix(plain_shop.webhook_url, verbose=False)
    orders = bitrix.get_all("sale.order.list", {"select": ["id", "statusId"], "filter": {"statusId": "N"}})
    assert sorted(int(o["id"]) for o in orders) == list(range(1, ORDERS + 1))
    updates = [{"id": order_id, "fields": {"statusId": "P"}} for order_id in (3, 4, 5)]
    results = bitrix.call("sale.order.update", updates)
    assert [r["statusId"] for r in results] == ["P", "P", "P"]
    still_new = bitrix.get_all("sale.order.list", {"select": ["id"], "filter": {"statusId": "N"}})
    assert len(still_new) == ORDERS - 3
    # get_by_ID sends "ID=7"; sale controllers bind the lower-case "id" argument: fails as on a real shop
    with pytest.raises(Exception, match="Could not find value for parameter"):
        bitrix.get_by_ID("sale.order.get", [7])


def test_fast_bitrix24_over_https_with_the_test_ca(tls_shop: RunningSandbox) -> None:
    context = ssl.create_default_context(cafile=str(tls_shop.ca_file))

    async def read_all() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
            bitrix = BitrixAsync(tls_shop.webhook_url, verbose=False, client=session)
            return list(await bitrix.get_all("sale.order.list", {"select": ["id"]}))

    orders = asyncio.run(read_all())
    assert sorted(int(o["id"]) for o in orders) == list(range(1, ORDERS + 1))


def test_b24pysdk_over_https_with_requests_ca_bundle(
    tls_shop: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_shop.ca_file))
    client = Client(BitrixWebhook(domain=tls_shop.domain, webhook_token=tls_shop.webhook))
    page = client.sale.order.list(select=["id", "statusId"], filter={">id": 100}).result
    assert [o["id"] for o in page["orders"]] == list(range(101, ORDERS + 1))
    everything = client.sale.order.list(select=["id"]).as_list().result
    assert [o["id"] for o in everything] == list(range(1, ORDERS + 1))
    fast = list(client.sale.order.list(select=["id"]).as_list_fast().result)
    assert sorted(o["id"] for o in fast) == list(range(1, ORDERS + 1))
    updated = client.sale.order.update(bitrix_id=9, fields={"statusId": "Q"}).result
    assert updated["order"]["statusId"] == "Q"
    statuses = client.sale.status.list().result
    assert {s["id"] for s in statuses["statuses"]} >= {"N", "P", "Q", "D", "F", "Z"}


def test_b24pysdk_sees_bitrix_error_codes(tls_shop: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_shop.ca_file))
    client = Client(BitrixWebhook(domain=tls_shop.domain, webhook_token=tls_shop.webhook))
    with pytest.raises(Exception) as caught:
        _ = client.sale.order.get(bitrix_id=987654).result
    assert caught.value.json_response == {"error": 200540400001, "error_description": "order is not exists"}  # type: ignore[attr-defined]
    with pytest.raises(Exception) as shipment_error:
        _ = client.sale.shipment.update(bitrix_id=1, fields={"trackingNumber": "X"}).result
    assert shipment_error.value.json_response["error_description"].startswith("Required fields")  # type: ignore[attr-defined]


def test_b24pysdk_refreshes_an_expired_oauth_token(
    tls_shop: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # b24pysdk's token URL is hard-coded to Bitrix's OAuth server; point it at the sandbox's /oauth/token/.
    monkeypatch.setattr(BitrixOAuthRequester, "_OAUTH_TOKEN_URL", f"{tls_shop.base_url}/oauth/token/")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_shop.ca_file))
    issued = tls_shop.control.issue_token()
    config = tls_shop.sandbox.config
    token = BitrixToken(
        domain=tls_shop.domain,
        auth_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        bitrix_app=BitrixApp(client_id=config.oauth_client_id, client_secret=config.oauth_client_secret),
    )
    client = Client(token)
    assert client.sale.status.list(select=["id"]).result["statuses"]
    tls_shop.control.advance_clock(config.token_ttl_s + 1)
    try:
        assert client.sale.status.list(select=["id"]).result["statuses"]  # expired_token -> refresh -> retry
    finally:
        tls_shop.control.advance_clock(-(config.token_ttl_s + 1))
    assert token.auth_token != issued["access_token"]
    assert token.refresh_token != issued["refresh_token"]

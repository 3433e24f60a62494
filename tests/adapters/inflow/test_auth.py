"""API key and OAuth2 client credentials against the sandbox: cached token, renewed early and on a 401."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bitrix_inflow.adapters.inflow.http import HttpSession, OAuth2ClientCredentials
from bitrix_inflow.adapters.inflow.settings import InflowSettings
from bitrix_inflow.errors import AuthError
from bitrix_inflow.sandboxes.wms.auth import AuthSettings
from bitrix_inflow.timing import SystemClock

TRANSPORTS = ["rest", "soap"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_token_is_fetched_once_and_reused(ctl, make_client, transport):
    client = make_client(ctl.running, transport=transport, auth="oauth2")
    for _ in range(5):
        client.available_stock_page(limit=1)
    assert client.credentials.tokens_fetched == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_revoked_token_is_renewed_once_and_the_call_repeated(ctl, make_client, sleeps, transport):
    client = make_client(ctl.running, transport=transport, auth="oauth2")
    client.available_stock_page(limit=1)
    ctl.expire_tokens()
    page = client.available_stock_page(limit=2)
    assert len(page.items) == 2
    assert client.credentials.tokens_fetched == 2
    assert sleeps.waits == []  # a 401 is not a transient error: renewed at once, not retried with backoff


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_wrong_api_key_is_an_auth_error_without_retries(ctl, make_client, sleeps, transport):
    client = make_client(ctl.running, transport=transport, api_key="not-the-key")
    with pytest.raises(AuthError, match="401"):
        client.available_stock_page()
    assert sleeps.waits == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_wrong_client_secret_is_an_auth_error(ctl, make_client, transport):
    client = make_client(ctl.running, transport=transport, auth="oauth2", client_secret="wrong-secret")
    with pytest.raises(AuthError, match="invalid_client"):
        client.get_order("PO-00000001")


def test_token_is_renewed_before_it_expires(ctl):
    settings = InflowSettings(base_url=ctl.running.base_url, api_key="unused")  # type: ignore[arg-type]
    now = [1000.0]

    class Clock(SystemClock):
        def monotonic(self) -> float:
            return now[0]

    credentials = OAuth2ClientCredentials(
        "sandbox-client", "sandbox-secret", "/oauth/token", refresh_margin=60, clock=Clock()
    )
    http = HttpSession(settings, credentials)
    try:
        first = credentials.headers(http)
        now[0] += 3600 - 61  # the sandbox's tokens live 3600 s
        assert credentials.headers(http) == first
        now[0] += 2  # inside the margin: a new token before the old one expires
        second = credentials.headers(http)
        assert second != first and credentials.tokens_fetched == 2
        response = http.send("GET", "/api/v1/stock", params={"limit": 1})
        assert response.status_code == 200
    finally:
        http.close()


def test_oauth_against_an_api_key_only_installation(make_client, start_sandbox):
    with start_sandbox("default", auth=AuthSettings(api_keys=["k-1"], oauth_clients={})) as running:
        client = make_client(running, auth="oauth2")
        with pytest.raises(AuthError):
            client.available_stock_page()
        assert make_client(running, api_key="k-1").available_stock_page(limit=1).items


def test_concurrent_calls_share_one_token(ctl, make_client):
    client = make_client(ctl.running, auth="oauth2")
    with ThreadPoolExecutor(max_workers=6) as pool:
        pages = list(pool.map(lambda _: client.available_stock_page(limit=2), range(12)))
    assert all(len(page.items) == 2 for page in pages)
    assert client.credentials.tokens_fetched == 1

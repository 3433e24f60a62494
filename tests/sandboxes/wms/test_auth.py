"""Authentication: X-API-Key, OAuth2 client credentials with expiry, and which methods are enabled."""

from __future__ import annotations

import httpx

from bitrix_inflow.sandboxes.wms import run_in_process
from bitrix_inflow.sandboxes.wms.auth import AuthSettings

TOKEN_FORM = {
    "grant_type": "client_credentials",
    "client_id": "sandbox-client",
    "client_secret": "sandbox-secret",
}


def token(base_url, **form):
    return httpx.post(base_url + "/oauth/token", data={**TOKEN_FORM, **form})


def test_api_key(wms):
    assert wms.api.get("/stock", params={"limit": 1}).status_code == 200
    wrong = httpx.get(wms.running.api_url + "/stock", headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["type"] == "urn:inflow:problem:unauthorized"
    assert wrong.json()["errors"] == [{"field": "X-API-Key", "problem": "unknown API key"}]
    missing = httpx.get(wms.running.api_url + "/stock")
    assert missing.status_code == 401 and "WWW-Authenticate" in missing.headers


def test_wrong_key_changes_nothing(wms):
    before = wms.snapshot()
    body = {
        "external_ref": "B-1-1",
        "customer_order_ref": "1",
        "warehouse": "MAIN",
        "lines": [{"line_no": 1, "sku": "SKU-000002", "qty": 1}],
    }
    response = httpx.post(wms.running.api_url + "/orders", json=body, headers={"X-API-Key": "stolen"})
    assert response.status_code == 401
    assert wms.snapshot() == before


def test_oauth_token_flow_and_expiry(wms):
    issued = token(wms.running.base_url)
    assert issued.status_code == 200
    grant = issued.json()
    assert grant["token_type"] == "Bearer" and grant["expires_in"] == 3600
    assert issued.headers["cache-control"] == "no-store"
    bearer = {"Authorization": f"Bearer {grant['access_token']}"}
    assert httpx.get(wms.running.api_url + "/stock", headers=bearer).status_code == 200

    wms.ctl.post("/auth/expire-tokens").raise_for_status()
    expired = httpx.get(wms.running.api_url + "/stock", headers=bearer)
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    fresh = token(wms.running.base_url).json()["access_token"]
    assert (
        httpx.get(wms.running.api_url + "/stock", headers={"Authorization": f"Bearer {fresh}"}).status_code
        == 200
    )


def test_oauth_errors(wms):
    bad_secret = token(wms.running.base_url, client_secret="guess")
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"
    bad_grant = token(wms.running.base_url, grant_type="password")
    assert bad_grant.status_code == 400 and bad_grant.json()["error"] == "unsupported_grant_type"
    missing = httpx.post(wms.running.base_url + "/oauth/token", data={"grant_type": "client_credentials"})
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "client_id"
    as_json = httpx.post(wms.running.base_url + "/oauth/token", json=TOKEN_FORM)
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    unknown = httpx.get(wms.running.api_url + "/stock", headers={"Authorization": "Bearer made-up"})
    assert unknown.status_code == 401
    basic = httpx.get(wms.running.api_url + "/stock", headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401


def test_short_token_lifetime_is_announced(settings_factory):
    settings = settings_factory(
        auth=AuthSettings(api_keys=[], oauth_clients={"c1": "secret-1"}, token_ttl=60)
    )
    with run_in_process(settings) as running:
        grant = httpx.post(
            running.base_url + "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "c1", "client_secret": "secret-1"},
        ).json()
        assert grant["expires_in"] == 60
        key_only = httpx.get(running.api_url + "/stock", headers={"X-API-Key": "sandbox-key"})
        assert key_only.status_code == 401, "API keys are disabled on this installation"
        ok = httpx.get(
            running.api_url + "/stock", headers={"Authorization": f"Bearer {grant['access_token']}"}
        )
        assert ok.status_code == 200


def test_api_key_only_installation_refuses_oauth(settings_factory):
    settings = settings_factory(auth=AuthSettings(api_keys=["k-1"], oauth_clients={}))
    with run_in_process(settings) as running:
        refused = httpx.post(running.base_url + "/oauth/token", data=TOKEN_FORM)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        assert httpx.get(running.api_url + "/stock", headers={"X-API-Key": "k-1"}).status_code == 200

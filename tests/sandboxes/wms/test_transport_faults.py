"""Transport faults: 5xx, 429 bursts with Retry-After, latency, hangs, connection resets; all seeded."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest


def test_error_rate_answers_503_problem_and_spares_the_control_api(wms):
    wms.faults(error_rate=1.0)
    response = wms.api.get("/stock")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:inflow:problem:unavailable"
    assert wms.ctl.get("/state").status_code == 200
    sku = wms.sku(marked=False)["sku"]
    assert wms.create([{"line_no": 1, "sku": sku, "qty": 1}]).status_code == 503
    assert wms.orders() == [], "a 503 before processing changes nothing"


def test_429_burst_carries_retry_after(wms):
    wms.faults(burst_429=2, retry_after=3)
    first, second, third = (wms.api.get("/stock", params={"limit": 1}) for _ in range(3))
    for limited in (first, second):
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "3"
        assert limited.json()["type"] == "urn:inflow:problem:rate-limited"
    assert third.status_code == 200
    assert wms.ctl.get("/faults").json()["burst_429"] == 0


def test_a_429_rate_answers_that_share_at_random_and_repeats_with_the_seed(wms):
    def statuses() -> list[int]:
        wms.faults(seed=4, rate_429=0.3, retry_after=2)
        return [wms.api.get("/stock", params={"limit": 1}).status_code for _ in range(60)]

    first = statuses()
    assert set(first) == {200, 429} and 8 <= first.count(429) <= 30
    assert statuses() == first, "the same seed, the same requests limited"
    wms.faults(rate_429=0)
    assert wms.api.get("/stock", params={"limit": 1}).status_code == 200


def test_rate_limit_per_second_answers_429(wms):
    wms.faults(rate_limit_rps=2, retry_after=1)
    statuses = [wms.api.get("/stock", params={"limit": 1}).status_code for _ in range(20)]
    assert statuses.count(429) >= 1 and statuses[0] == 200
    limited = next(
        r for r in (wms.api.get("/stock", params={"limit": 1}) for _ in range(5)) if r.status_code == 429
    )
    assert limited.headers["retry-after"] == "1"
    wms.faults(rate_limit_rps=0)
    assert wms.api.get("/stock", params={"limit": 1}).status_code == 200


def test_latency_makes_a_short_client_timeout_fire(wms):
    wms.faults(latency_ms=600)
    with pytest.raises(httpx.ReadTimeout):
        wms.api.get("/stock", params={"limit": 1}, timeout=0.1)
    assert wms.api.get("/stock", params={"limit": 1}, timeout=10).status_code == 200


def test_hanging_request_times_out_but_still_takes_effect(wms):
    sku = wms.sku(marked=False)["sku"]
    wms.faults(hang_rate=1.0, hang_seconds=0.8)
    key = str(uuid.uuid4())
    body = {
        "external_ref": "B-8-1",
        "customer_order_ref": "8",
        "warehouse": "MAIN",
        "lines": [{"line_no": 1, "sku": sku, "qty": 1}],
    }
    with pytest.raises(httpx.ReadTimeout):
        wms.api.post("/orders", json=body, headers={"Idempotency-Key": key}, timeout=0.2)
    wms.faults(hang_rate=0.0)
    for _ in range(200):
        if wms.orders():
            break
        time.sleep(0.05)
    [order] = wms.orders()
    retry = wms.api.post("/orders", json=body, headers={"Idempotency-Key": key})
    assert retry.status_code == 201 and retry.json()["id"] == order["id"]
    assert retry.headers["idempotent-replayed"] == "true"


def test_connection_reset_leaves_no_trace(wms):
    sku = wms.sku(marked=False)["sku"]
    wms.faults(reset_rate=1.0)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        wms.create([{"line_no": 1, "sku": sku, "qty": 1}])
    wms.faults(reset_rate=0.0)
    assert wms.orders() == []
    assert wms.create([{"line_no": 1, "sku": sku, "qty": 1}]).status_code == 201


def test_faults_also_hit_oauth_and_soap_paths(wms):
    wms.faults(error_rate=1.0)
    token = httpx.post(wms.running.base_url + "/oauth/token", data={"grant_type": "client_credentials"})
    assert token.status_code == 503
    soap = httpx.post(wms.running.base_url + "/soap/v1", content=b"<x/>")
    assert soap.status_code == 500, "SOAP 1.1 faults travel as HTTP 500"
    assert (
        b"<faultcode>soap:Server</faultcode>" in soap.content
        and b"urn:inflow:problem:unavailable" in soap.content
    )
    wms.faults(error_rate=0.0, burst_429=1, retry_after=2)
    limited = httpx.post(wms.running.base_url + "/soap/v1", content=b"<x/>")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert b"urn:inflow:problem:rate-limited" in limited.content


def test_fault_sequence_repeats_with_the_same_seed(wms):
    def run():
        wms.faults(seed=9, error_rate=0.5)
        return [wms.api.get("/stock", params={"limit": 1}).status_code for _ in range(12)]

    first, second = run(), run()
    assert first == second
    assert set(first) == {200, 503}


def test_fault_settings_are_validated(wms):
    bad_rate = wms.ctl.put("/faults", json={"error_rate": 2})
    assert bad_rate.status_code == 400 and bad_rate.json()["errors"][0]["field"] == "error_rate"
    unknown = wms.ctl.put("/faults", json={"gremlins": 1})
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "gremlins"
    assert wms.ctl.get("/faults").json()["error_rate"] == 0

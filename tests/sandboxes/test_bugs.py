"""An unexpected exception in a sandbox fails the test during which it happened, with its traceback; the sandbox
still answers 500 and shows it on the control API. Deliberate errors and injected faults are answers, not bugs.

Each test plants a bug by making a handler raise.
"""

from __future__ import annotations

import textwrap
import threading
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
import pytest

from bitrix_inflow.sandboxes import bugs
from bitrix_inflow.sandboxes.bitrix import ControlError, SandboxConfig, running_bitrix_sandbox
from bitrix_inflow.sandboxes.bugs import SandboxBugs
from bitrix_inflow.sandboxes.wms import SandboxSettings, run_in_process

API_KEY = "sandbox-key"


def planted(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise ZeroDivisionError("planted sandbox bug")


def wms_settings() -> SandboxSettings:
    return SandboxSettings(skus=5, bins=20, seed=3, qty_min=1)


def wait_for(condition: Any, what: str) -> None:
    for _ in range(500):
        if condition():
            return
        threading.Event().wait(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# --------------------------------------------------------------------------------------------- WMS sandbox


def test_wms_crash_answers_500_shows_on_the_control_api_and_fails_the_check(monkeypatch: Any) -> None:
    with run_in_process(wms_settings()) as running, httpx.Client(timeout=10) as http:
        monkeypatch.setattr(running.service, "get_stock", planted)
        answer = http.get(running.api_url + "/stock", headers={"X-API-Key": API_KEY})
        assert answer.status_code == 500
        assert answer.json()["type"] == "urn:inflow:problem:internal"

        [shown] = http.get(running.base_url + "/_sandbox/errors").json()["items"]
        assert shown["where"] == f"GET {urlsplit(running.api_url).path}/stock"
        assert shown["error"] == "ZeroDivisionError: planted sandbox bug"
        assert "in planted" in shown["traceback"]

        with pytest.raises(SandboxBugs) as failed:
            bugs.check_live()
        assert "ZeroDivisionError: planted sandbox bug" in str(failed.value)
        assert "Traceback (most recent call last)" in str(failed.value)
        # Reported once: the checker took it.
        bugs.check_live()
        assert http.get(running.base_url + "/_sandbox/errors").json()["items"] == []


def test_wms_crash_behind_soap_answers_a_server_fault(monkeypatch: Any) -> None:
    envelope = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<GetStockRequest xmlns="urn:inflow:wms:v1"/></soap:Body></soap:Envelope>'
    )
    with run_in_process(wms_settings()) as running:
        monkeypatch.setattr(running.service, "get_stock", planted)
        answer = httpx.post(
            running.base_url + "/soap/v1",
            content=envelope.encode(),
            headers={"X-API-Key": API_KEY, "Content-Type": "text/xml"},
            timeout=10,
        )
        assert answer.status_code == 500 and b"soap:Server" in answer.content
        [bug] = running.service.bugs.take()
        assert bug.where == "POST /soap/v1" and bug.error == "ZeroDivisionError: planted sandbox bug"


def test_wms_deliberate_errors_and_injected_faults_are_not_bugs() -> None:
    with run_in_process(wms_settings()) as running, httpx.Client(timeout=10) as http:
        api, ctl = running.api_url, running.base_url + "/_sandbox"
        assert http.get(api + "/stock").status_code == 401
        assert http.get(api + "/nowhere", headers={"X-API-Key": API_KEY}).status_code == 404
        assert (
            http.get(api + "/stock", params={"limit": "x"}, headers={"X-API-Key": API_KEY}).status_code == 400
        )
        assert http.post(running.base_url + "/soap/v1", content=b"<broken").status_code == 500
        http.put(ctl + "/faults", json={"error_rate": 1.0}).raise_for_status()
        assert http.get(api + "/stock", headers={"X-API-Key": API_KEY}).status_code == 503
        http.put(ctl + "/faults", json={"error_rate": 0.0, "burst_429": 1}).raise_for_status()
        assert http.get(api + "/stock", headers={"X-API-Key": API_KEY}).status_code == 429
        assert http.get(ctl + "/errors").json()["items"] == []


def test_wms_runner_raises_when_it_stops_over_an_unchecked_bug(monkeypatch: Any) -> None:
    with pytest.raises(SandboxBugs, match="planted sandbox bug"), run_in_process(wms_settings()) as running:
        monkeypatch.setattr(running.service, "get_stock", planted)
        httpx.get(running.api_url + "/stock", headers={"X-API-Key": API_KEY}, timeout=10)


def test_wms_runner_names_the_bugs_on_a_failure_leaving_the_block(monkeypatch: Any) -> None:
    with (
        pytest.raises(AssertionError, match="the client gave up") as failed,
        run_in_process(wms_settings()) as running,
    ):
        monkeypatch.setattr(running.service, "get_stock", planted)
        httpx.get(running.api_url + "/stock", headers={"X-API-Key": API_KEY}, timeout=10)
        raise AssertionError("the client gave up")
    assert not isinstance(failed.value, SandboxBugs)
    assert any("planted sandbox bug" in note for note in failed.value.__notes__)


def test_wms_background_crash_is_recorded_and_cleared_over_the_control_api(monkeypatch: Any) -> None:
    with run_in_process(wms_settings()) as running, httpx.Client(timeout=10) as http:
        monkeypatch.setattr(running.service.hub, "_send_once", planted)
        hook = {
            "url": "http://127.0.0.1:9/hook",
            "events": ["stock.changed"],
            "secret": "s3cret-s3cret-s3cret",
        }
        http.post(running.api_url + "/webhooks", json=hook, headers={"X-API-Key": API_KEY}).raise_for_status()
        sku = http.get(running.base_url + "/_sandbox/skus").json()["items"][0]["sku"]
        change = {"warehouse": "MAIN", "sku": sku, "delta": 1}
        http.post(running.base_url + "/_sandbox/stock", json=change).raise_for_status()
        wait_for(running.service.bugs.bugs, "the delivery to crash")
        [cleared] = http.delete(running.base_url + "/_sandbox/errors").json()["items"]
        assert cleared["where"] == "webhook delivery"
        assert http.get(running.base_url + "/_sandbox/errors").json()["items"] == []


# --------------------------------------------------------------------------------------------- Bitrix sandbox


def test_bitrix_crash_in_rest_and_control_answers_500_and_fails_the_check(monkeypatch: Any) -> None:
    with running_bitrix_sandbox(SandboxConfig(), https=False, products=2) as shop:
        monkeypatch.setattr(shop.sandbox.engine, "handle", planted)
        answer = httpx.post(shop.webhook_url + "sale.order.list", json={}, timeout=10)
        assert answer.status_code == 500
        assert answer.json()["error"] == "INTERNAL_SERVER_ERROR"

        monkeypatch.setattr(shop.sandbox.credentials, "issue", planted)
        with pytest.raises(ControlError, match="sandbox bug"):
            shop.control.issue_token()

        shown = shop.control.errors()
        assert [e["where"] for e in shown] == [
            f"POST /rest/{shop.webhook}/sale.order.list",
            "POST /_sandbox/oauth/tokens",
        ]
        with pytest.raises(SandboxBugs) as failed:
            bugs.check_live()
        assert [bug.error for bug in failed.value.bugs] == ["ZeroDivisionError: planted sandbox bug"] * 2
        assert str(failed.value).count("Traceback (most recent call last)") == 2
        assert shop.control.errors() == []


def test_bitrix_runner_raises_when_it_stops_over_an_unchecked_bug(monkeypatch: Any) -> None:
    with (
        pytest.raises(SandboxBugs, match="order stream 1"),
        running_bitrix_sandbox(SandboxConfig(), https=False, products=2) as shop,
    ):
        monkeypatch.setattr("bitrix_inflow.sandboxes.bitrix.control.random_order", planted)
        stream = shop.control.stream_orders(count=1, rate_per_s=10)
        wait_for(lambda: shop.control.stream_status(stream["id"])["done"], "the stream to end")


def test_bitrix_deliberate_errors_and_injected_faults_are_not_bugs() -> None:
    with running_bitrix_sandbox(SandboxConfig(), https=False, products=2) as shop:
        assert httpx.post(shop.webhook_url + "no.such.method", json={}, timeout=10).status_code == 404
        assert httpx.post(shop.base_url + "/rest/sale.order.list", json={}, timeout=10).status_code == 401
        with pytest.raises(ControlError):
            shop.control.place_order(lines=[{"productId": 999, "quantity": 1}])
        shop.control.faults(error_500_rate=1.0)
        assert httpx.post(shop.webhook_url + "sale.order.list", json={}, timeout=10).status_code == 500
        shop.control.faults(error_500_rate=0.0)
        assert shop.control.errors() == []


def test_bitrix_event_thread_records_a_crash_and_keeps_delivering(monkeypatch: Any) -> None:
    with running_bitrix_sandbox(SandboxConfig(), https=False, products=2) as shop:
        product = shop.control.entities("products")[0]["id"]
        real_deliver = shop.sandbox.events._deliver
        monkeypatch.setattr(shop.sandbox.events, "_deliver", planted)
        shop.control.place_order(lines=[{"productId": product, "quantity": 1}])
        assert shop.control.event_log() == []
        monkeypatch.setattr(shop.sandbox.events, "_deliver", real_deliver)
        order = shop.control.place_order(lines=[{"productId": product, "quantity": 1}])
        delivered = shop.control.event_log()
        assert delivered and {e["order_id"] for e in delivered} == {order["id"]}
        crashes = shop.control.clear_errors()
        assert {c["where"] for c in crashes} == {f"event delivery {e['event']}" for e in delivered}


# --------------------------------------------------------------------------------------------- the pytest plugin


def test_the_plugin_fails_the_test_during_which_a_sandbox_crashed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        textwrap.dedent(
            """
            import httpx
            import pytest

            from bitrix_inflow.sandboxes.wms import SandboxSettings, run_in_process


            @pytest.fixture(scope="module")
            def sandbox():
                with run_in_process(SandboxSettings(skus=5, bins=20, seed=3, qty_min=1)) as running:
                    yield running


            def planted(*args, **kwargs):
                raise ZeroDivisionError("planted sandbox bug")


            def test_crash_behind_a_retrying_client(sandbox, monkeypatch):
                monkeypatch.setattr(sandbox.service, "get_stock", planted)
                answer = httpx.get(sandbox.api_url + "/stock", headers={"X-API-Key": "sandbox-key"})
                assert answer.status_code == 500  # a client would retry this and carry on


            def test_clean(sandbox):
                answer = httpx.get(sandbox.api_url + "/stock", headers={"X-API-Key": "sandbox-key"})
                assert answer.status_code == 200
            """
        )
    )
    result = pytester.runpytest_inprocess(
        "-p", "bitrix_inflow.sandboxes.pytest_plugin", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_crash_behind_a_retrying_client*",
            "*SandboxBugs: 1 unexpected sandbox exception(s), that is sandbox bugs*",
            "*ZeroDivisionError: planted sandbox bug*",
        ]
    )

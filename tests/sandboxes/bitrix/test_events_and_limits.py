"""Outgoing events (reference §3.3) and cloud limits / fault switches (§1.8)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bitrix_inflow.sandboxes.bitrix import RunningSandbox


@pytest.fixture(scope="module")
def handler() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """A local event handler that records (content type, raw body) of every POST."""
    received: list[tuple[str, bytes]] = []

    async def record(request: Request) -> PlainTextResponse:
        received.append((request.headers.get("content-type", ""), await request.body()))
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/bitrix/events", record, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/bitrix/events", received
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def _events_for(
    received: list[tuple[str, bytes]], order_id: int, shipment_ids: tuple[int, ...] = ()
) -> list[dict[str, str]]:
    """The order's events, and its shipments' (which name only the shipment)."""
    decoded = [dict(parse_qsl(body.decode())) for _, body in received]
    return [
        d
        for d in decoded
        if (d["event"] == "ONSALEORDERSAVED" and d.get("data[FIELDS][ID]") == str(order_id))
        or (d["event"] == "ONSHIPMENTENTITYSAVED" and d.get("data[FIELDS][ID]") in map(str, shipment_ids))
    ]


def test_order_and_shipment_saves_are_posted_form_encoded(
    shop: RunningSandbox, rest: Any, place: Any, handler: tuple[str, list[tuple[str, bytes]]]
) -> None:
    url, received = handler
    shop.control.configure_events(handler_url=url, application_token="apptoken123")
    try:
        order = place(shop, (1, 1))
        shipment = order["shipments"][0]
        fields = {
            "allowDelivery": "Y",
            "deducted": "N",
            "deliveryId": shipment["deliveryId"],
            "trackingNumber": "T1",
        }
        rest.ok("sale.shipment.update", {"id": shipment["id"], "fields": fields})
        log = shop.control.event_log()
    finally:
        shop.control.configure_events(handler_url=None)
    mine = _events_for(received, order["id"], (shipment["id"],))
    assert [e["event"] for e in mine] == ["ONSALEORDERSAVED", "ONSHIPMENTENTITYSAVED", "ONSALEORDERSAVED"]
    shipment_saved = mine[1]
    # on-shipment-entity-saved.md: the shipment's ID and nothing else (no ORDER_ID, no XML_ID).
    assert {k for k in shipment_saved if k.startswith("data[")} == {"data[FIELDS][ID]"}
    first = mine[0]
    assert first["data[FIELDS][XML_ID]"] == order["xmlId"]
    assert first["data[FIELDS][ACTION]"] == "save"
    assert first["auth[application_token]"] == "apptoken123"
    assert set(first) >= {
        "event_handler_id",
        "ts",
        "auth[domain]",
        "auth[client_endpoint]",
        "auth[member_id]",
    }
    assert "auth[access_token]" not in first  # an outgoing webhook gets no tokens
    assert all(kind == "application/x-www-form-urlencoded" for kind, _ in received)
    raw = next(body for _, body in received if b"ONSHIPMENTENTITYSAVED" in body)
    assert b"data%5BFIELDS%5D%5BID%5D=" in raw  # brackets are percent-encoded on the wire
    assert any(entry["outcome"] == "delivered" for entry in log)


def test_dropped_events_are_lost_without_retry(
    shop: RunningSandbox, place: Any, handler: tuple[str, list[tuple[str, bytes]]]
) -> None:
    url, received = handler
    shop.control.configure_events(handler_url=url)
    shop.control.faults(event_drop_rate=1.0)
    try:
        order = place(shop, (2, 1))
        log = shop.control.event_log()
    finally:
        shop.control.faults(event_drop_rate=0.0)
        shop.control.configure_events(handler_url=None)
    assert _events_for(received, order["id"]) == []
    mine = [e for e in log if e["order_id"] == order["id"]]
    assert [(e["event"], e["outcome"]) for e in mine] == [
        ("ONSALEORDERSAVED", "dropped"),
        ("ONORDERENTITYSAVED", "no-handler"),  # the outgoing webhook is not subscribed to it
    ]


def test_unreachable_handler_is_logged_as_failed(shop: RunningSandbox, place: Any) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    shop.control.configure_events(handler_url=f"http://127.0.0.1:{dead_port}/gone")
    try:
        order = place(shop, (3, 1))
        log = shop.control.event_log()
    finally:
        shop.control.configure_events(handler_url=None)
    outcomes = [
        e["outcome"] for e in log if e["order_id"] == order["id"] and e["event"] == "ONSALEORDERSAVED"
    ]
    assert outcomes == ["failed"]


def test_leaky_bucket_answers_503_when_it_overflows(clean_faults: RunningSandbox, cloud_rest: Any) -> None:
    # The bucket drains in real time. At 0.5 requests/s, a machine slow enough to spend 2 s on the 8 requests
    # drained a place and let a request through that the test expected refused; at one place per 1000 s no
    # realistic load can, so the outcome of every request is fixed.
    clean_faults.control.reset_limits()
    clean_faults.control.faults(limiter=True, bucket_size=5, drain_per_s=0.001)
    statuses = [cloud_rest.post("server.time").status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5
    assert 503 in statuses[5:]
    assert statuses == [200] * 5 + [503] * 3
    refused = cloud_rest.post("server.time")
    assert refused.json() == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    # A fast drain frees a place as soon as any time passes: poll for it (the deadline only bounds a hang).
    clean_faults.control.faults(drain_per_s=1000)
    deadline = time.monotonic() + 30
    while (status := cloud_rest.post("server.time").status_code) != 200:
        assert status == 503 and time.monotonic() < deadline, (
            f"the bucket never drained (last answer {status})"
        )
        time.sleep(0.01)
    clean_faults.control.faults(limiter=False)
    assert cloud_rest.post("server.time").status_code == 200


def test_limiter_is_on_by_default_in_cloud_and_off_on_prem(
    cloud_shop: RunningSandbox, shop: RunningSandbox
) -> None:
    cloud = cloud_shop.control.faults()
    assert (cloud["limiter"], cloud["bucket_size"], cloud["drain_per_s"]) == (True, 50, 2.0)
    assert cloud["operating_limit_s"] == 480.0
    onprem = shop.control.faults()
    assert onprem["limiter"] is False
    assert onprem["operating_limit_s"] is None


def test_operating_time_limit_answers_429_per_method(clean_faults: RunningSandbox, cloud_rest: Any) -> None:
    clean_faults.control.reset_limits()
    clean_faults.control.faults(operating_limit_s=10, operating_cost_s=4, limiter=False)
    first = cloud_rest.ok("sale.status.list")
    assert first["time"]["operating"] >= 4
    cloud_rest.ok("sale.status.list")
    cloud_rest.ok("sale.status.list")
    blocked = cloud_rest.post("sale.status.list")
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "OPERATION_TIME_LIMIT"
    assert cloud_rest.post("server.time").status_code == 200  # the budget is per method


def test_forced_429_500_and_slow_responses(clean_faults: RunningSandbox, cloud_rest: Any) -> None:
    clean_faults.control.faults(force_429=True, limiter=False)
    assert cloud_rest.post("sale.order.list").status_code == 429
    clean_faults.control.faults(force_429=False, error_500_rate=1.0)
    failed = cloud_rest.post("sale.order.list")
    assert failed.status_code == 500
    assert failed.json()["error"] == "INTERNAL_SERVER_ERROR"
    clean_faults.control.faults(error_500_rate=0.0, overload=True)
    blocked = cloud_rest.post("server.time")
    assert blocked.status_code == 503
    assert blocked.json() == {
        "error": "OVERLOAD_LIMIT",
        "error_description": "REST API is blocked due to overload.",
    }
    clean_faults.control.faults(overload=False, slow_ms=300)
    started = time.monotonic()
    assert cloud_rest.post("server.time").status_code == 200
    assert time.monotonic() - started >= 0.3  # the switch took effect (not a speed assertion)


def _app(shop: RunningSandbox, rest: Any, **token_options: Any) -> Any:
    token = shop.control.issue_token(**token_options)["access_token"]

    def call(method: str, params: dict[str, Any] | None = None) -> Any:
        return rest.post(method, {**(params or {}), "auth": token}, base=f"{shop.base_url}/rest/")

    return call


def test_event_methods_need_an_application_context(rest: Any) -> None:
    refused = rest.error("event.bind", {"event": "OnSaleOrderSaved", "event_type": "offline"}, status=403)
    assert refused["error"] == "WRONG_AUTH_TYPE"


def test_offline_queue_keeps_the_latest_state_per_object(shop: RunningSandbox, rest: Any, place: Any) -> None:
    app = _app(shop, rest)
    assert app("event.bind", {"event": "OnSaleOrderSaved", "event_type": "offline"}).json()["result"] is True
    try:
        bound = {
            "event": "ONSALEORDERSAVED",
            "handler": "",
            "auth_type": "0",
            "offline": 1,
            "connector_id": "",
        }
        assert bound in app("event.get").json()["result"]
        app("event.offline.get", {"clear": 1, "limit": 1000})  # drop whatever earlier tests queued
        order = place(shop, (1, 1))
        for comment in ("first", "second", "third"):
            app("sale.order.update", {"id": order["id"], "fields": {"comments": comment}})
        other = place(shop, (2, 1))
        reserved = app("event.offline.get", {"clear": 0}).json()["result"]
        assert reserved["process_id"]
        events = reserved["events"]
        assert [e["EVENT_NAME"] for e in events] == ["ONSALEORDERSAVED", "ONSALEORDERSAVED"]
        assert [e["EVENT_DATA"]["FIELDS"]["ID"] for e in events] == [order["id"], other["id"]]
        assert app("event.offline.get", {"clear": 0}).json()["result"]["events"] == []  # both are reserved
        again = app("event.offline.get", {"clear": 0, "process_id": reserved["process_id"]}).json()["result"]
        assert [e["ID"] for e in again["events"]] == [e["ID"] for e in events]
        cleared = app("event.offline.clear", {"process_id": reserved["process_id"], "id": [events[0]["ID"]]})
        assert cleared.json()["result"] is True
        left = app("event.offline.get", {"process_id": reserved["process_id"]}).json()["result"]["events"]
        assert [e["ID"] for e in left] == [events[1]["ID"]]
    finally:
        app("event.unbind", {"event": "ONSALEORDERSAVED", "event_type": "offline"})
    assert app("event.get").json()["result"] == []


def test_a_write_with_the_bindings_auth_connector_queues_no_offline_event(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    """offline-events.md, "How to avoid cycles": writes carrying the binding's auth_connector (alone or on the
    outer batch) cause no record in that queue, which is read with the same key (event-offline-get.md); other
    writes still do; a plan without the feature refuses the key."""
    app = _app(shop, rest)
    bound = {"event": "OnSaleOrderSaved", "event_type": "offline", "auth_connector": "inflow-sync"}
    assert app("event.bind", bound).json()["result"] is True
    key = {"auth_connector": "inflow-sync"}
    try:
        assert {"event": "ONSALEORDERSAVED", "offline": 1, "connector_id": "inflow-sync"}.items() <= next(
            b for b in app("event.get").json()["result"] if b["offline"]
        ).items()
        order = place(shop, (1, 1))
        app("event.offline.get", {"clear": 1, "limit": 1000, **key})
        mine = {"id": order["id"], "fields": {"comments": "ours"}, **key}
        app("sale.order.update", mine)
        command = f"sale.order.update?id={order['id']}&fields[comments]=ours-in-a-batch"
        batch = app("batch", {"cmd": {"a": command}, **key}).json()["result"]
        assert batch["result_error"] == []
        assert app("event.offline.get", {"clear": 1, **key}).json()["result"]["events"] == []

        app("sale.order.update", {"id": order["id"], "fields": {"comments": "a manager's edit"}})
        assert app("event.offline.get", {"clear": 1}).json()["result"]["events"] == []  # not the key's queue
        [theirs] = app("event.offline.get", {"clear": 1, **key}).json()["result"]["events"]
        assert theirs["EVENT_DATA"]["FIELDS"]["ID"] == order["id"]

        shop.control.settings(auth_connector=False)  # a plan below Pro: a key is refused
        try:
            assert app("feature.get", {"CODE": "rest_auth_connector"}).json()["result"] == {"value": "N"}
            refused = app("sale.order.update", mine)
            assert refused.status_code == 403 and refused.json()["error"] == "WRONG_LICENSE"
        finally:
            shop.control.settings(auth_connector=True)
        # On-premise no plan gates it: the answer is the license (feature-get.md, "lang_selfhosted").
        assert app("feature.get", {"CODE": "rest_auth_connector"}).json()["result"] == {
            "value": "ru_selfhosted"
        }
    finally:
        app("event.unbind", {"event": "ONSALEORDERSAVED", "event_type": "offline"})


def test_offline_get_filters_orders_and_sets_failures_aside(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    app = _app(shop, rest)
    app("event.bind", {"event": "OnSaleOrderSaved", "event_type": "offline"})
    try:
        app("event.offline.get", {"clear": 1, "limit": 1000})
        orders = [place(shop, (1, 1)) for _ in range(3)]
        newest_first = app("event.offline.list", {"order": {"ID": "DESC"}}).json()
        listed = newest_first["result"]
        assert [r["EVENT_DATA"]["FIELDS"]["ID"] for r in listed] == [o["id"] for o in reversed(orders)]
        assert newest_first["total"] == 3 and {r["PROCESS_ID"] for r in listed} == {""}
        first_id = int(listed[-1]["ID"])
        later = app("event.offline.get", {"clear": 0, "filter": {">ID": first_id}}).json()["result"]
        assert [e["EVENT_DATA"]["FIELDS"]["ID"] for e in later["events"]] == [o["id"] for o in orders[1:]]
        failed = later["events"][0]["MESSAGE_ID"]
        assert app("event.offline.error", {"process_id": later["process_id"], "message_id": [failed]}).json()[
            "result"
        ]
        flagged = app("event.offline.list", {"filter": {"ERROR": 1}}).json()["result"]
        assert [r["MESSAGE_ID"] for r in flagged] == [failed] and flagged[0]["ERROR"] == "1"
        # A failure leaves the normal queue and the process; error=1 reads it again.
        normal = app("event.offline.get", {"clear": 1}).json()["result"]["events"]
        assert [e["EVENT_DATA"]["FIELDS"]["ID"] for e in normal] == [orders[0]["id"]]
        retried = app("event.offline.get", {"clear": 1, "error": 1}).json()["result"]["events"]
        assert [e["MESSAGE_ID"] for e in retried] == [failed]
        assert app("feature.get", {}).json() == {
            "error": "CODE_EMPTY",
            "error_description": "CODE can't be empty",
        }
    finally:
        app("event.offline.clear", {"process_id": later["process_id"]})
        app("event.unbind", {"event": "ONSALEORDERSAVED", "event_type": "offline"})


def test_offline_events_need_an_administrator(shop: RunningSandbox, rest: Any) -> None:
    app = _app(shop, rest, user_id=5)
    refused = app("event.bind", {"event": "OnSaleOrderSaved", "event_type": "offline"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "ACCESS_DENIED"
    unknown = app("event.bind", {"event": "OnSomethingElse", "handler": "https://example.org/h"})
    assert unknown.json() == {"error": "ERROR_EVENT_NOT_FOUND", "error_description": "Event not found"}


def test_online_binding_delivers_to_the_app_handler(
    shop: RunningSandbox, rest: Any, place: Any, handler: tuple[str, list[tuple[str, bytes]]]
) -> None:
    url, received = handler
    app = _app(shop, rest)
    app("event.bind", {"event": "OnPaymentEntitySaved", "handler": url})
    try:
        order = place(shop, (3, 1))
        payment = order["payments"][0]
        fields = {"paid": "Y", "paySystemId": payment["paySystemId"]}
        assert app("sale.payment.update", {"id": payment["id"], "fields": fields}).status_code == 200
        log = shop.control.event_log()
    finally:
        assert app("event.unbind", {"event": "OnPaymentEntitySaved", "handler": url}).json()["result"] == {
            "count": 1
        }
    delivered = [e for e in log if e["event"] == "ONPAYMENTENTITYSAVED" and e["handler"] == url]
    assert [e["outcome"] for e in delivered] == ["delivered"]
    mine = [dict(parse_qsl(body.decode())) for _, body in received if b"ONPAYMENTENTITYSAVED" in body]
    assert {k for k in mine[-1] if k.startswith("data[")} == {"data[FIELDS][ID]"}
    assert mine[-1]["data[FIELDS][ID]"] == str(payment["id"])

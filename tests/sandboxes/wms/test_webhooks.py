"""Webhooks: subscription API, HMAC signature over the raw body, retries with backoff, delivery faults."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading

SECRET = "s3cret-s3cret-s3cret"


def subscribe(wms, receiver, events=("order.status_changed", "stock.changed")):
    response = wms.api.post("/webhooks", json={"url": receiver.url, "events": list(events), "secret": SECRET})
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(wms):
    return wms.ctl.get("/webhooks/deliveries").json()["items"]


def settled(wms):
    """The delivery log once nothing is pending or being sent any more (polls the control API)."""
    for _ in range(500):
        items = deliveries(wms)
        if all(d["state"] in ("delivered", "failed", "dropped") for d in items):
            return items
        threading.Event().wait(0.02)
    raise AssertionError(f"deliveries did not settle: {items}")


def status_event(wms, ref="B-1-1"):
    """Create an order and move it one step: exactly one order.status_changed event."""
    order = wms.create_ok([{"line_no": 1, "sku": wms.sku(marked=False)["sku"], "qty": 1}], ref=ref)
    return wms.step(order["id"])


def test_subscription_crud_and_validation(wms, receiver):
    hook = subscribe(wms, receiver)
    assert set(hook) == {"id", "url", "events", "created_at"}, "the secret is never returned"
    assert [h["id"] for h in wms.api.get("/webhooks").json()["items"]] == [hook["id"]]
    short = wms.api.post(
        "/webhooks", json={"url": receiver.url, "events": ["stock.changed"], "secret": "short"}
    )
    assert short.status_code == 400 and short.json()["errors"][0]["field"] == "secret"
    bad_event = wms.api.post(
        "/webhooks", json={"url": receiver.url, "events": ["order.eaten"], "secret": SECRET}
    )
    assert bad_event.status_code == 400 and bad_event.json()["errors"][0]["field"] == "events[0]"
    assert wms.api.delete(f"/webhooks/{hook['id']}").status_code == 204
    assert wms.api.delete(f"/webhooks/{hook['id']}").status_code == 404
    assert wms.api.get("/webhooks").json()["items"] == []


def test_deliveries_are_signed_over_the_raw_body(wms, receiver):
    subscribe(wms, receiver, events=["order.status_changed"])
    order = status_event(wms)
    [delivery] = receiver.wait_for(1)
    raw, headers = delivery["raw"], {k.lower(): v for k, v in delivery["headers"].items()}
    expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-inflow-signature"], expected)
    body = json.loads(raw)
    assert headers["x-inflow-event-id"] == body["event_id"]
    assert int(headers["x-inflow-timestamp"]) > 1_700_000_000
    assert body["event"] == "order.status_changed"
    assert body["data"] == {
        "order_id": order["id"],
        "external_ref": "B-1-1",
        "warehouse": "MAIN",
        "status": "ASSIGNED",
        "previous_status": "NEW",
        "version": order["version"],
    }
    tampered = "sha256=" + hmac.new(b"wrong-secret-wrong", raw, hashlib.sha256).hexdigest()
    assert tampered != headers["x-inflow-signature"]


def test_stock_changed_names_the_skus(wms, receiver):
    subscribe(wms, receiver, events=["stock.changed"])
    sku = wms.sku(marked=False)["sku"]
    wms.create_ok([{"line_no": 1, "sku": sku, "qty": 1}])
    [delivery] = receiver.wait_for(1)
    assert json.loads(delivery["raw"])["data"] == {"warehouse": "MAIN", "skus": [sku]}


def test_failed_deliveries_are_retried_with_the_same_event_id(wms, receiver):
    subscribe(wms, receiver, events=["order.status_changed"])
    receiver.script = [500, 503]
    status_event(wms)
    received = receiver.wait_for(3)
    assert [r["status"] for r in received] == [500, 503, 200]
    assert len({r["headers"]["X-Inflow-Event-Id"] for r in received}) == 1
    [record] = settled(wms)
    assert record["state"] == "delivered"
    assert [a["status_code"] for a in record["attempts"]] == [500, 503, 200]


def test_delivery_gives_up_after_max_attempts(wms, receiver):
    subscribe(wms, receiver, events=["order.status_changed"])
    receiver.script = [500] * 10
    status_event(wms)
    [record] = settled(wms)
    assert record["state"] == "failed" and len(record["attempts"]) == 4
    assert len(receiver.received) == 4


def test_dropped_webhook_never_arrives(wms, receiver):
    subscribe(wms, receiver, events=["order.status_changed"])
    wms.faults(webhook_drop_rate=1.0)
    status_event(wms, "B-1-1")
    wms.faults(webhook_drop_rate=0.0)
    second = status_event(wms, "B-2-1")
    received = receiver.wait_for(1)
    assert [json.loads(r["raw"])["data"]["order_id"] for r in received] == [second["id"]]
    assert [d["state"] for d in settled(wms)] == ["dropped", "delivered"]


def test_duplicated_webhook_arrives_twice_with_one_event_id(wms, receiver):
    subscribe(wms, receiver, events=["order.status_changed"])
    wms.faults(webhook_duplicate_rate=1.0)
    status_event(wms)
    received = receiver.wait_for(2)
    assert len(received) == 2 and received[0]["raw"] == received[1]["raw"]


def test_reordered_webhook_arrives_after_a_later_one(wms, receiver):
    subscribe(wms, receiver, events=["order.status_changed"])
    wms.faults(webhook_reorder_rate=1.0)
    first = status_event(wms, "B-1-1")
    wms.faults(webhook_reorder_rate=0.0)
    second = status_event(wms, "B-2-1")
    received = receiver.wait_for(2)
    assert [json.loads(r["raw"])["data"]["order_id"] for r in received] == [second["id"], first["id"]]


def test_webhook_faults_are_deterministic_per_seed(wms, receiver):
    subscribe(wms, receiver, events=["order.status_changed"])

    def run():
        wms.seed()
        before = len(deliveries(wms))
        wms.faults(seed=3, webhook_drop_rate=0.5)
        for i in range(6):
            status_event(wms, f"B-{i}-1")
        return [d["state"] == "dropped" for d in deliveries(wms)[before:]]

    first, second = run(), run()
    assert first == second and any(first) and not all(first)

"""``POST /hooks/inflow`` on a real server on loopback: signatures checked on raw bytes, doorbells coalesced."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.store import stock
from bitrix_inflow.sync.orders.statuses import REFRESH_KIND
from bitrix_inflow.sync.stock.jobs import SYNC_KIND
from web_app import serve

SECRET = "a-webhook-secret-of-the-sandbox"


@pytest.fixture
def web(engine: Engine) -> Iterator[str]:
    yield from serve(engine, inflow_webhook_secret=SECRET)


def deliver(
    url: str, event: dict[str, object], *, secret: str = SECRET, tamper: bool = False
) -> httpx.Response:
    body = json.dumps(event).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if tamper:
        body = body.replace(b"MUG-1", b"MUG-2")
    headers = {"X-Inflow-Signature": f"sha256={signature}", "X-Inflow-Event-Id": str(event.get("event_id"))}
    return httpx.post(url + "/hooks/inflow", content=body, headers=headers, timeout=30)


def stock_changed(event_id: str, *skus: str) -> dict[str, object]:
    return {
        "event_id": event_id,
        "event": "stock.changed",
        "occurred_at": "2026-12-01T12:00:00Z",
        "data": {"warehouse": "MAIN", "skus": list(skus)},
    }


def stock_jobs(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [j.id for j in queue.list_jobs(conn, kind=SYNC_KIND, statuses=[JobStatus.QUEUED])]


def test_a_bad_or_missing_signature_is_refused_and_changes_nothing(web: str, engine: Engine) -> None:
    assert deliver(web, stock_changed("e1", "MUG-1"), secret="someone-else-s-secret").status_code == 401
    assert deliver(web, stock_changed("e2", "MUG-1"), tamper=True).status_code == 401
    unsigned = httpx.post(web + "/hooks/inflow", json=stock_changed("e3", "MUG-1"), timeout=30)
    assert unsigned.status_code == 401
    with engine.connect() as conn:
        assert stock.load_hints(conn, "default") == {}
    assert stock_jobs(engine) == []


def test_doorbells_are_remembered_and_coalesced_into_one_targeted_run(web: str, engine: Engine) -> None:
    first = deliver(web, stock_changed("e1", "MUG-1", "CUP-2"))
    assert first.status_code == 200 and first.json() == {"accepted": 2}
    assert deliver(web, stock_changed("e1", "MUG-1", "CUP-2")).status_code == 200  # a duplicate delivery
    assert deliver(web, stock_changed("e2", "TEA-3")).status_code == 200
    with engine.connect() as conn:
        assert set(stock.load_hints(conn, "default")) == {
            ("MUG-1", "MAIN"),
            ("CUP-2", "MAIN"),
            ("TEA-3", "MAIN"),
        }
    [job_id] = stock_jobs(engine)
    with engine.connect() as conn:
        job = queue.get(conn, job_id)
    assert job is not None and job.payload == {"hinted": True} and job.lock_key == "stock:default"


def status_changed(
    event_id: str, order_id: str, status: str = "PICKING", version: int = 3
) -> dict[str, object]:
    data = {
        "order_id": order_id,
        "external_ref": "B-7-1",
        "warehouse": "MAIN",
        "status": status,
        "version": version,
    }
    return {
        "event_id": event_id,
        "event": "order.status_changed",
        "occurred_at": "2026-12-01T12:00:00Z",
        "data": data,
    }


def refresh_jobs(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [j.payload for j in queue.list_jobs(conn, kind=REFRESH_KIND, statuses=[JobStatus.QUEUED])]


def test_an_order_status_event_queues_one_re_read_however_often_it_is_delivered(
    web: str, engine: Engine
) -> None:
    first = deliver(web, status_changed("s1", "PO-1"))
    assert first.status_code == 200 and first.json() == {"accepted": 1}
    again = deliver(web, status_changed("s1", "PO-1"))  # the same event, retried by the warehouse
    assert again.status_code == 200 and again.json() == {"accepted": 0}
    assert deliver(web, status_changed("s2", "PO-1", "PICKED", 4)).json() == {
        "accepted": 1
    }  # joins the waiting one
    assert refresh_jobs(engine) == [{"wms_order_id": "PO-1"}]
    assert deliver(web, status_changed("s3", "PO-2"), secret="someone-else-s-secret").status_code == 401
    assert refresh_jobs(engine) == [{"wms_order_id": "PO-1"}]


def test_other_events_are_acknowledged_and_bad_payloads_refused(web: str, engine: Engine) -> None:
    other = deliver(web, {"event_id": "o1", "event": "order.created.someday", "data": {}})
    assert other.status_code == 200 and other.json()["ignored"] == "order.created.someday"
    bad = deliver(
        web, {"event_id": "b1", "event": "stock.changed", "data": {"warehouse": "MAIN", "skus": "MUG"}}
    )
    assert bad.status_code == 400 and "data.skus" in bad.json()["error"]
    no_order = deliver(web, {"event_id": "b2", "event": "order.status_changed", "data": {}})
    assert no_order.status_code == 400 and "order_id" in no_order.json()["error"]
    assert stock_jobs(engine) == [] and refresh_jobs(engine) == []


def test_without_a_secret_the_hook_is_off_and_says_how_to_turn_it_on(engine: Engine) -> None:
    for url in serve(engine, inflow_webhook_secret=None):
        answer = deliver(url, stock_changed("e1", "MUG-1"))
        assert answer.status_code == 404 and "inflow.webhook_secret" in answer.json()["error"]

"""``POST /hooks/bitrix`` on a real server on loopback: the shop's events as doorbells for the order poll, the
application token checked, the echoes of the service's own writes spent without a poll."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import Engine

from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.store import orders as store
from bitrix_inflow.sync.orders.notice import NOTICE_KIND
from web_app import serve

TOKEN = "jvh9y1ulvt2m6k5or90v9mg8nn32ozas"
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def web(engine: Engine) -> Iterator[str]:
    yield from serve(engine, bitrix_application_token=TOKEN)


def event(url: str, name: str, entity_id: object, *, token: str = TOKEN) -> httpx.Response:
    form = {
        "event": name,
        "event_handler_id": "975",
        "data[FIELDS][ID]": str(entity_id),
        "ts": "1764676800",
        "auth[domain]": "shop.example.ru",
        "auth[application_token]": token,
    }
    return httpx.post(
        url + "/hooks/bitrix",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )


def polls(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [j.payload for j in queue.list_jobs(conn, kind=NOTICE_KIND, statuses=[JobStatus.QUEUED])]


def test_an_event_without_the_application_token_is_refused_and_queues_nothing(
    web: str, engine: Engine
) -> None:
    assert event(web, "ONSALEORDERSAVED", 7, token="someone-else").status_code == 401
    assert event(web, "ONSALEORDERSAVED", 7, token="").status_code == 401
    assert polls(engine) == []


def test_new_orders_queue_one_early_poll_however_many_events_come(web: str, engine: Engine) -> None:
    for order_id in (7, 8, 9):
        answer = event(web, "ONSALEORDERSAVED", order_id)
        assert answer.status_code == 200 and answer.json() == {"accepted": 1}
    [waiting] = polls(engine)
    assert waiting == {"hinted": 7}  # one poll reads all three
    assert event(web, "ONSALEPAYMENTENTITYSAVED", 3).json() == {
        "accepted": 0,
        "ignored": "ONSALEPAYMENTENTITYSAVED",
    }
    assert event(web, "ONSALEORDERSAVED", "7 OR 1=1").status_code == 400


def test_the_echoes_of_the_services_own_writes_start_no_poll_and_a_later_change_does(
    web: str, engine: Engine
) -> None:
    with engine.begin() as conn:
        store.save_binding(conn, "default", 21, state="forwarded", now=NOW)
        store.plan_parts(
            conn,
            "default",
            21,
            1,
            [store.NewPart(1, "MAIN", "A", "CDEK", "B-21-1", (store.PartLine(5, 44, "S1", 1),))],
            now=NOW,
        )
        # One status write and one shipment write: three events will come back.
        store.expect_echoes(conn, "default", 21, 3, now=NOW)
    assert event(web, "ONSALEORDERSAVED", 21).json() == {"accepted": 0}
    assert event(web, "ONSHIPMENTENTITYSAVED", 44).json() == {"accepted": 0}
    assert event(web, "ONSALEORDERSAVED", 21).json() == {"accepted": 0}
    assert polls(engine) == []
    assert event(web, "ONSALEORDERSAVED", 21).json() == {"accepted": 1}  # a person's change: polled
    assert event(web, "ONSHIPMENTENTITYSAVED", 999).json() == {
        "accepted": 0
    }  # not a shipment the service knows
    assert len(polls(engine)) == 1


def test_without_a_token_configured_the_hook_says_how_to_turn_it_on(engine: Engine) -> None:
    for url in serve(engine):
        answer = event(url, "ONSALEORDERSAVED", 7)
        assert answer.status_code == 404 and "bitrix.application_token" in answer.json()["error"]

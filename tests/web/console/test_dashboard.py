"""The dashboard's figures from the state store: schedules' last and next runs, hourly counts, the oldest waiting
job, and a connection that does not answer shown as such."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.scheduler import Schedule
from bitrix_inflow.ops import console as people
from bitrix_inflow.store import connections
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.web.console import Console
from bitrix_inflow.web.console.health import Health
from web_app import serve

from .conftest import CLOCK, PASSWORD, Site
from .test_security import dead_job

EVERY = dt.timedelta(minutes=5)


@pytest.fixture
def busy(engine: Engine) -> Iterator[Site]:
    people.set_password(engine, "operator", PASSWORD, clock=CLOCK, actor="test")
    schedules = [Schedule(name=n, every=EVERY, kind=n) for n in ("stock.sync", "orders.poll")]
    health = [
        Health("warehouse", True, "answers", CLOCK.now()),
        Health("shop", False, "AuthError: the webhook is revoked", CLOCK.now()),
    ]
    console = Console(engine, CLOCK, default_language="en", schedules=schedules, connections=lambda: health)
    for url in serve(engine, console=console):
        yield Site(url, engine)


def test_the_dashboard_counts_the_day_and_shows_each_schedule_and_connection(busy: Site) -> None:
    dead_job(busy.engine)  # first: a claim takes the oldest queued job
    now = CLOCK.now()
    with busy.engine.begin() as conn:
        for ref in ("B-1-1", "B-2-1", "B-3-1"):
            order_store.add_timeline(
                conn, "default", 1, source="inflow", kind="accepted", detail={"ref": ref}, now=now
            )
        queue.enqueue(conn, "orders.poll", {}, now=now - dt.timedelta(minutes=3))
        # Another tenant's job has waited an hour: not this console's business.
        connections.ensure(conn, "north", now=now)
        queue.enqueue(conn, "orders.poll", {}, now=now - dt.timedelta(hours=1), connection_id="north")
    with busy.signed_in() as client:
        page = client.get("/console/").text
    assert (
        'id="chart-forwarded"><figcaption>Picking orders the warehouse accepted, per hour: <strong>3</strong>'
        in page
    )
    assert 'id="chart-dead"><figcaption>Jobs that failed for good, per hour: <strong>1</strong>' in page
    assert "<code>stock.sync</code>" in page and "<code>orders.poll</code>" in page
    assert "AuthError: the webhook is revoked" in page and 'class="card bad" id="health-shop"' in page
    oldest = page.split('id="card-oldest"><div class="value">')[1].split(" ")[0]
    assert 170 <= int(oldest) <= 400, "the job queued three minutes ago waits that long"

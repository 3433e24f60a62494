"""Settings changed at run time from the console: checked by the file's rules, saved together or not at all,
audited, and in force for the service within its cache's few seconds (jobs and the scheduler both)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from bitrix_inflow.config import Settings
from bitrix_inflow.ops import console as people
from bitrix_inflow.service import CurrentSettings, Tenants, blueprints, build_schedules
from bitrix_inflow.store import console as store
from bitrix_inflow.web.console import Console
from web_app import serve

from .conftest import CLOCK, PASSWORD, Site, csrf_of, same_origin, seen_of


@pytest.fixture
def configured(engine: Engine) -> Iterator[Site]:
    people.set_password(engine, "operator", PASSWORD, clock=CLOCK, actor="test")
    for url in serve(engine, console=Console(engine, CLOCK, default_language="en", settings=Settings())):
        yield Site(url, engine)


def form(page: str, **values: str) -> dict[str, str]:
    return {
        "csrf_token": csrf_of(page),
        "seen": seen_of(page),
        **{k.replace("__", "."): v for k, v in values.items()},
    }


def test_a_change_is_saved_audited_and_in_force_for_the_service(configured: Site) -> None:
    base = Settings()
    current = CurrentSettings(base, configured.engine, ttl=0)
    assert current().stock.buffer == 0
    with configured.signed_in() as client:
        page = client.get("/console/settings").text
        assert 'name="stock.buffer" value="0"' in page
        saved = client.post(
            "/console/settings",
            data=form(page, stock__buffer="3", schedules__stock_seconds="180", orders__statuses="N, P"),
            headers=same_origin(configured.url),
        )
        assert saved.status_code == 303
        shown = client.get("/console/settings?saved=true").text
        assert "changed at run time" in shown and "console:operator" in shown
    now = current()
    assert now.stock.buffer == 3 and now.schedules.stock_seconds == 180 and now.orders.statuses == ("N", "P")
    stock = next(
        s
        for s in build_schedules(now, blueprints())
        if s.kind == "stock.sync" and s.every < dt.timedelta(hours=1)
    )
    assert stock.every == dt.timedelta(seconds=180), "the scheduler's next tick uses the new interval"
    with configured.engine.connect() as conn:
        trail = store.audit_trail(conn, action_prefix="setting.")
    assert {e.target for e in trail} == {"stock.buffer", "schedules.stock_seconds", "orders.statuses"}


def test_a_refused_value_names_the_rule_and_nothing_is_saved(configured: Site) -> None:
    with configured.signed_in() as client:
        page = client.get("/console/settings").text
        refused = client.post(
            "/console/settings",
            data=form(page, stock__buffer="2", schedules__orders_seconds="5", orders__paid_only="perhaps"),
            headers=same_origin(configured.url),
        )
    assert refused.status_code == 400 and "Nothing was saved" in refused.text
    assert "greater than or equal to 30" in refused.text and "is not yes or no" in refused.text
    with configured.engine.connect() as conn:
        assert store.runtime_values(conn, "default") == {}


def test_clearing_a_value_goes_back_to_the_files(configured: Site) -> None:
    with configured.engine.begin() as conn:
        store.set_runtime_value(conn, "default", "stock.buffer", 5, actor="test", now=CLOCK.now())
    with configured.signed_in() as client:
        page = client.get("/console/settings").text
        assert 'name="stock.buffer" value="5"' in page
        cleared = client.post(
            "/console/settings", data=form(page, stock__buffer=""), headers=same_origin(configured.url)
        )
        assert cleared.status_code == 303
    with configured.engine.connect() as conn:
        assert "stock.buffer" not in store.runtime_values(conn, "default")
    assert CurrentSettings(Settings(), configured.engine, ttl=0)().stock.buffer == 0


@pytest.mark.parametrize(
    ("key", "typed", "says"),
    [
        ("orders.statuses", ",", "statuses"),  # no status at all would stop every forwarding job
        ("schedules.orders_seconds", "99999999999", "less than or equal to 604800"),  # rarer than a week
        ("stock.buffer", "--5", "is not a whole number"),
        ("stock.buffer", "²", "is not a whole number"),
    ],
)
def test_a_value_that_would_stop_the_service_is_refused(
    configured: Site, key: str, typed: str, says: str
) -> None:
    with configured.signed_in() as client:
        page = client.get("/console/settings").text
        refused = client.post(
            "/console/settings",
            data={"csrf_token": csrf_of(page), "seen": seen_of(page), key: typed},
            headers=same_origin(configured.url),
        )
    assert refused.status_code == 400 and says in refused.text
    with configured.engine.connect() as conn:
        assert store.runtime_values(conn, "default") == {}


def test_the_settings_in_force_are_the_same_object_while_nothing_changes(engine: Engine) -> None:
    """The jobs keep their clients (and refreshed tokens) as long as the settings object is the same."""
    with engine.begin() as conn:
        store.set_runtime_value(conn, "default", "stock.buffer", 2, actor="test", now=CLOCK.now())
    current = CurrentSettings(Settings(), engine, ttl=0)
    first = current()
    assert current() is first and first.stock.buffer == 2
    with engine.begin() as conn:
        store.set_runtime_value(conn, "default", "stock.buffer", 4, actor="test", now=CLOCK.now())
    changed = current()
    assert changed is not first and changed.stock.buffer == 4 and changed.inflow is first.inflow


def test_a_buffer_change_queues_a_full_stock_sync(configured: Site) -> None:
    from bitrix_inflow.jobs import queue  # noqa: PLC0415

    with configured.signed_in() as client:
        page = client.get("/console/settings").text
        saved = client.post(
            "/console/settings", data=form(page, stock__buffer="2"), headers=same_origin(configured.url)
        )
        assert saved.status_code == 303
    with configured.engine.connect() as conn:
        full = [j for j in queue.list_jobs(conn, kind="stock.sync") if j.payload.get("full")]
    assert len(full) == 1 and "stock.buffer" in full[0].payload["reason"]


def test_settings_saved_meanwhile_by_someone_else_refuse_the_older_form(configured: Site) -> None:
    with configured.signed_in() as anna, configured.signed_in() as boris:
        seen_by_anna = anna.get("/console/settings").text
        seen_by_boris = boris.get("/console/settings").text
        assert (
            boris.post(
                "/console/settings",
                data=form(seen_by_boris, stock__buffer="4"),
                headers=same_origin(configured.url),
            ).status_code
            == 303
        )
        stale = anna.post(
            "/console/settings",
            data=form(seen_by_anna, stock__buffer="1"),
            headers=same_origin(configured.url),
        )
    assert stale.status_code == 409 and "someone changed the settings meanwhile" in stale.text
    with configured.engine.connect() as conn:
        assert store.runtime_values(conn, "default") == {"stock.buffer": 4}


def test_a_form_saved_unchanged_keeps_a_value_set_at_run_time(engine: Engine) -> None:
    """`serve` gives each console its file's settings (``Tenants.files``): compared with what is in force instead,
    a value set at run time passes for the file's, and saving the form unchanged clears it."""
    with engine.begin() as conn:
        store.set_runtime_value(conn, "default", "stock.buffer", 3, actor="test", now=CLOCK.now())
    tenants = Tenants(Settings(), {"default": Settings()}, engine, ttl=0)
    assert tenants.in_force()["default"].stock.buffer == 3 and tenants.files()["default"].stock.buffer == 0
    people.set_password(engine, "operator", PASSWORD, clock=CLOCK, actor="test")
    console = Console(engine, CLOCK, default_language="en", settings=tenants.files()["default"])
    for url in serve(engine, console=console):
        site = Site(url, engine)
        with site.signed_in() as client:
            page = client.get("/console/settings").text
            assert 'name="stock.buffer" value="3"' in page
            saved = client.post(
                "/console/settings", data=form(page, stock__buffer="3"), headers=same_origin(url)
            )
            assert saved.status_code == 303, saved.text
    assert tenants.in_force()["default"].stock.buffer == 3
    with engine.connect() as conn:
        assert store.runtime_values(conn, "default") == {"stock.buffer": 3}

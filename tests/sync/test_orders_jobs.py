"""The orders blueprint: off until the go-live moment is configured, and a bad rule set refused with every key."""

from __future__ import annotations

import pytest

from bitrix_inflow.config import Settings
from bitrix_inflow.domain.status_mapping import DEFAULT_MAPPING, StatusMapping
from bitrix_inflow.errors import ConfigError
from bitrix_inflow.service import blueprints
from bitrix_inflow.sync.orders import jobs


def test_the_flow_is_off_until_a_go_live_moment_is_set() -> None:
    assert jobs.blueprint.schedules(Settings()) == []
    configured = Settings(orders={"go_live": "2026-12-01T00:00:00+03:00", "carriers": {"2": "CDEK"}})
    names = {s.name: s.kind for s in jobs.blueprint.schedules(configured)}
    assert names == {
        "orders.poll": "orders.notice",
        "orders.feed": "orders.feed",
        "orders.prune": "orders.prune",
        "orders.sweep": "orders.sweep",
    }
    assert jobs.blueprint in blueprints(), "the service discovers the orders flow"
    kinds = {task.kind for task in jobs.blueprint.tasks}
    assert kinds == {
        "orders.notice",
        "orders.forward",
        "orders.feed",
        "orders.apply",
        "orders.refresh",
        "orders.prune",
        "orders.sweep",
        "orders.events",
    }


OAUTH = {
    "portal_url": "https://shop.example.ru",
    "client_id": "local.1",
    "client_secret": "s",
    "access_token": "a",
    "refresh_token": "r",
}


def test_the_offline_queue_is_read_on_its_own_schedule_only_when_configured() -> None:
    live = {"go_live": "2026-12-01T00:00:00+03:00"}
    posted = Settings(orders=live, bitrix={"oauth": OAUTH})
    assert "orders.events" not in {s.name for s in jobs.blueprint.schedules(posted)}
    offline = Settings(
        orders=live, bitrix={"oauth": OAUTH, "offline_events": True}, schedules={"events_seconds": 7}
    )
    events = {s.name: s for s in jobs.blueprint.schedules(offline)}["orders.events"]
    assert events.kind == "orders.events" and events.every.total_seconds() == 7
    assert "orders.events" not in {s.name for s in jobs.blueprint.schedules(Settings(bitrix=offline.bitrix))}


def test_the_offline_queue_needs_an_application_and_says_so() -> None:
    with pytest.raises(ValueError, match=r"offline_events: .*fix: configure oauth"):
        Settings(bitrix={"webhook_url": "https://shop.example.ru/rest/1/abcdef/", "offline_events": True})
    with pytest.raises(ValueError, match="auth_connector"):
        Settings(bitrix={"oauth": OAUTH, "offline_events": True, "auth_connector": "no spaces"})


def test_bad_rules_fail_the_job_naming_every_key() -> None:
    settings = Settings(orders={"go_live": "2026-12-01T00:00:00", "statuses": [], "carriers": {"x": "CDEK"}})
    with pytest.raises(ConfigError) as caught:
        jobs.options_from(settings, StatusMapping(DEFAULT_MAPPING))
    keys = {problem.key for problem in caught.value.problems}
    assert keys == {"orders.go_live", "orders.statuses", "orders.carriers.x"}


def test_options_from_good_rules() -> None:
    settings = Settings(
        orders={"go_live": "2026-12-01T00:00:00+03:00", "carriers": {"2": "CDEK"}, "zone_preference": ["P"]},
        inflow={"base_url": "http://127.0.0.1:9", "api_key": "k", "warehouse": "SPB"},
    )
    options = jobs.options_from(settings, StatusMapping(DEFAULT_MAPPING))
    assert (
        options.warehouse == "SPB"
        and options.zone_preference == ("P",)
        and options.rules.carriers == {2: "CDEK"}
    )

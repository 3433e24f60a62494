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
    }


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

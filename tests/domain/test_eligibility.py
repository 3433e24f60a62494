"""Which orders go to the warehouse: every rule, every reason named, and the settings checked all at once."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from bitrix_inflow.domain.eligibility import OrderFacts, OrderRules, ShipmentFacts, parse_rules, verdict

MSK = dt.timezone(dt.timedelta(hours=3))
GO_LIVE = dt.datetime(2026, 12, 1, 0, 0, tzinfo=MSK)
RULES = OrderRules(go_live=GO_LIVE, statuses=frozenset({"N", "P"}), carriers={1: "CDEK", 2: "Russian Post"})
ORDER = OrderFacts(
    id=236,
    status_id="N",
    canceled=False,
    paid=False,
    site="s1",
    person_type=1,
    created_at=dt.datetime(2026, 12, 1, 9, 30, tzinfo=MSK),
    shipments=(ShipmentFacts(338, 1, allow_delivery=False),),
)


def test_an_order_that_meets_every_rule_goes() -> None:
    assert verdict(ORDER, RULES).eligible


def test_an_order_before_the_go_live_never_goes_even_if_it_meets_the_rest() -> None:
    earlier = replace(ORDER, created_at=dt.datetime(2026, 11, 30, 23, 59, tzinfo=MSK))
    result = verdict(earlier, RULES)
    assert not result.eligible and result.final and "go-live" in result.reasons[0]
    # The same instant in another offset is the same moment.
    same = replace(ORDER, created_at=dt.datetime(2026, 11, 30, 21, 0, tzinfo=dt.UTC))
    assert verdict(same, RULES).eligible


@pytest.mark.parametrize(
    ("change", "rules", "reason"),
    [
        ({"canceled": True}, {}, "cancelled"),
        ({"status_id": "F"}, {}, "status F"),
        ({}, {"paid_only": True}, "not paid"),
        ({"site": "s2"}, {"sites": frozenset({"s1"})}, "site s2"),
        ({"person_type": 2}, {"person_types": frozenset({1})}, "person type 2"),
        ({}, {"delivery_allowed": True}, "shipment 338: delivery not allowed"),
        ({"shipments": (ShipmentFacts(338, 9, True),)}, {}, "delivery service 9 has no carrier"),
        ({"shipments": ()}, {}, "no shipment"),
    ],
)
def test_each_rule_holds_an_order_back_with_its_reason(
    change: dict[str, object], rules: dict[str, object], reason: str
) -> None:
    result = verdict(replace(ORDER, **change), replace(RULES, **rules))  # type: ignore[arg-type]
    assert not result.eligible and not result.final
    assert any(reason in text for text in result.reasons), result.reasons


def test_an_order_without_a_creation_time_is_held_not_guessed_about() -> None:
    result = verdict(replace(ORDER, created_at=None), RULES)
    assert not result.eligible and not result.final and "created" in result.reasons[0]


def test_every_reason_is_named_not_only_the_first() -> None:
    result = verdict(replace(ORDER, canceled=True, status_id="F"), replace(RULES, paid_only=True))
    assert len(result.reasons) == 3


def test_rules_from_settings() -> None:
    rules, problems = parse_rules(
        {
            "go_live": "2026-12-01T00:00:00+03:00",
            "statuses": ["N"],
            "paid_only": True,
            "carriers": {"1": "CDEK", "2": "Russian Post"},
        }
    )
    assert problems == [] and rules is not None
    assert rules.go_live == GO_LIVE and rules.paid_only and rules.carriers == {1: "CDEK", 2: "Russian Post"}


def test_bad_rules_are_refused_with_every_problem_named() -> None:
    rules, problems = parse_rules(
        {
            "go_live": "2026-12-01T00:00:00",
            "statuses": [],
            "paid_only": "yes",
            "carriers": {"two": "CDEK", "3": ""},
            "sties": ["s1"],
        }
    )
    assert rules is None
    fields = {problem.field for problem in problems}
    assert fields == {"go_live", "statuses", "paid_only", "carriers.two", "carriers.3", "sties"}
    assert any("UTC offset" in str(p) and "fix:" in str(p) for p in problems)


def test_go_live_is_required() -> None:
    _, problems = parse_rules({})
    assert [p.field for p in problems] == ["go_live"]

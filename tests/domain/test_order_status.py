"""The order-status rules: properties over every combination of parts and every order of events."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitrix_inflow.domain.order_status import PROGRESS, aggregate, decide
from bitrix_inflow.domain.status_mapping import DEFAULT_MAPPING, StatusMapping
from bitrix_inflow.domain.vocabulary import InflowStatus as S

MAPPING = StatusMapping({**DEFAULT_MAPPING, "PICKING_ERROR": "E"})
statuses = st.sampled_from(list(S))


@given(st.lists(statuses, max_size=6), st.randoms())
def test_the_aggregate_does_not_depend_on_the_order_of_the_parts(parts: list[S], rng: object) -> None:
    shuffled = list(parts)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert aggregate(shuffled) == aggregate(parts)


@given(st.lists(statuses, min_size=1, max_size=6))
def test_the_aggregate_is_one_of_the_parts_and_never_ahead_of_a_live_one(parts: list[S]) -> None:
    result = aggregate(parts)
    assert result in parts
    live = [p for p in parts if p is not S.CANCELLED]
    if result is not S.PICKING_ERROR and live:
        assert all(PROGRESS[result] <= PROGRESS[p] for p in live)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([], None),
        ([S.SHIPPED, S.PICKING], S.PICKING),  # the order is where its slowest part is
        ([S.DELIVERED, S.DELIVERED], S.DELIVERED),
        ([S.DELIVERED, S.CANCELLED], S.DELIVERED),  # a cancelled part does not hold the order back
        ([S.CANCELLED, S.CANCELLED], S.CANCELLED),
        ([S.SHIPPED, S.PICKING_ERROR, S.NEW], S.PICKING_ERROR),  # a person has to decide
        ([S.PICKING_ERROR, S.CANCELLED], S.PICKING_ERROR),
    ],
)
def test_the_aggregate_of_typical_orders(parts: list[S], expected: S | None) -> None:
    assert aggregate(parts) == expected


@given(st.lists(statuses, min_size=1, max_size=12))
def test_applying_events_in_any_order_never_moves_an_order_back(events: list[S]) -> None:
    """Whatever order the webhooks and feed pages arrive in, the applied status only goes forward, and it ends at
    the furthest status seen that has a mapping or that the order showed already."""
    applied: S | None = None
    shown: str | None = "N"
    for event in events:
        decision = decide(event, applied, shown, MAPPING)
        if decision.record is not None:
            assert applied is None or PROGRESS[decision.record] > PROGRESS[applied]
            applied = decision.record
        if decision.write is not None:
            shown = decision.write
    furthest_mapped = max(
        (e for e in events if MAPPING.bitrix_status_for(e) is not None),
        key=PROGRESS.__getitem__,
        default=None,
    )
    assert applied == furthest_mapped
    if furthest_mapped is not None:
        assert shown == MAPPING.bitrix_status_for(furthest_mapped)


def test_an_older_event_is_ignored_and_said_so() -> None:
    decision = decide(S.PICKING, S.SHIPPED, "D", MAPPING)
    assert decision.record is None and decision.write is None and "older" in decision.why


def test_an_unmapped_status_writes_nothing_and_is_applied_once_it_is_mapped() -> None:
    without = StatusMapping({"NEW": "P"})
    decision = decide(S.PACKING, S.NEW, "P", without)
    assert (decision.record, decision.write) == (None, None)
    assert "no Bitrix status" in decision.why and "keeps P" in decision.why
    mapped = StatusMapping({"NEW": "P", "PACKING": "K"})
    later = decide(S.PACKING, S.NEW, "P", mapped)
    assert (later.record, later.write) == (S.PACKING, "K")


def test_a_status_the_order_shows_already_is_recorded_without_a_write() -> None:
    decision = decide(S.NEW, None, "P", MAPPING)
    assert (decision.record, decision.write) == (S.NEW, None)

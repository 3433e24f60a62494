"""The split of an order into picking orders: properties over random orders and stock, and the documented rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitrix_inflow.domain.split import NO_ZONE, PlanLine, choose_zone, external_ref, order_of_ref, plan

ZONES = ("A", "B", "P")
CARRIERS = {1: "CDEK", 2: "Russian Post", 3: "CDEK"}


@st.composite
def orders(draw: st.DrawFn) -> tuple[list[PlanLine], dict[str, dict[str, int]]]:
    skus = draw(st.lists(st.sampled_from(["S1", "S2", "S3", "S4", "S5"]), min_size=1, max_size=8))
    lines = [
        PlanLine(basket_id=100 + n, shipment_id=draw(st.sampled_from(sorted(CARRIERS))), sku=sku, qty=qty)
        for n, (sku, qty) in enumerate((sku, draw(st.integers(1, 9))) for sku in skus)
    ]
    free = {
        sku: draw(st.dictionaries(st.sampled_from(ZONES), st.integers(0, 20), max_size=3))
        for sku in {line.sku for line in lines}
    }
    return lines, free


@given(orders(), st.randoms())
def test_every_line_goes_to_exactly_one_part_and_the_plan_ignores_input_order(
    order: tuple[list[PlanLine], dict[str, dict[str, int]]], rng: object
) -> None:
    lines, free = order
    parts = plan(lines, free=free, carrier_of_shipment=CARRIERS, preference=("P",))
    placed = [line for part in parts for line in part.lines]
    assert sorted(placed, key=lambda ln: ln.basket_id) == sorted(lines, key=lambda ln: ln.basket_id)
    assert len({(p.zone, p.carrier) for p in parts}) == len(parts), "one part per (zone, carrier)"
    assert [p.part_no for p in parts] == list(range(1, len(parts) + 1))
    assert all(CARRIERS[line.shipment_id] == part.carrier for part in parts for line in part.lines)
    shuffled = list(lines)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert plan(shuffled, free=free, carrier_of_shipment=CARRIERS, preference=("P",)) == parts


@given(orders())
def test_no_zone_is_asked_for_more_than_it_holds_when_one_zone_could_take_every_line(
    order: tuple[list[PlanLine], dict[str, dict[str, int]]],
) -> None:
    """Lines are never split over zones, so a zone may be asked for more than it holds only when no zone holds all
    of the order's units of that SKU."""
    lines, free = order
    parts = plan(lines, free=free, carrier_of_shipment=CARRIERS)
    taken: dict[tuple[str, str], int] = {}
    for part in parts:
        for line in part.lines:
            if part.zone != NO_ZONE:
                taken[(line.sku, part.zone)] = taken.get((line.sku, part.zone), 0) + line.qty
    for sku in {line.sku for line in lines}:
        demand = sum(line.qty for line in lines if line.sku == sku)
        if max(free[sku].values(), default=0) >= demand:
            assert all(taken.get((sku, zone), 0) <= units for zone, units in free[sku].items())


def test_the_documented_zone_rule() -> None:
    assert choose_zone(5, {"A": 9, "B": 9}) == "A"  # both hold it: by code
    assert choose_zone(5, {"A": 9, "B": 9}, preference=("B",)) == "B"  # the operators' preference first
    assert choose_zone(5, {"A": 4, "B": 6}, preference=("A",)) == "B"  # only B holds the whole line
    assert choose_zone(8, {"A": 4, "B": 6}) == "B"  # none holds it: the one with most free units
    assert choose_zone(3, {}) == NO_ZONE  # unknown to the zone read: the warehouse chooses


def test_two_lines_of_one_sku_do_not_count_on_the_same_units() -> None:
    lines = [PlanLine(1, 1, "S1", 3), PlanLine(2, 1, "S1", 3)]
    parts = plan(lines, free={"S1": {"A": 4, "B": 10}}, carrier_of_shipment=CARRIERS)
    assert [(p.zone, [ln.basket_id for ln in p.lines]) for p in parts] == [("A", [1]), ("B", [2])]


def test_an_order_over_two_zones_and_two_carriers() -> None:
    lines = [PlanLine(1, 1, "SHOE", 1), PlanLine(2, 1, "MUG", 2), PlanLine(3, 2, "SHOE", 1)]
    free = {"SHOE": {"A": 5}, "MUG": {"B": 5}}
    parts = plan(lines, free=free, carrier_of_shipment=CARRIERS)
    assert [(p.part_no, p.zone, p.carrier, [ln.basket_id for ln in p.lines]) for p in parts] == [
        (1, "A", "CDEK", [1]),
        (2, "A", "Russian Post", [3]),
        (3, "B", "CDEK", [2]),
    ]


def test_a_line_of_no_units_is_refused() -> None:
    with pytest.raises(ValueError, match="basket item 7"):
        plan([PlanLine(7, 1, "S1", 0)], free={}, carrier_of_shipment=CARRIERS)


def test_external_refs_are_stable_per_generation_and_fit_the_contract() -> None:
    assert external_ref(236, 1, 2) == "B-236-2"
    assert external_ref(236, 3, 1) == "B-236r3-1"
    with pytest.raises(ValueError, match="count from 1"):
        external_ref(236, 0, 1)


@pytest.mark.parametrize(
    ("ref", "order_id"),
    [
        ("B-1042-2", 1042),
        ("B-1042r2-1", 1042),
        ("B-7r15-3", 7),
        ("B-1042-0", None),  # parts count from 1
        ("B-1042r1-1", None),  # the first generation has no suffix
        ("B-01-1", None),
        ("POS-77", None),
        ("B-1042", None),
        ("b-1042-1", None),
    ],
)
def test_the_order_of_a_reference_is_read_only_from_the_services_own_form(
    ref: str, order_id: int | None
) -> None:
    assert order_of_ref(ref) == order_id


def test_every_reference_the_service_makes_names_its_order() -> None:
    for order_id, generation, part_no in ((1, 1, 1), (1042, 2, 3), (99, 10, 12)):
        assert order_of_ref(external_ref(order_id, generation, part_no)) == order_id

"""The stock arithmetic: properties that must hold for every input, and the cases that motivated them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitrix_inflow.domain.stock import (
    Change,
    SafetyBuffer,
    available_from_bins,
    changes_since,
    sellable_quantity,
    shop_quantities,
    targets,
)
from bitrix_inflow.errors import ValidationError


@dataclass(frozen=True)
class Bin:
    sku: str
    warehouse: str
    qty_on_hand: int
    qty_reserved: int
    qty_in_picking: int
    sellable: bool


qty = st.integers(min_value=0, max_value=10_000)
bins = st.lists(
    st.builds(
        Bin,
        sku=st.sampled_from(["A", "B", "C"]),
        warehouse=st.sampled_from(["MAIN", "SPB"]),
        qty_on_hand=qty,
        qty_reserved=qty,
        qty_in_picking=qty,
        sellable=st.booleans(),
    ),
    max_size=30,
)


@given(bins)
def test_available_is_the_clamped_sum_over_sellable_bins(rows: list[Bin]) -> None:
    result = available_from_bins(rows)
    assert set(result) == {(r.sku, r.warehouse) for r in rows}  # every SKU seen is reported, 0 included
    for key, value in result.items():
        mine = [r for r in rows if (r.sku, r.warehouse) == key and r.sellable]
        assert value == max(0, sum(r.qty_on_hand - r.qty_reserved - r.qty_in_picking for r in mine))
        assert value >= 0


def test_an_over_reserved_bin_lowers_the_others_instead_of_being_clamped_alone() -> None:
    rows = [
        Bin("A", "MAIN", 10, 0, 0, True),
        Bin("A", "MAIN", 2, 5, 0, True),
        Bin("A", "MAIN", 50, 0, 0, False),
    ]
    # Clamping per bin would say 10; three of those units are promised to orders reserved in the second bin.
    assert available_from_bins(rows) == {("A", "MAIN"): 7}


def test_quarantine_only_stock_is_reported_as_zero() -> None:
    assert available_from_bins([Bin("Q", "MAIN", 40, 0, 0, False)]) == {("Q", "MAIN"): 0}


@given(available=qty, buffer=qty, pending=qty)
def test_sellable_never_negative_never_above_available_and_monotonic(
    available: int, buffer: int, pending: int
) -> None:
    value = sellable_quantity(available, buffer=buffer, pending=pending)
    assert 0 <= value <= available
    assert value == max(0, available - buffer - pending)
    # One more unit pending or buffered can only lower (or keep) what the shop shows.
    assert sellable_quantity(available, buffer=buffer + 1, pending=pending) <= value
    assert sellable_quantity(available, buffer=buffer, pending=pending + 1) <= value


@given(available=qty, pending=qty)
def test_the_guard_never_hands_back_units_already_sold(available: int, pending: int) -> None:
    """Whatever the shop shows plus what it already sold never exceeds what the warehouse can sell."""
    shown = targets({("A", "MAIN"): available}, pending={("A", "MAIN"): pending})[("A", "MAIN")]
    assert shown + min(pending, available) <= available


def test_the_most_specific_buffer_wins() -> None:
    buffer = SafetyBuffer(everywhere=1, by_group={"shoes": 3}, by_sku={"SHOE-1": 0})
    assert buffer.units("SHOE-1", "shoes") == 0  # the SKU's own rule, even when it is 0
    assert buffer.units("SHOE-2", "shoes") == 3
    assert buffer.units("CUP-1", "kitchen") == 1
    assert buffer.units("CUP-1") == 1


@given(
    available=st.dictionaries(st.tuples(st.sampled_from("ABCD"), st.sampled_from(["MAIN", "SPB"])), qty),
    everywhere=st.integers(0, 50),
    per_sku=st.dictionaries(st.sampled_from("ABCD"), st.integers(0, 50)),
    pending=st.dictionaries(st.tuples(st.sampled_from("ABCD"), st.sampled_from(["MAIN", "SPB"])), qty),
)
def test_targets_apply_buffer_and_guard_to_each_key(
    available: dict[tuple[str, str], int],
    everywhere: int,
    per_sku: dict[str, int],
    pending: dict[tuple[str, str], int],
) -> None:
    buffer = SafetyBuffer(everywhere=everywhere, by_sku=per_sku)
    result = targets(available, buffer=buffer, pending=pending)
    assert set(result) == set(available)  # pending for a key the warehouse did not report adds nothing
    for key, value in result.items():
        assert value == max(0, available[key] - buffer.units(key[0]) - pending.get(key, 0))


@pytest.mark.parametrize("field", ["everywhere", "by_group", "by_sku"])
def test_a_negative_buffer_is_refused_naming_the_key(field: str) -> None:
    values: dict[str, object] = {"everywhere": -1, "by_group": {"shoes": -2}, "by_sku": {"SHOE-1": -3}}
    with pytest.raises(ValidationError, match=r"stock\.buffer\.") as caught:
        SafetyBuffer(**{field: values[field]})  # type: ignore[arg-type]
    assert caught.value.fix is not None


@given(
    last=st.dictionaries(st.tuples(st.sampled_from("ABCDE"), st.just("MAIN")), qty),
    wanted=st.dictionaries(st.tuples(st.sampled_from("ABCDE"), st.just("MAIN")), qty),
)
def test_changes_are_exactly_the_differences_in_a_stable_order(
    last: dict[tuple[str, str], int], wanted: dict[tuple[str, str], int]
) -> None:
    changes = changes_since(last, wanted)
    assert [c.key for c in changes] == sorted(c.key for c in changes)
    assert {c.key for c in changes} == {k for k, v in wanted.items() if last.get(k) != v}
    for change in changes:
        assert change == Change(change.key, last.get(change.key), wanted[change.key])
    # Applying the changes to the snapshot yields what was wanted, for every key wanted.
    applied = {**last, **{c.key: c.after for c in changes}}
    assert all(applied[k] == v for k, v in wanted.items())
    assert changes_since(applied, wanted) == []


def test_shop_quantities_sum_warehouses_or_map_them_to_stores() -> None:
    targets_by_key = {("MUG", "MAIN"): 5, ("MUG", "SPB"): 2, ("CUP", "MAIN"): 1, ("GHOST", "MAIN"): 9}
    links = {"MUG": 10, "CUP": 11}
    assert shop_quantities(targets_by_key, links) == {(10, 0): 7, (11, 0): 1}
    assert shop_quantities(targets_by_key, links, stores={"MAIN": 1}) == {(10, 1): 5, (11, 1): 1}
    assert shop_quantities(targets_by_key, links, stores={"MAIN": 1, "SPB": 2}) == {
        (10, 1): 5,
        (10, 2): 2,
        (11, 1): 1,
    }


@given(
    targets_by_key=st.dictionaries(
        st.tuples(st.sampled_from("ABCD"), st.sampled_from(["MAIN", "SPB", "EKB"])), qty, max_size=12
    ),
    linked=st.sets(st.sampled_from("ABCD")),
)
def test_quantity_mode_conserves_units_of_linked_skus(
    targets_by_key: dict[tuple[str, str], int], linked: set[str]
) -> None:
    links = {sku: n for n, sku in enumerate(sorted(linked), start=1)}
    result = shop_quantities(targets_by_key, links)
    assert sum(result.values()) == sum(q for (sku, _), q in targets_by_key.items() if sku in links)
    assert all(store == 0 for _, store in result)

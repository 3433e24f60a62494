"""Edits after forwarding: what counts as one (the fingerprint), what each picking order does about it (revise), and
how the service tells its own writes from others' (the order version)."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitrix_inflow.domain.edits import LivePart, fingerprint, revise, seen_after_own_writes
from bitrix_inflow.domain.split import PlanLine, PlannedPart
from bitrix_inflow.domain.vocabulary import InflowStatus

HOODIE, SNEAKER = PlanLine(11, 5, "HOODIE", 1), PlanLine(12, 5, "SNEAKER", 1)


def live(zone: str, status: InflowStatus | None, *lines: PlanLine, ref: str | None = None) -> LivePart:
    return LivePart(zone, "CDEK", ref or f"B-1-{zone}", status, lines)


def part(no: int, zone: str, *lines: PlanLine) -> PlannedPart:
    return PlannedPart(no, zone, "CDEK", lines)


lines_strategy = st.lists(
    st.tuples(
        st.integers(1, 50), st.integers(1, 4), st.one_of(st.none(), st.integers(1, 99)), st.integers(1, 9)
    ),
    unique_by=lambda t: t[0],
    max_size=6,
)


@given(lines_strategy, st.randoms())
def test_the_fingerprint_ignores_the_order_lines_come_in(
    raw: list[tuple[int, int, int | None, int]], rnd: random.Random
) -> None:
    lines = [(b, s, p, Decimal(q)) for b, s, p, q in raw]
    deliveries = sorted({(s, 2) for _, s, _, _ in raw})
    shuffled = list(lines)
    rnd.shuffle(shuffled)
    assert fingerprint(lines, deliveries) == fingerprint(shuffled, reversed(deliveries))


def test_the_fingerprint_changes_with_a_quantity_a_product_or_a_delivery_and_not_with_how_a_number_is_written() -> (
    None
):
    base = fingerprint([(1, 5, 7, Decimal(1))], [(5, 2)])
    assert fingerprint([(1, 5, 7, Decimal("1.000"))], [(5, 2)]) == base  # Bitrix writes 1 and 1.0000 alike
    assert fingerprint([(1, 5, 7, Decimal(2))], [(5, 2)]) != base
    assert fingerprint([(1, 5, 8, Decimal(1))], [(5, 2)]) != base
    assert fingerprint([(1, 5, 7, Decimal(1))], [(5, 3)]) != base


def test_an_unchanged_group_keeps_its_picking_order_and_a_changed_one_is_replaced_after_its_cancel() -> None:
    revision = revise(
        [live("A", InflowStatus.NEW, HOODIE), live("B", InflowStatus.ASSIGNED, SNEAKER)],
        [part(1, "A", PlanLine(11, 5, "HOODIE", 2)), part(2, "B", SNEAKER)],
    )
    assert revision.keep == ("B-1-B",) and revision.cancel == ("B-1-A",) and revision.conflicts == ()
    [replacement] = revision.send
    assert replacement.replaces == "B-1-A" and replacement.part.lines == (PlanLine(11, 5, "HOODIE", 2),)


@pytest.mark.parametrize(
    "status",
    [
        InflowStatus.PICKING,
        InflowStatus.PICKED,
        InflowStatus.PACKING,
        InflowStatus.SHIPPED,
        InflowStatus.PICKING_ERROR,
    ],
)
def test_once_picking_started_the_old_part_stands_and_the_edit_is_a_conflict(status: InflowStatus) -> None:
    wanted = PlanLine(11, 5, "HOODIE", 3)
    revision = revise([live("A", status, HOODIE)], [part(1, "A", wanted)])
    assert revision.cancel == () and revision.send == () and revision.keep == ()
    [conflict] = revision.conflicts
    assert conflict.had == (HOODIE,) and conflict.wanted == (wanted,) and conflict.status is status


def test_a_group_the_edit_removed_is_cancelled_or_a_conflict_and_a_new_group_is_sent_at_once() -> None:
    revision = revise(
        [live("A", InflowStatus.NEW, HOODIE), live("B", InflowStatus.PICKING, SNEAKER)],
        [part(1, "P", PlanLine(13, 5, "TEE", 1))],
    )
    assert revision.cancel == ("B-1-A",)
    assert [c.ref for c in revision.conflicts] == ["B-1-B"] and revision.conflicts[0].wanted == ()
    [new] = revision.send
    assert new.replaces is None and new.part.zone == "P"


def test_a_part_the_warehouse_cancelled_itself_is_replaced_without_a_conflict() -> None:
    revision = revise(
        [live("A", InflowStatus.CANCELLED, HOODIE)], [part(1, "A", PlanLine(11, 5, "HOODIE", 2))]
    )
    assert revision.cancel == ("B-1-A",) and revision.conflicts == ()


def test_lines_in_another_order_are_no_change() -> None:
    revision = revise([live("A", InflowStatus.NEW, HOODIE, SNEAKER)], [part(1, "A", SNEAKER, HOODIE)])
    assert not revision.changes_anything and revision.keep == ("B-1-A",)


def test_two_live_parts_of_one_group_are_refused() -> None:
    with pytest.raises(ValueError, match="share"):
        revise([live("A", None, HOODIE, ref="x"), live("A", None, SNEAKER, ref="y")], [])


@pytest.mark.parametrize(
    ("seen", "shipments", "status_version", "expected"),
    [
        (4, 0, 5, 5),  # our status write was the only save
        (4, 2, 7, 7),  # two shipment saves and the status write, nobody else
        (4, 0, 6, None),  # someone saved in between: not ours, checked at the next poll
        (4, 2, None, 6),  # shipments only: claimed (a wrong claim costs one check)
        (4, 0, None, None),  # nothing written
        (None, 1, 9, None),  # never read: nothing to build on
    ],
)
def test_the_version_recorded_after_own_writes(
    seen: int | None, shipments: int, status_version: int | None, expected: int | None
) -> None:
    assert seen_after_own_writes(seen, shipment_writes=shipments, status_version=status_version) == expected


def test_a_line_moved_to_a_new_group_waits_for_the_part_it_leaves_and_is_not_sent_twice() -> None:
    """The sneaker's delivery changed: its line leaves group (B, CDEK) for (B, POST); the new part waits until the
    old one is confirmed cancelled."""
    revision = revise(
        [live("A", InflowStatus.NEW, HOODIE), live("B", InflowStatus.NEW, SNEAKER)],
        [part(1, "A", HOODIE), PlannedPart(2, "B", "POST", (SNEAKER,))],
    )
    assert revision.keep == ("B-1-A",) and revision.cancel == ("B-1-B",)
    [moved] = revision.send
    assert moved.waits_for == ("B-1-B",)


def test_a_new_part_taking_lines_from_a_part_being_picked_is_not_sent_and_its_other_sources_stand() -> None:
    """Both lines move to a new carrier; the sneaker is being picked. The hoodie's part is replaced once
    cancelled; the sneaker's stands (a conflict). When one new part would take lines from both, sending it would
    pick the sneaker twice and cancelling the hoodie's part alone would leave the hoodie nowhere: both stand."""
    revision = revise(
        [live("A", InflowStatus.NEW, HOODIE), live("B", InflowStatus.PICKING, SNEAKER)],
        [PlannedPart(1, "A", "POST", (HOODIE,)), PlannedPart(2, "B", "POST", (SNEAKER,))],
    )
    assert revision.cancel == ("B-1-A",) and [r.waits_for for r in revision.send] == [("B-1-A",)]
    assert {c.ref for c in revision.conflicts} == {"B-1-B"}
    revision2 = revise(
        [
            live("A", InflowStatus.NEW, HOODIE, SNEAKER, ref="B-1-1"),
            live("B", InflowStatus.PICKING, PlanLine(13, 5, "TEE", 1)),
        ],
        [PlannedPart(1, "P", "POST", (HOODIE, SNEAKER, PlanLine(13, 5, "TEE", 1)))],
    )
    assert revision2.send == () and revision2.cancel == ()
    assert {c.ref for c in revision2.conflicts} == {"B-1-1", "B-1-B"}


@given(
    st.lists(
        st.sampled_from(
            [InflowStatus.NEW, InflowStatus.ASSIGNED, InflowStatus.PICKING, InflowStatus.SHIPPED]
        ),
        min_size=1,
        max_size=3,
    ),
    st.lists(st.sampled_from(["CDEK", "POST"]), min_size=3, max_size=3),
    st.lists(st.integers(1, 3), min_size=3, max_size=3),
)
def test_no_line_is_in_two_live_or_sent_parts_after_any_edit(
    statuses: list[InflowStatus], carriers: list[str], qtys: list[int]
) -> None:
    """Whatever the edit and the warehouse's progress: every basket line is held by at most one part that stays
    live or is sent, and a part that stands is never cancelled."""
    zones = ["A", "B", "P"][: len(statuses)]
    old = [
        live(z, st_, PlanLine(10 + i, 5, f"S{i}", 1))
        for i, (z, st_) in enumerate(zip(zones, statuses, strict=True))
    ]
    new_lines = [PlanLine(10 + i, 5, f"S{i}", qtys[i]) for i in range(len(zones))]
    groups: dict[tuple[str, str], list[PlanLine]] = {}
    for i, line in enumerate(new_lines):
        groups.setdefault((zones[i], carriers[i]), []).append(line)
    plan = [PlannedPart(n, z, c, tuple(ls)) for n, ((z, c), ls) in enumerate(sorted(groups.items()), start=1)]
    revision = revise(old, plan)
    remaining = [p for p in old if p.ref not in revision.cancel]
    holders: dict[int, int] = {}
    for lines in [p.lines for p in remaining] + [r.part.lines for r in revision.send]:
        for line in lines:
            holders[line.basket_id] = holders.get(line.basket_id, 0) + 1
    assert all(count == 1 for count in holders.values()), (holders, revision)
    assert not set(revision.cancel) & {c.ref for c in revision.conflicts}
    assert all(p.status in {InflowStatus.NEW, InflowStatus.ASSIGNED} for p in old if p.ref in revision.cancel)

"""The orders' tables on both databases: the exactly-once guarantees sit in constraints, so they are tested there."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from bitrix_inflow.errors import ConflictError
from bitrix_inflow.store import incidents, orders, tables
from bitrix_inflow.store.orders import NewPart, PartLine

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
C = "default"


def part(no: int, zone: str = "A", carrier: str = "CDEK", ref: str | None = None, sku: str = "S1") -> NewPart:
    return NewPart(no, "MAIN", zone, carrier, ref or f"B-7-{no}", (PartLine(100 + no, 50, sku, 2),))


def test_a_plan_is_stored_with_its_lines_and_a_key_per_part(engine: Engine) -> None:
    with engine.begin() as conn:
        orders.save_binding(conn, C, 7, state="planned", now=NOW, account_number="7")
        ids = [p.id for p in orders.plan_parts(conn, C, 7, 1, [part(1), part(2, zone="B")], now=NOW)]
    with engine.connect() as conn:
        stored = orders.parts_of(conn, C, 7)
        binding = orders.load_binding(conn, C, 7)
    assert [p.id for p in stored] == ids and [p.state for p in stored] == ["planned", "planned"]
    assert stored[1].lines == (PartLine(102, 50, "S1", 2),)
    assert len({p.idempotency_key for p in stored}) == 2 and all(len(p.idempotency_key) == 32 for p in stored)
    assert binding is not None and (binding.state, binding.generation) == ("planned", 1)


def test_the_same_generation_cannot_be_planned_twice(engine: Engine) -> None:
    with engine.begin() as conn:
        orders.plan_parts(conn, C, 8, 1, [part(1, ref="B-8-1")], now=NOW)
    with pytest.raises(ConflictError, match="generation 1"), engine.begin() as conn:
        orders.plan_parts(conn, C, 8, 1, [part(1, ref="B-8-1-again")], now=NOW)
    with engine.connect() as conn:
        assert len(orders.parts_of(conn, C, 8)) == 1, "the refused plan left nothing"


def test_no_second_live_picking_order_for_one_zone_and_carrier(engine: Engine) -> None:
    with engine.begin() as conn:
        [first] = [p.id for p in orders.plan_parts(conn, C, 9, 1, [part(1, ref="B-9-1")], now=NOW)]
    # A re-plan (generation 2) cannot add a live part for the same group while the old one lives...
    with pytest.raises(ConflictError), engine.begin() as conn:
        orders.plan_parts(conn, C, 9, 2, [part(1, ref="B-9r2-1")], now=NOW)
    # ...and can once the old one is superseded.
    with engine.begin() as conn:
        assert orders.move_part(conn, first, expected={"planned"}, state="superseded", now=NOW)
        orders.plan_parts(conn, C, 9, 2, [part(1, ref="B-9r2-1")], now=NOW)
    with engine.connect() as conn:
        assert [(p.generation, p.state) for p in orders.parts_of(conn, C, 9)] == [
            (1, "superseded"),
            (2, "planned"),
        ]


def test_a_warehouse_reference_is_used_once(engine: Engine) -> None:
    with engine.begin() as conn:
        orders.plan_parts(conn, C, 10, 1, [part(1, ref="B-10-1")], now=NOW)
    with pytest.raises(ConflictError), engine.begin() as conn:
        orders.plan_parts(conn, C, 11, 1, [part(1, ref="B-10-1")], now=NOW)


def test_a_part_moves_only_from_the_state_a_worker_saw(engine: Engine) -> None:
    with engine.begin() as conn:
        [pid] = [p.id for p in orders.plan_parts(conn, C, 12, 1, [part(1, ref="B-12-1")], now=NOW)]
        assert orders.move_part(conn, pid, expected={"planned"}, state="sending", now=NOW)
        assert not orders.move_part(conn, pid, expected={"planned"}, state="sending", now=NOW)
        assert orders.move_part(
            conn, pid, expected={"sending"}, state="accepted", now=NOW, wms_order_id="PO-1", wms_version=1
        )
    with engine.connect() as conn:
        [stored] = orders.parts_of(conn, C, 12)
    assert (stored.state, stored.wms_order_id, stored.wms_version) == ("accepted", "PO-1", 1)


def test_pending_units_are_those_the_warehouse_has_not_reserved(engine: Engine) -> None:
    with engine.begin() as conn:
        ids = [
            p.id
            for p in orders.plan_parts(
                conn,
                C,
                13,
                1,
                [
                    part(1, ref="B-13-1", sku="S1"),
                    part(2, zone="B", ref="B-13-2", sku="S1"),
                    part(3, "P", sku="S2"),
                ],
                now=NOW,
            )
        ]
        orders.move_part(conn, ids[0], expected={"planned"}, state="sending", now=NOW)
        orders.move_part(conn, ids[2], expected={"planned"}, state="accepted", now=NOW, wms_order_id="PO-9")
        assert orders.pending_units(conn, C) == {("S1", "MAIN"): 4}  # S2's part is reserved in the warehouse


def test_a_webhook_event_is_taken_once(engine: Engine) -> None:
    with engine.begin() as conn:
        assert orders.first_delivery(conn, C, "evt-1", now=NOW)
        assert not orders.first_delivery(conn, C, "evt-1", now=NOW)
        assert orders.first_delivery(conn, C, "evt-2", now=NOW)


def test_old_event_ids_are_forgotten_new_ones_kept(engine: Engine) -> None:
    with engine.begin() as conn:
        orders.first_delivery(conn, C, "old", now=NOW - dt.timedelta(days=8))
        orders.first_delivery(conn, C, "new", now=NOW)
        assert orders.prune_events(conn, received_before=NOW - dt.timedelta(days=7)) == 1
        assert orders.first_delivery(conn, C, "old", now=NOW)  # forgotten: would count as new (weeks later)
        assert not orders.first_delivery(conn, C, "new", now=NOW)


def test_an_incident_is_opened_once_per_subject_and_resolved_once_with_its_trail(engine: Engine) -> None:
    with engine.begin() as conn:
        detail = {"part": "B-14-1", "status": "PICKING"}
        ways = ["dismiss"]
        first = incidents.open_incident(
            conn, C, 14, kind="edit_after_picking", subject="B-14-1", detail=detail, ways_out=ways, now=NOW
        )
        assert first is not None
        again = incidents.open_incident(
            conn, C, 14, kind="edit_after_picking", subject="B-14-1", detail=detail, ways_out=ways, now=NOW
        )
        assert again is None
        assert [i.id for i in incidents.listed(conn, C)] == [first]
        assert incidents.resolve(conn, first, resolution={"way_out": "dismiss"}, actor="ops", now=NOW)
        assert not incidents.resolve(conn, first, resolution={"way_out": "dismiss"}, actor="ops", now=NOW)
        assert incidents.listed(conn, C) == []
        assert [(e.actor, e.action) for e in incidents.trail(conn, first)] == [
            ("service", "opened"),
            ("ops", "resolved"),
        ]
        assert incidents.move_notice(conn, first, expected={"pending"}, state="telling", now=NOW)
        assert not incidents.move_notice(conn, first, expected={"pending"}, state="telling", now=NOW)


def test_cursors_and_the_timeline_round_trip(engine: Engine) -> None:
    with engine.begin() as conn:
        assert orders.load_cursor(conn, C, "bitrix.orders") is None
        orders.save_cursor(conn, C, "bitrix.orders", {"last_id": 5}, now=NOW)
        orders.save_cursor(
            conn, C, "bitrix.orders", {"last_id": 9, "updated": "2026-12-02T15:00:00+03:00"}, now=NOW
        )
        orders.add_timeline(conn, C, 15, source="service", kind="planned", detail={"parts": 2}, now=NOW)
        orders.add_timeline(conn, C, 15, source="inflow", kind="status", detail={"status": "NEW"}, now=NOW)
    with engine.connect() as conn:
        assert orders.load_cursor(conn, C, "bitrix.orders") == {
            "last_id": 9,
            "updated": "2026-12-02T15:00:00+03:00",
        }
        assert [(source, kind) for _, source, kind, _ in orders.timeline(conn, C, 15)] == [
            ("service", "planned"),
            ("inflow", "status"),
        ]


def test_an_incident_carried_over_without_ways_out_offers_those_of_its_kind(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            tables.incidents.insert().values(
                connection_id=C,
                bitrix_order_id=15,
                kind="edit_after_picking",
                subject="B-15-1",
                detail={},
                ways_out=[],  # as migration 0010 carries a conflict over
                state="open",
                notice_state="pending",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        [carried] = incidents.listed(conn, C)
        assert carried.ways_out == ("dismiss",)
        assert incidents.choose(conn, carried.id, resolution={"way_out": "x"}, actor="ops", now=NOW)
        incidents.note(conn, carried.id, {"replacement": "B-15r2-1"}, now=NOW)
        assert incidents.load(conn, carried.id).resolution == {"way_out": "x", "replacement": "B-15r2-1"}  # type: ignore[union-attr]
        later = NOW + dt.timedelta(hours=1)
        assert incidents.stuck_resolving(conn, C, older_than=later) == [carried.id]
        assert incidents.stuck_resolving(conn, C, older_than=NOW) == []

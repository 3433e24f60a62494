"""The marking ledger on both databases: a unit is sold once (the schema says so), returned units may be sold again,
and the ledger reads back for export narrowed by date, order and GTIN."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from bitrix_inflow.store import marking
from bitrix_inflow.store.marking import Unit

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
C = "default"
GTIN = "04690257528523"


def unit(serial: str, order: int = 7, ref: str = "B-7-1", gtin: str = GTIN) -> Unit:
    identity = f"01{gtin}21{serial}"
    return Unit(
        identity, identity + "\x1d91EE05\x1d92" + "c" * 44, gtin, order, ref, shipment_id=70, sscc=None
    )


def test_a_unit_is_recorded_once_and_a_retry_of_the_same_picking_order_is_no_clash(engine: Engine) -> None:
    with engine.begin() as conn:
        first = marking.record_shipped(conn, C, [unit("A1"), unit("A2")], now=NOW)
    with engine.begin() as conn:
        again = marking.record_shipped(conn, C, [unit("A1"), unit("A2"), unit("A3")], now=NOW)
    assert first.added == (f"01{GTIN}21A1", f"01{GTIN}21A2") and not first.sold_elsewhere
    assert again.added == (f"01{GTIN}21A3",) and again.already == first.added and not again.sold_elsewhere
    with engine.connect() as conn:
        assert len(marking.listed(conn, C)) == 3


def test_a_unit_sold_on_another_order_is_a_clash_and_is_not_recorded_twice(engine: Engine) -> None:
    with engine.begin() as conn:
        marking.record_shipped(conn, C, [unit("B1")], now=NOW)
    with engine.begin() as conn:
        clash = marking.record_shipped(
            conn, C, [unit("B1", order=8, ref="B-8-1"), unit("B2", order=8, ref="B-8-1")], now=NOW
        )
    assert clash.added == (f"01{GTIN}21B2",)
    assert [(u.identity, u.bitrix_order_id, u.picking_ref) for u in clash.sold_elsewhere] == [
        (f"01{GTIN}21B1", 7, "B-7-1")
    ]
    with engine.connect() as conn:
        assert [u.bitrix_order_id for u in marking.listed(conn, C, order_id=7)] == [7]
        assert sorted(marking.sold(conn, C, [f"01{GTIN}21B1", f"01{GTIN}21B2", "nope"])) == [
            f"01{GTIN}21B1",
            f"01{GTIN}21B2",
        ]


def test_a_returned_unit_may_be_sold_again_and_a_rejected_receipt_is_recorded(engine: Engine) -> None:
    with engine.begin() as conn:
        marking.record_shipped(conn, C, [unit("R1"), unit("R2")], now=NOW)
        assert marking.move(conn, C, [f"01{GTIN}21R1"], state="returned", now=NOW) == 1
        assert marking.move(conn, C, [f"01{GTIN}21R2"], state="receipt_rejected", now=NOW) == 1
    later = NOW + dt.timedelta(days=1)
    with engine.begin() as conn:
        resold = marking.record_shipped(conn, C, [unit("R1", order=9, ref="B-9-1")], now=later)
    assert resold.added == (f"01{GTIN}21R1",)
    with engine.connect() as conn:
        states = [(u.bitrix_order_id, u.state) for u in marking.listed(conn, C)]
        assert states == [(7, "returned"), (7, "receipt_rejected"), (9, "shipped")]
        assert [u.bitrix_order_id for u in marking.listed(conn, C, since=later)] == [9]
        assert [u.bitrix_order_id for u in marking.listed(conn, C, until=later)] == [7, 7]
        assert marking.listed(conn, C, gtin="04600439931256") == []


def test_an_unknown_state_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="shipped, receipt_rejected, returned"), engine.begin() as conn:
        marking.move(conn, C, ["x"], state="lost", now=NOW)

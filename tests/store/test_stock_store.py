"""The stock sync's tables on both databases: the guarantees sit in constraints, so they are tested there."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from bitrix_inflow.errors import ConflictError
from bitrix_inflow.store import stock

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
C = "default"


def test_links_are_replaced_whole_and_one_product_holds_one_sku(engine: Engine) -> None:
    with engine.begin() as conn:
        stock.replace_links(
            conn, C, [stock.Link("A", 1, None, "key"), stock.Link("B", 2, 10, "table")], now=NOW
        )
    with engine.begin() as conn:
        stock.replace_links(conn, C, [stock.Link("B", 2, 10, "table", barcode_multi=True)], now=NOW)
    with engine.connect() as conn:
        assert stock.load_links(conn, C) == {"B": stock.Link("B", 2, 10, "table", True)}
        assert stock.load_links(conn, C, ["A", "B", "Z"]).keys() == {"B"}
    with pytest.raises(IntegrityError), engine.begin() as conn:
        stock.replace_links(
            conn, C, [stock.Link("A", 5, None, "key"), stock.Link("B", 5, None, "key")], now=NOW
        )


def test_pushed_quantities_are_upserted_in_chunks(engine: Engine) -> None:
    first = {(pid, 0): pid % 7 for pid in range(1, 1201)}  # more rows than one statement carries
    with engine.begin() as conn:
        stock.record_pushed(conn, C, first, now=NOW)
        stock.record_pushed(conn, C, {(5, 0): 99, (5, 3): 1}, now=NOW)
    with engine.connect() as conn:
        everything = stock.load_pushed(conn, C)
        assert len(everything) == 1201 and everything[(5, 0)] == 99 and everything[(5, 3)] == 1
        assert stock.load_pushed(conn, C, [5, 6]) == {(5, 0): 99, (5, 3): 1, (6, 0): 6}


@pytest.mark.parametrize("rows", [1, 500, 1000, 1201])  # one row, exact batches, a short last batch
def test_levels_are_upserted_in_batches_built_as_they_go(engine: Engine, rows: int) -> None:
    levels = {(f"SKU-{n:05d}", "MAIN" if n % 2 else "SPB"): n % 11 for n in range(rows)}
    with engine.begin() as conn:
        stock.record_levels(conn, C, levels, now=NOW)
        stock.record_levels(conn, C, {("SKU-00000", "SPB"): 42}, now=NOW)
    with engine.connect() as conn:
        assert stock.load_levels(conn, C) == {**levels, ("SKU-00000", "SPB"): 42}
        assert stock.load_levels(conn, C, ["SKU-00000"]) == {("SKU-00000", "SPB"): 42}


def test_cursor_round_trip(engine: Engine) -> None:
    with engine.begin() as conn:
        assert stock.load_cursor(conn, C, "MAIN") == stock.Cursor(None, None)
        stock.save_cursor(conn, C, "MAIN", stock.Cursor(NOW, None))
        stock.save_cursor(conn, C, "MAIN", stock.Cursor(NOW + dt.timedelta(minutes=1), NOW))
    with engine.connect() as conn:
        assert stock.load_cursor(conn, C, "MAIN") == stock.Cursor(NOW + dt.timedelta(minutes=1), NOW)


def test_at_most_one_open_stock_document_per_connection(engine: Engine) -> None:
    lines = [{"product_id": 1, "store_id": 2, "amount": 3}]
    with engine.begin() as conn:
        first = stock.plan_document(conn, C, run="r1", doc_type="S", title="t1", lines=lines, now=NOW)
    with pytest.raises(ConflictError, match="still open"), engine.begin() as conn:
        stock.plan_document(conn, C, run="r1", doc_type="D", title="t2", lines=lines, now=NOW)
    with engine.begin() as conn:
        stock.set_document_state(conn, first, state="added", bitrix_id=77, now=NOW)
        [open_doc] = stock.open_documents(conn, C)
        assert open_doc.bitrix_id == 77 and open_doc.lines == lines
        stock.set_document_state(conn, first, state="conducted", now=NOW)
        assert stock.open_documents(conn, C) == []
        stock.plan_document(conn, C, run="r1", doc_type="D", title="t2", lines=lines, now=NOW)


def test_the_unmatched_report_is_replaced_per_side(engine: Engine) -> None:
    with engine.begin() as conn:
        stock.replace_unmatched(
            conn,
            C,
            [stock.Unmatched("warehouse", "SKU-9", "no product"), stock.Unmatched("shop", "17", "no SKU")],
            now=NOW,
            sides=["warehouse", "shop"],
        )
        stock.replace_unmatched(conn, C, [], now=NOW, sides=["shop"])
    with engine.connect() as conn:
        assert stock.load_unmatched(conn, C) == [stock.Unmatched("warehouse", "SKU-9", "no product")]


def test_the_products_table_is_replaced_whole(engine: Engine) -> None:
    with engine.begin() as conn:
        stock.replace_product_table(conn, C, {"A": 1, "B": 2}, now=NOW, by="cli:test")
        stock.replace_product_table(conn, C, {"C": 3}, now=NOW, by="cli:test")
    with engine.connect() as conn:
        assert stock.load_product_table(conn, C) == {"C": 3}

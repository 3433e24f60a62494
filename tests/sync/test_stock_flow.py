"""The stock flow's logic on both databases, with in-memory sides: what is written, when, and after a crash."""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bitrix_inflow.adapters.inflow import AvailableStock
from bitrix_inflow.domain.matching import ShopProduct
from bitrix_inflow.domain.stock import SafetyBuffer
from bitrix_inflow.errors import ConflictError, TransientError
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.store import stock as store
from bitrix_inflow.sync.stock.flow import StockOptions, resolve_open_documents, sync_stock
from bitrix_inflow.sync.stock.shop import CatalogueEntry
from bitrix_inflow.timing import SystemClock

sys.path.insert(0, str(Path(__file__).parent))
from fakes import T0, Crash, FakeShop, FakeWarehouse

CLOCK = SystemClock()
OPTIONS = StockOptions(warehouses=("MAIN", "SPB"))


def catalogue(n: int) -> list[ShopProduct]:
    return [ShopProduct(1000 + i, f"SKU-{i:04d}", name=f"product {i}") for i in range(n)]


def stocked(n: int, *, qty: int = 5) -> FakeWarehouse:
    warehouse = FakeWarehouse()
    for i in range(n):
        warehouse.set(f"SKU-{i:04d}", qty, "MAIN")
        warehouse.set(f"SKU-{i:04d}", 1, "SPB")
    return warehouse


def test_quantity_mode_full_then_incremental_writes_only_what_changed(engine: Engine) -> None:
    warehouse = stocked(120)
    warehouse.set("ORPHAN", 3)  # no shop product carries it
    shop = FakeShop(products=[*catalogue(120), ShopProduct(9, "NOT-IN-WMS")])
    first = sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True)
    assert first.mode == "quantity" and first.written == 120
    assert shop.quantities == {1000 + i: 6 for i in range(120)}  # MAIN 5 + SPB 1
    assert shop.write_requests == math.ceil(120 / 50)
    with engine.connect() as conn:
        unmatched = {(u.side, u.item) for u in store.load_unmatched(conn, "default")}
    assert unmatched == {("warehouse", "ORPHAN"), ("shop", "9")}

    again = sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK)
    assert again.written == 0 and shop.write_requests == 3  # nothing changed: not a single request

    for i in (3, 70):
        warehouse.set(f"SKU-{i:04d}", 0, "MAIN")
    later = sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK)
    assert later.changed == 2 and later.written == 2 and shop.write_requests == 4
    assert shop.quantities[1003] == 1 and shop.quantities[1070] == 1


def test_buffer_applies_per_sku_before_the_sum(engine: Engine) -> None:
    warehouse = stocked(2)
    shop = FakeShop(products=catalogue(2))
    options = StockOptions(
        warehouses=("MAIN", "SPB"), buffer=SafetyBuffer(everywhere=1, by_sku={"SKU-0001": 10})
    )
    sync_stock(engine, warehouse, shop, options, clock=CLOCK, full=True)
    assert shop.quantities == {1000: 4 + 0, 1001: 0}  # MAIN 5-1, SPB 1-1; SKU-0001 holds 10 back everywhere


def test_a_group_buffer_applies_to_incremental_runs_as_to_full_ones(engine: Engine) -> None:
    """The full sync reads the groups; an incremental one does not read the catalogue and must not forget them."""
    warehouse = stocked(2)  # MAIN 5 + SPB 1 each
    shop = FakeShop(products=catalogue(2), groups={1000: "shoes"})
    options = StockOptions(
        warehouses=("MAIN", "SPB"), group_key="property77", buffer=SafetyBuffer(by_group={"shoes": 1})
    )
    sync_stock(engine, warehouse, shop, options, clock=CLOCK, full=True)
    buffered = dict(shop.quantities)
    assert buffered[1000] < buffered[1001] == 6, "the group buffer lowers the shoes only"
    warehouse.set("SKU-0000", 9, "MAIN")
    warehouse.set("SKU-0001", 9, "MAIN")
    sync_stock(engine, warehouse, shop, options, clock=CLOCK)
    assert shop.quantities[1000] < shop.quantities[1001] == 10
    # What the incremental run wrote is what a full run computes: it finds nothing to change.
    assert sync_stock(engine, warehouse, shop, options, clock=CLOCK, full=True).changed == 0


def test_dry_run_plans_and_writes_nothing(engine: Engine) -> None:
    warehouse = stocked(3)
    shop = FakeShop(products=catalogue(3))
    report = sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True, dry_run=True)
    assert shop.write_requests == 0 and shop.quantities == {}
    assert [(p.product_id, p.skus, p.before, p.after, p.why) for p in report.plan] == [
        (1000 + i, (f"SKU-{i:04d}",), None, 6, "never written") for i in range(3)
    ]
    with engine.connect() as conn:
        assert store.load_links(conn, "default") == {} and store.load_pushed(conn, "default") == {}


def test_a_crash_between_batches_repeats_no_written_batch_and_loses_none(engine: Engine) -> None:
    warehouse = stocked(130)
    shop = FakeShop(products=catalogue(130), crash_at="write:2")
    with pytest.raises(Crash):
        sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True)
    assert len(shop.quantities) == 50  # the first batch landed and was recorded
    sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True)
    assert shop.quantities == {1000 + i: 6 for i in range(130)}
    assert shop.write_requests == 1 + 1 + math.ceil(80 / 50)  # the crashed request, then only the 80 left


def test_a_refused_product_is_reported_and_the_cursor_waits_for_it(engine: Engine) -> None:
    warehouse = stocked(2)
    shop = FakeShop(products=catalogue(2), refuse={1001})
    report = sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True)
    assert report.errors == ["product 1001: refused"] and shop.quantities == {1000: 6}
    shop.refuse.clear()
    retry = sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK)
    assert retry.written == 1 and shop.quantities == {1000: 6, 1001: 6}


def documents_shop(n: int) -> FakeShop:
    return FakeShop(products=catalogue(n), inventory=True, amounts={(1000 + i, 7): 2 for i in range(n)})


DOC_OPTIONS = StockOptions(warehouses=("MAIN",), stores={"MAIN": 7})


def test_document_mode_books_write_offs_and_additions_against_real_amounts(engine: Engine) -> None:
    warehouse = FakeWarehouse()
    warehouse.set("SKU-0000", 5)  # store holds 2: S +3
    warehouse.set("SKU-0001", 0)  # store holds 2: D 2
    warehouse.set("SKU-0002", 2)  # equal: nothing
    shop = documents_shop(3)
    report = sync_stock(engine, warehouse, shop, DOC_OPTIONS, clock=CLOCK, full=True)
    assert report.mode == "documents" and report.changed == 2
    assert [
        (d.doc_type, [(ln.product_id, ln.amount) for ln in d.lines]) for d in shop.documents.values()
    ] == [
        ("D", [(1001, 2)]),
        ("S", [(1000, 3)]),
    ]
    assert all(d.conducted for d in shop.documents.values())
    assert shop.amounts == {(1000, 7): 5, (1001, 7): 0, (1002, 7): 2}
    assert sync_stock(engine, warehouse, shop, DOC_OPTIONS, clock=CLOCK, full=True).changed == 0


@pytest.mark.parametrize("step", ["add", "after-add", "conduct", "after-conduct"])
def test_a_crash_at_any_document_step_never_books_a_delta_twice(engine: Engine, step: str) -> None:
    warehouse = FakeWarehouse()
    warehouse.set("SKU-0000", 9)
    shop = documents_shop(1)
    shop.crash_at = step
    with pytest.raises(Crash):
        sync_stock(engine, warehouse, shop, DOC_OPTIONS, clock=CLOCK, full=True)
    sync_stock(engine, warehouse, shop, DOC_OPTIONS, clock=CLOCK, full=True)
    assert shop.amounts == {(1000, 7): 9}  # whatever the step, the store ends at the plan
    conducted = [d for d in shop.documents.values() if d.conducted]
    assert len(conducted) == 1 and [ln.amount for ln in conducted[0].lines] == [7]
    assert all(d.conducted for d in shop.documents.values())  # no draft left behind
    with engine.connect() as conn:
        assert store.open_documents(conn, "default") == []


def test_an_unresolved_document_blocks_a_second_one_until_resolved(engine: Engine) -> None:
    with engine.begin() as conn:
        store.plan_document(conn, "default", run="r", doc_type="S", title="t", lines=[], now=CLOCK.now())
    with pytest.raises(ConflictError), engine.begin() as conn:
        store.plan_document(conn, "default", run="r2", doc_type="S", title="t2", lines=[], now=CLOCK.now())
    assert resolve_open_documents(engine, FakeShop(), "default", clock=CLOCK) == ["t: deleted"]


def test_barcode_multi_products_are_left_out_of_documents_and_reported(engine: Engine) -> None:
    warehouse = FakeWarehouse()
    warehouse.set("SKU-0000", 4)
    warehouse.set("SKU-0001", 4)
    shop = documents_shop(2)
    shop.products[1] = ShopProduct(1001, "SKU-0001", barcode_multi=True)
    report = sync_stock(engine, warehouse, shop, DOC_OPTIONS, clock=CLOCK, full=True)
    assert shop.amounts == {(1000, 7): 4, (1001, 7): 2}
    assert any("barcodeMulti" in note for note in report.notes) and not report.errors
    with engine.connect() as conn:
        assert ("document", "1001") in {(u.side, u.item) for u in store.load_unmatched(conn, "default")}


def test_inventory_management_without_a_store_for_a_warehouse_is_an_error_naming_the_fix(
    engine: Engine,
) -> None:
    warehouse = stocked(1)
    shop = documents_shop(1)
    report = sync_stock(
        engine,
        warehouse,
        shop,
        StockOptions(warehouses=("MAIN", "SPB"), stores={"MAIN": 7}),
        clock=CLOCK,
        full=True,
    )
    assert any("SPB" in e and "[stock] stores" in e for e in report.errors)


def test_a_full_sync_heals_drift_on_the_shops_side(engine: Engine) -> None:
    warehouse = stocked(3)
    shop = FakeShop(products=catalogue(3))
    sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True)
    shop.quantities[1001] = 99  # someone typed a quantity in the admin panel
    assert (
        sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK).written == 0
    )  # nothing changed in the WMS
    healed = sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True)
    assert [(p.product_id, p.before, p.after, p.why) for p in healed.plan] == [
        (1001, 99, 6, "the shop shows another quantity than was written")
    ]
    assert shop.quantities[1001] == 6


def test_a_product_whose_sku_left_the_warehouse_goes_to_zero_not_stale(engine: Engine) -> None:
    warehouse = stocked(3)
    shop = FakeShop(products=catalogue(3))
    sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True)
    for where in ("MAIN", "SPB"):  # the WMS stops reporting the SKU at all (no row, not a row of zeros)
        del warehouse.available[("SKU-0002", where)]
    report = sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True)
    assert [(p.product_id, p.skus, p.after) for p in report.plan] == [
        (1002, ("SKU-0002 (no longer linked)",), 0)
    ]
    assert shop.quantities[1002] == 0
    with engine.connect() as conn:
        assert ("shop", "1002") in {(u.side, u.item) for u in store.load_unmatched(conn, "default")}


def test_products_left_out_on_purpose_do_not_hold_the_cursor(engine: Engine) -> None:
    """Only failures make the next run read again; a known barcodeMulti product must not turn every incremental
    into a full read."""
    warehouse = stocked(20)
    shop = documents_shop(20)
    shop.products[1] = ShopProduct(1001, "SKU-0001", barcode_multi=True)
    first = sync_stock(engine, warehouse, shop, DOC_OPTIONS, clock=CLOCK, full=True)
    assert first.read == 20 and first.notes and not first.errors
    warehouse.set("SKU-0000", 8)
    later = sync_stock(engine, warehouse, shop, DOC_OPTIONS, clock=CLOCK)
    # The changed row and the one at the (inclusive) cursor, not the whole warehouse again.
    assert later.read == 2 and shop.amounts[(1000, 7)] == 8


# -- the two sides read at once -------------------------------------------------------------------------------


@dataclass
class Meeting:
    """Each side waits for the other to have started: only a run that reads both at once gets past it."""

    wms: threading.Event = field(default_factory=threading.Event)
    shop: threading.Event = field(default_factory=threading.Event)


@dataclass
class MeetingWarehouse(FakeWarehouse):
    meeting: Meeting = field(default_factory=Meeting)
    fail_after: int | None = None
    yielded: int = 0
    row_delay: float = 0.0  # a slow warehouse: time for the shop to fail while it is read

    def iter_available_stock(self, **kwargs: Any) -> Iterator[AvailableStock]:
        self.meeting.wms.set()
        assert self.meeting.shop.wait(10), "the shop's catalogue is not read while the warehouse is"
        for n, row in enumerate(super().iter_available_stock(**kwargs)):
            if n == self.fail_after:
                raise TransientError("the warehouse went away")
            time.sleep(self.row_delay)
            self.yielded += 1
            yield row


@dataclass
class MeetingShop(FakeShop):
    meeting: Meeting = field(default_factory=Meeting)
    listed: int = 0
    fail_after: int | None = None
    row_delay: float = 0.0  # a slow shop: time for the warehouse to fail while it is read

    def catalogue(self, *, key: str, group_key: str | None) -> Iterator[CatalogueEntry]:
        self.meeting.shop.set()
        assert self.meeting.wms.wait(10), "the warehouse is not read while the shop's catalogue is"
        for entry in super().catalogue(key=key, group_key=group_key):
            if self.listed == self.fail_after:
                raise TransientError("the shop went away")
            time.sleep(self.row_delay)
            self.listed += 1
            yield entry


def test_a_full_sync_reads_the_shop_and_the_warehouse_at_once(engine: Engine) -> None:
    warehouse = MeetingWarehouse()
    for i in range(30):
        warehouse.set(f"SKU-{i:04d}", 4)
    shop = MeetingShop(products=catalogue(30), meeting=warehouse.meeting)
    report = sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True)
    assert report.matched == 30 and report.written == 30 and not report.errors


def test_a_warehouse_failure_stops_the_catalogue_read_and_records_nothing(engine: Engine) -> None:
    warehouse = MeetingWarehouse(fail_after=5)
    for i in range(30):
        warehouse.set(f"SKU-{i:04d}", 4)
    shop = MeetingShop(products=catalogue(1000), meeting=warehouse.meeting, row_delay=0.003)
    with pytest.raises(TransientError, match="warehouse went away"):
        sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True)
    assert shop.listed < 1000, "the catalogue read stopped with the run"
    assert shop.write_requests == 0
    with engine.connect() as conn:
        assert store.load_links(conn, "default") == {}
        assert store.load_cursor(conn, "default", "MAIN").updated_since is None


def test_a_catalogue_failure_stops_the_warehouse_read_and_records_nothing(engine: Engine) -> None:
    warehouse = MeetingWarehouse(row_delay=0.003)
    for i in range(1000):
        warehouse.set(f"SKU-{i:04d}", 4)
    shop = MeetingShop(products=catalogue(30), meeting=warehouse.meeting, fail_after=10)
    with pytest.raises(TransientError, match="shop went away"):  # the shop's error, not "stopped"
        sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True)
    assert warehouse.yielded < 1000, "the warehouse read stopped with the run"
    assert shop.write_requests == 0
    with engine.connect() as conn:
        assert store.load_links(conn, "default") == {}
        assert store.load_cursor(conn, "default", "MAIN").updated_since is None


# -- SKUs new since the last full sync -------------------------------------------------------------------------


def test_a_new_sku_is_linked_by_the_next_incremental_run(engine: Engine) -> None:
    warehouse = stocked(3)
    shop = FakeShop(products=[*catalogue(3), ShopProduct(2000, "SKU-NEW", name="new product")])
    sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True)
    with engine.connect() as conn:
        assert ("shop", "2000") in {(u.side, u.item) for u in store.load_unmatched(conn, "default")}
    reads = shop.catalogue_reads
    warehouse.set("SKU-NEW", 4)  # the warehouse starts to stock it
    report = sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK)
    assert shop.quantities[2000] == 4 and report.written == 1 and not report.errors
    assert shop.catalogue_reads == reads + 1, "one narrowed lookup, not the whole catalogue"
    with engine.connect() as conn:
        assert store.load_links(conn, "default")["SKU-NEW"].product_id == 2000
        assert ("shop", "2000") not in {(u.side, u.item) for u in store.load_unmatched(conn, "default")}
    # The nightly full sync agrees with what the incremental run linked and wrote.
    assert sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True).changed == 0


def test_an_unmatched_new_sku_is_reported_and_looked_up_once(engine: Engine) -> None:
    warehouse = stocked(3)
    shop = FakeShop(products=catalogue(3))
    sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True)
    warehouse.set("GHOST", 2)
    first = sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK)
    assert first.unmatched == 1 and shop.catalogue_reads == 2
    with engine.connect() as conn:
        assert ("warehouse", "GHOST") in {(u.side, u.item) for u in store.load_unmatched(conn, "default")}
    warehouse.set("GHOST", 3)
    sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK)
    assert shop.catalogue_reads == 2, "a reported SKU waits for the next full sync"


def test_a_new_sku_on_a_product_linked_elsewhere_is_reported_not_moved(engine: Engine) -> None:
    warehouse = stocked(2)
    shop = FakeShop(products=catalogue(2))
    sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True)
    shop.products[0] = ShopProduct(1000, "SKU-RENAMED", name="product 0")  # its key changed in the shop
    warehouse.set("SKU-RENAMED", 9)
    report = sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK)
    assert report.written == 0 and not report.errors
    with engine.connect() as conn:
        assert store.load_links(conn, "default")["SKU-0000"].product_id == 1000
        detail = {u.item: u.detail for u in store.load_unmatched(conn, "default") if u.side == "warehouse"}
    assert "holds SKU-0000's stock" in detail["SKU-RENAMED"] and "--full" in detail["SKU-RENAMED"]


# -- the oversell guard -----------------------------------------------------------------------------------------


def test_units_sold_and_not_yet_reserved_are_held_back_until_the_warehouse_reserves_them(
    engine: Engine,
) -> None:
    warehouse = stocked(3)  # MAIN 5 + SPB 1 each
    shop = FakeShop(products=catalogue(3))
    sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True)
    assert shop.quantities[1001] == 6
    # The orders flow planned a picking order of 2 x SKU-0001 from MAIN: not reserved in the warehouse yet.
    with engine.begin() as conn:
        [part] = order_store.plan_parts(
            conn,
            "default",
            77,
            1,
            [
                order_store.NewPart(
                    1, "MAIN", "", "CDEK", "B-77-1", (order_store.PartLine(1, 1, "SKU-0001", 2),)
                )
            ],
            now=T0,
        )
    guarded = sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK)  # the warehouse said nothing new
    assert shop.quantities[1001] == 4 and guarded.written == 1, "sold units are not offered again"
    # The warehouse accepts it and reserves the units: they leave its availability and the guard lets go.
    with engine.begin() as conn:
        assert order_store.move_part(conn, part.id, expected={"planned"}, state="accepted", now=T0)
    warehouse.set("SKU-0001", 3, "MAIN")
    sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK)
    assert shop.quantities[1001] == 4, "counted once, not twice"
    assert sync_stock(engine, warehouse, shop, OPTIONS, clock=CLOCK, full=True).changed == 0

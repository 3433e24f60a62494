"""Statuses go to a Bitrix order only once every picking order of it is in the warehouse."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import Engine

from bitrix_inflow.domain.status_mapping import DEFAULT_MAPPING, StatusMapping
from bitrix_inflow.store import orders as store
from bitrix_inflow.sync.orders.shop import ChangedOrders, ShopOrder, StatusWrite, Watermark
from bitrix_inflow.sync.orders.statuses import apply_statuses
from bitrix_inflow.timing import SystemClock

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


@dataclass
class RecordingShop:
    writes: list[tuple[int, str]] = field(default_factory=list)

    def changed_orders(self, since: Watermark, *, max_pages: int) -> ChangedOrders:
        raise AssertionError("not read")

    def order(self, order_id: int) -> ShopOrder:
        raise AssertionError("not read")

    def set_status(self, order_id: int, status_id: str, *, allowed_from: Collection[str]) -> StatusWrite:
        self.writes.append((order_id, status_id))
        return StatusWrite("changed")

    def update_shipment(self, shipment_id: int, *, tracking_number: str, shipped: bool) -> bool:
        self.writes.append((shipment_id, tracking_number))
        return True


def test_a_part_still_waiting_for_stock_keeps_the_order_where_it_is(engine: Engine) -> None:
    lines = (store.PartLine(1, 1, "S1", 1),)
    with engine.begin() as conn:
        store.save_binding(conn, "default", 21, state="planned", now=NOW)
        first, second = (
            p.id
            for p in store.plan_parts(
                conn,
                "default",
                21,
                1,
                [
                    store.NewPart(1, "MAIN", "A", "CDEK", "B-21-1", lines),
                    store.NewPart(2, "MAIN", "B", "CDEK", "B-21-2", lines),
                ],
                now=NOW,
            )
        )
        store.move_part(conn, first, expected={"planned"}, state="accepted", now=NOW, wms_order_id="PO-1")
        store.update_part_from_wms(
            conn, first, status="DELIVERED", version=7, tracking=("CDEK", "T1"), error=None, now=NOW
        )
        store.move_part(conn, second, expected={"planned"}, state="short", now=NOW)
    shop = RecordingShop()
    mapping = StatusMapping(DEFAULT_MAPPING)
    report = apply_statuses(engine, shop, mapping, 21, forwarded_from={"N"}, clock=SystemClock())
    assert shop.writes == [] and "not every picking order" in report.why
    with engine.connect() as conn:
        binding = store.load_binding(conn, "default", 21)
    assert binding is not None and binding.applied_status is None

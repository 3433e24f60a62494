"""The client against the real sandbox: every dialect x transport x auth combination, the whole order life."""

from __future__ import annotations

import datetime as dt
import secrets
import string

import pytest

from bitrix_inflow.adapters.inflow.models import NewOrderLine, NewPickingOrder
from bitrix_inflow.adapters.inflow.problems import (
    CancelRejectedError,
    InsufficientStockError,
    UnknownSkuError,
    UnknownWarehouseError,
    UnsupportedOperationError,
    VersionMismatchError,
)
from bitrix_inflow.domain.vocabulary import InflowStatus
from bitrix_inflow.errors import NotFoundError, PermanentError, ValidationError

GS = "\x1d"


def marking_code(gtin: str) -> str:
    serial = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(13))
    crypto = "".join(secrets.choice(string.ascii_letters + string.digits + "+/=") for _ in range(44))
    return f"01{gtin}21{serial}{GS}91EE06{GS}92{crypto}"


def order_of(ref: str, *lines: tuple[str, int], **extra: object) -> NewPickingOrder:
    return NewPickingOrder(
        external_ref=ref,
        customer_order_ref=ref.split("-")[1],
        lines=tuple(NewOrderLine(line_no=i, sku=sku, qty=qty) for i, (sku, qty) in enumerate(lines, start=1)),
        **extra,  # type: ignore[arg-type]
    )


def test_stock_export_matches_the_warehouse(combo_env):
    client, control = combo_env
    rows = list(client.iter_available_stock(limit=7))  # small pages: many cursors
    skus = {s["sku"] for s in control.skus()}
    assert sorted(r.sku for r in rows) == sorted(skus)  # every SKU exactly once
    for row in rows[:5]:
        assert row.qty_available == control.stock_of(row.sku)["qty_available"]
        assert row.warehouse == "MAIN"
        assert row.updated_at.tzinfo is not None

    bins = list(client.iter_bin_stock(limit=33))
    assert len(bins) == control.state()["slots"]
    assert len({(b.sku, b.bin) for b in bins}) == len(bins)
    one = rows[0].sku
    assert {b.bin for b in bins if b.sku == one} == {s["bin"] for s in control.stock_of(one)["slots"]}
    assert any(not b.sellable for b in bins)  # quarantine bins are exported, flagged


def test_stock_page_by_page_and_filters(combo_env):
    client, _ = combo_env
    page = client.available_stock_page(limit=5)
    assert len(page.items) <= 5 and page.next_cursor is not None
    second = client.available_stock_page(cursor=page.next_cursor, limit=5)
    assert not {r.sku for r in page.items} & {r.sku for r in second.items}
    sku = page.items[0].sku
    only = client.bin_stock_page(sku=sku, limit=100)
    assert only.items and {b.sku for b in only.items} == {sku} and only.next_cursor is None


def test_stock_delta_with_updated_since(combo_env):
    client, control = combo_env
    newest = max(r.updated_at for r in client.iter_available_stock())
    changed = control.skus()[3]["sku"]
    control.adjust(changed, 5)
    delta = list(client.iter_available_stock(updated_since=newest + dt.timedelta(microseconds=1)))
    assert [r.sku for r in delta] == [changed]
    assert delta[0].qty_available == control.stock_of(changed)["qty_available"]
    bin_delta = list(client.iter_bin_stock(updated_since=newest + dt.timedelta(microseconds=1)))
    assert bin_delta and {b.sku for b in bin_delta} == {changed}


def test_order_life_create_status_changes_ship(combo_env):
    client, control = combo_env
    marked = next(s for s in control.skus() if s["marked"])
    plain = next(s for s in control.skus() if not s["marked"])
    before = control.stock_of(plain["sku"])["qty_available"]
    code = marking_code(marked["gtin"])
    new = NewPickingOrder(
        external_ref="B-1042-1",
        customer_order_ref="1042",
        carrier="CDEK",
        lines=(
            NewOrderLine(line_no=1, sku=plain["sku"], qty=2),
            NewOrderLine(line_no=2, sku=marked["sku"], qty=1, marking_codes=(code,)),
        ),
    )
    created = client.create_picking_order(new)
    assert created.status is InflowStatus.NEW and created.version == 1
    assert created.external_ref == "B-1042-1" and created.warehouse == "MAIN" and created.carrier == "CDEK"
    assert [(line.sku, line.qty, line.qty_picked) for line in created.lines] == [
        (plain["sku"], 2, 0),
        (marked["sku"], 1, 0),
    ]
    assert control.stock_of(plain["sku"])["qty_available"] == before - 2

    control.advance(created.id, "SHIPPED")
    shipped = client.get_order(created.id)
    assert shipped.status is InflowStatus.SHIPPED and shipped.version > created.version
    assert all(line.qty_picked == line.qty for line in shipped.lines)
    assert sum(p.qty for p in shipped.lines[0].picked_from) == 2
    assert shipped.lines[1].marked and shipped.lines[1].marking_codes == (code,)  # GS survives REST and SOAP
    assert shipped.packages and len(shipped.packages[0].sscc) == 18
    assert shipped.tracking is not None and shipped.tracking.carrier == "CDEK"

    pages = list(client.iter_changes(limit=1))
    assert [o.id for p in pages for o in p.orders] == [created.id]
    assert pages[-1].has_more is False
    assert client.changes_page(pages[-1].next_cursor).orders == ()  # nothing new after the stored cursor

    with pytest.raises(CancelRejectedError) as rejected:
        client.cancel(created.id)
    assert rejected.value.order_status == "SHIPPED"


def test_cancel_matrix_and_find_by_reference(combo_env):
    client, control = combo_env
    sku = control.skus()[1]["sku"]
    before = control.stock_of(sku)["qty_available"]
    order = client.create_picking_order(order_of("B-7-1", (sku, 3)))
    if client.settings.transport == "rest":
        found = client.find_by_external_ref("B-7-1")
        assert found is not None and found.id == order.id
        assert client.find_by_external_ref("B-7-404") is None
    cancelled = client.cancel(order.id, reason="customer changed mind", if_match_version=order.version)
    assert cancelled.status is InflowStatus.CANCELLED and cancelled.cancel_reason == "customer changed mind"
    assert control.stock_of(sku)["qty_available"] == before
    again = client.cancel(order.id)
    assert again.status is InflowStatus.CANCELLED and again.version == cancelled.version


def test_picking_error_status_is_reported(combo_env):
    client, control = combo_env
    sku = control.skus()[2]["sku"]
    control.faults(picking_error_skus=[sku])
    order = client.create_picking_order(order_of("B-9-1", (sku, 1)))
    control.step(order.id, 10)  # the WMS works the order until the faulty SKU stops it
    failed = client.get_order(order.id)
    assert failed.status is InflowStatus.PICKING_ERROR
    assert failed.error is not None and failed.error.sku == sku and failed.error.line_no == 1
    assert failed.error.code in {"ITEM_NOT_FOUND_IN_BIN", "POSITION_UNAVAILABLE"}
    assert failed.status.is_final


def test_business_errors_are_typed(combo_env):
    client, control = combo_env
    sku = control.skus()[0]["sku"]
    available = control.stock_of(sku)["qty_available"]
    with pytest.raises(InsufficientStockError) as short:
        client.create_picking_order(order_of("B-5-1", (sku, available + 1)))
    assert [(s.sku, s.requested, s.available) for s in short.value.shortages] == [
        (sku, available + 1, available)
    ]
    # Typed by kind, so a flow tells a wrong product link from a wrong configuration without reading text.
    with pytest.raises(UnknownSkuError) as unknown:
        client.create_picking_order(order_of("B-5-2", (sku, 1), ("NO-SUCH-SKU", 1)))
    assert unknown.value.field == "lines[1].sku"  # canonical path, whatever the installation calls it
    with pytest.raises(UnknownWarehouseError) as bad_warehouse:
        client.create_picking_order(order_of("B-5-3", (sku, 1), warehouse="NOWHERE"))
    assert "warehouse" in bad_warehouse.value.field
    assert isinstance(unknown.value, ValidationError) and isinstance(bad_warehouse.value, ValidationError)
    with pytest.raises(NotFoundError):
        client.get_order("PO-99999999")
    assert control.state()["orders"] == 0  # failed creates leave nothing behind


def test_duplicate_reference_adopts_the_existing_order(combo_env):
    client, control = combo_env
    sku = control.skus()[4]["sku"]
    first = client.create_picking_order(order_of("B-3-1", (sku, 1)))
    # A second logical create (new idempotency key) of the same external_ref is answered with the same order.
    second = client.create_picking_order(order_of("B-3-1", (sku, 1)))
    assert second.id == first.id
    assert len(control.orders_with_ref("B-3-1")) == 1


def test_each_row_exactly_once_while_stock_changes(combo_env):
    client, control = combo_env
    skus = [s["sku"] for s in control.skus()]
    seen: list[str] = []
    for row in client.iter_available_stock(limit=3):
        seen.append(row.sku)
        if len(seen) % 3 == 0:  # between pages: stock moves under the walk
            control.adjust(skus[len(seen) % len(skus)], 7)
            control.adjust(skus[-1 - len(seen) % len(skus)], -1)
    assert sorted(seen) == sorted(skus)


def test_stale_version_and_partly_picked_cancel(combo_env):
    client, control = combo_env
    first, second = (s["sku"] for s in control.skus()[5:7])
    order = client.create_picking_order(order_of("B-11-1", (first, 1), (second, 1)))
    control.advance(order.id, "ASSIGNED")
    with pytest.raises(VersionMismatchError) as stale:
        client.cancel(order.id, if_match_version=order.version)
    assert stale.value.current_version == order.version + 1
    control.advance(order.id, "PICKING")
    assert client.get_order(order.id).status is InflowStatus.PICKING
    control.step(order.id, 1)  # one line picked: goods left a bin
    picked = client.get_order(order.id)
    assert picked.status is InflowStatus.PICKING and sum(line.qty_picked for line in picked.lines) == 1
    with pytest.raises(CancelRejectedError) as rejected:
        client.cancel(order.id)
    assert rejected.value.order_status == "PICKING"

    untouched = client.create_picking_order(order_of("B-11-2", (first, 1)))
    control.advance(untouched.id, "PICKING")
    assert (
        client.cancel(untouched.id).status is InflowStatus.CANCELLED
    )  # nothing picked yet: still cancellable


def test_reusing_an_idempotency_key_for_another_order_is_refused(combo_env):
    client, control = combo_env
    sku = control.skus()[8]["sku"]
    client.create_picking_order(order_of("B-12-1", (sku, 1)), idempotency_key="key-12")
    with pytest.raises(PermanentError, match="idempotency-key-reused"):
        client.create_picking_order(order_of("B-12-2", (sku, 1)), idempotency_key="key-12")
    assert control.orders_with_ref("B-12-2") == []


def test_marking_codes_reach_the_packages(combo_env):
    client, control = combo_env
    marked = next(s for s in control.skus() if s["marked"])
    codes = tuple(marking_code(marked["gtin"]) for _ in range(2))
    new = NewPickingOrder(
        external_ref="B-13-1",
        customer_order_ref="13",
        lines=(NewOrderLine(line_no=1, sku=marked["sku"], qty=3, marking_codes=codes),),
    )
    order = client.create_picking_order(new)
    control.advance(order.id, "PACKING")
    packed = client.get_order(order.id)
    line = packed.lines[0]
    assert (
        line.marked and len(line.marking_codes) == 3 and line.marking_codes[:2] == codes
    )  # WMS scanned the 3rd
    in_packages = [code for p in packed.packages for pl in p.lines for code in pl.marking_codes]
    assert sorted(in_packages) == sorted(line.marking_codes)
    assert all(GS in code for code in in_packages)
    with pytest.raises(ValidationError) as reused:
        client.create_picking_order(
            NewPickingOrder(
                external_ref="B-13-2",
                customer_order_ref="13",
                lines=(NewOrderLine(line_no=1, sku=marked["sku"], qty=1, marking_codes=codes[:1]),),
            )
        )
    assert reused.value.field == "lines[0].marking_codes[0]"


def test_find_by_reference_needs_rest(combo_env):
    client, _ = combo_env
    if client.settings.transport == "rest":
        assert client.find_by_external_ref("B-14-1") is None
    else:
        with pytest.raises(UnsupportedOperationError):
            client.find_by_external_ref("B-14-1")


def test_delta_is_inclusive_and_empty_pages_keep_the_cursor(combo_env):
    client, control = combo_env
    sku = control.skus()[9]["sku"]
    control.adjust(sku, 3)
    newest = max(r.updated_at for r in client.iter_available_stock())
    again = [r.sku for r in client.iter_available_stock(updated_since=newest)]
    assert again == [sku]  # updated_at >= updated_since: the newest row is seen again, as the contract says
    only = client.available_stock_page(sku=sku)
    assert [r.sku for r in only.items] == [sku] and only.items[0].qty_available == control.stock_of(sku)[
        "qty_available"
    ]

    last = list(client.iter_changes())[-1]
    empty = client.changes_page(last.next_cursor)
    assert empty.orders == () and empty.next_cursor == last.next_cursor and not empty.has_more


def test_unknown_warehouse_on_stock_names_the_field(combo_env):
    client, _ = combo_env
    with pytest.raises(ValidationError) as raised:
        client.available_stock_page(warehouse="NOWHERE")
    assert raised.value.field == "warehouse"

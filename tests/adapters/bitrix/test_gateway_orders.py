"""Order methods of the gateway against the sandbox shop over HTTPS (its test CA, on-prem profile)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from bitrix_inflow.adapters.bitrix import (
    BitrixGateway,
    OrderWatermark,
    StatusChange,
    StatusOutcome,
    StatusRequest,
)
from bitrix_inflow.errors import ConflictError, NotFoundError, ValidationError
from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox

from .conftest import MakeGateway, place


@pytest.fixture
def gateway(site_shop: RunningSandbox, gateway_for: MakeGateway) -> BitrixGateway:
    return gateway_for(site_shop)


def caught_up(gateway: BitrixGateway) -> OrderWatermark:
    """Poll until nothing is new: the watermark of 'now' for this module's shared shop."""
    mark = OrderWatermark()
    while True:
        polled = gateway.orders_changed_since(mark)
        mark = polled.watermark
        if polled.complete:
            return mark


def test_new_orders_come_in_id_order_and_move_the_watermark(
    site_shop: RunningSandbox, gateway: BitrixGateway
) -> None:
    start = caught_up(gateway)
    placed = [place(site_shop, (1, 1))["id"], place(site_shop, (2, 3))["id"]]
    polled = gateway.orders_changed_since(start)
    assert [o.id for o in polled.new] == placed
    assert polled.complete
    assert polled.watermark.last_id == placed[-1]
    assert polled.watermark.updated_at is not None
    assert all(o.status_id == "N" and o.currency == "RUB" for o in polled.new)
    # Nothing new since: the same watermark yields no new orders.
    again = gateway.orders_changed_since(polled.watermark)
    assert again.new == ()


def test_changed_orders_are_found_by_date_update_with_overlap(
    site_shop: RunningSandbox, gateway: BitrixGateway
) -> None:
    old_id = place(site_shop, (3, 1))["id"]
    mark = caught_up(gateway)
    assert mark.last_id >= old_id
    gateway.set_order_status(old_id, "P", allowed_from={"N"})
    polled = gateway.orders_changed_since(mark)
    assert polled.new == ()
    changed = {o.id: o for o in polled.changed}
    assert changed[old_id].status_id == "P"
    assert polled.watermark.updated_at is not None and mark.updated_at is not None
    assert polled.watermark.updated_at >= mark.updated_at


def test_changed_orders_outside_the_overlap_window_are_not_re_read(
    site_shop: RunningSandbox, gateway_for: MakeGateway
) -> None:
    gateway = gateway_for(site_shop, change_overlap_seconds=0)
    place(site_shop, (4, 1))
    mark = caught_up(gateway)
    assert mark.updated_at is not None
    later = OrderWatermark(last_id=mark.last_id, updated_at=mark.updated_at + timedelta(hours=1))
    assert gateway.orders_changed_since(later).changed == ()


def test_more_than_a_page_is_read_with_the_id_cursor(
    site_shop: RunningSandbox, gateway: BitrixGateway
) -> None:
    start = caught_up(gateway)
    placed = [place(site_shop, (5, 1))["id"] for _ in range(53)]
    first = gateway.orders_changed_since(start, max_pages=1)
    assert not first.complete
    assert [o.id for o in first.new] == placed[:50]
    assert first.watermark.last_id == placed[49]
    rest = gateway.orders_changed_since(first.watermark)
    assert [o.id for o in rest.new] == placed[50:]
    assert rest.complete


def test_a_burst_of_changes_larger_than_one_call_goes_on_from_where_it_stopped(
    site_shop: RunningSandbox, gateway: BitrixGateway
) -> None:
    """More orders changed than one call reads: the next call resumes the changed scan at its last id instead of
    starting over (which, with the same page bound, would read the same first pages for ever)."""
    placed = [place(site_shop, (5, 1))["id"] for _ in range(53)]
    mark = caught_up(gateway)
    for order_id in placed:
        gateway.set_order_status(order_id, "P", allowed_from={"N"})
    first = gateway.orders_changed_since(mark, max_pages=1)
    assert not first.complete and len(first.changed) == 50
    assert first.watermark.resume_id == first.changed[-1].id and first.watermark.updated_at == mark.updated_at
    seen = {o.id for o in first.changed}
    mark = first.watermark
    while True:
        polled = gateway.orders_changed_since(mark, max_pages=1)
        seen |= {o.id for o in polled.changed}
        mark = polled.watermark
        if polled.complete:
            break
    assert set(placed) <= seen
    assert mark.resume_id == 0 and mark.updated_at is not None and first.watermark.updated_at is not None
    assert mark.updated_at >= first.watermark.updated_at


def test_get_order_reads_everything_in_one_batch(site_shop: RunningSandbox, gateway: BitrixGateway) -> None:
    placed = place(
        site_shop,
        (1, 2),
        (2, 1),
        shipments=[{"deliveryId": 2, "lines": [0]}, {"deliveryId": 3, "lines": [1]}],
    )
    before = gateway.transport.requests_sent
    bundle = gateway.get_order(int(placed["id"]))
    assert gateway.transport.requests_sent - before == 1

    assert bundle.order.id == int(placed["id"])
    assert bundle.order.account_number == str(placed["accountNumber"])
    assert bundle.order.person_type_id == int(placed["personTypeId"])  # an eligibility rule reads it
    assert [(line.product_id, line.quantity) for line in bundle.basket] == [(1, 2), (2, 1)]
    assert all(isinstance(line.id, int) and line.order_id == bundle.order.id for line in bundle.basket)

    stored = {int(s["id"]): s for s in site_shop.control.entities("shipments", orderId=bundle.order.id)}
    real = {sid for sid, s in stored.items() if s.get("system") != "Y"}
    assert {s.id for s in bundle.shipments} == real
    by_delivery = {s.delivery_id: s for s in bundle.shipments}
    assert by_delivery[2].delivery_name == "CDEK"
    assert by_delivery[3].delivery_name == "Russian Post"
    basket_ids = {line.product_id: line.id for line in bundle.basket}
    assert [(ln.basket_id, ln.quantity) for ln in by_delivery[2].lines] == [(basket_ids[1], 2)]
    assert [(ln.basket_id, ln.quantity) for ln in by_delivery[3].lines] == [(basket_ids[2], 1)]

    stored_props = site_shop.control.entities("propertyValues", orderId=bundle.order.id)
    assert {p.code for p in bundle.properties} == {p["code"] for p in stored_props}


def test_get_order_of_a_missing_order_is_not_found(gateway: BitrixGateway) -> None:
    with pytest.raises(NotFoundError, match="order"):
        gateway.get_order(987654)


@pytest.mark.parametrize("bad", [0, -5, "abc", True, None])
def test_get_order_refuses_bad_ids_before_calling(gateway: BitrixGateway, bad: object) -> None:
    before = gateway.transport.requests_sent
    with pytest.raises(ValidationError) as caught:
        gateway.get_order(bad)  # type: ignore[arg-type]
    assert caught.value.field == "order_id"
    assert gateway.transport.requests_sent == before


def test_set_status_is_compare_and_set(site_shop: RunningSandbox, gateway: BitrixGateway) -> None:
    order_id = int(place(site_shop, (6, 1))["id"])

    refused = gateway.set_order_status(order_id, "F", allowed_from={"P", "Q"})
    assert refused.outcome is StatusOutcome.REFUSED
    assert site_shop.control.entity("orders", order_id)["statusId"] == "N"

    changed = gateway.set_order_status(order_id, "P", allowed_from={"N"})
    assert (changed.outcome, changed.previous_status, changed.current_status) == (
        StatusOutcome.CHANGED,
        "N",
        "P",
    )
    assert site_shop.control.entity("orders", order_id)["statusId"] == "P"

    already = gateway.set_order_status(order_id, "P", allowed_from={"N"})
    assert already.outcome is StatusOutcome.ALREADY_SET


def test_set_status_to_an_unknown_status_is_refused_by_bitrix(
    site_shop: RunningSandbox, gateway: BitrixGateway
) -> None:
    order_id = int(place(site_shop, (6, 1))["id"])
    with pytest.raises((ValidationError, ConflictError)):
        gateway.set_order_status(order_id, "NOPE", allowed_from={"N"})
    assert site_shop.control.entity("orders", order_id)["statusId"] == "N"


def test_set_status_of_a_missing_order(gateway: BitrixGateway) -> None:
    with pytest.raises(NotFoundError, match="987654"):
        gateway.set_order_status(987654, "P", allowed_from={"N"})


def test_many_orders_are_read_whole_in_one_request(site_shop: RunningSandbox, gateway: BitrixGateway) -> None:
    placed = [int(place(site_shop, (1 + n % 5, 1 + n % 3))["id"]) for n in range(30)]
    before = gateway.transport.requests_sent
    found = gateway.get_orders([*placed, 987654])
    assert gateway.transport.requests_sent - before == 1
    # Each the same as read alone; a missing one is an error about that order, the others are unharmed.
    assert all(found[i] == gateway.get_order(i) for i in placed)
    missing = found[987654]
    assert isinstance(missing, NotFoundError) and "987654" in str(missing)
    with pytest.raises(ValidationError) as caught:
        gateway.get_orders(list(range(1, 52)))
    assert caught.value.field == "order_ids"


def test_statuses_of_many_orders_are_compared_and_set_in_two_requests(
    site_shop: RunningSandbox, gateway: BitrixGateway
) -> None:
    orders = [int(place(site_shop, (6, 1))["id"]) for _ in range(5)]
    ahead = [
        int(place(site_shop, (7, 2))["id"]) for _ in range(60)
    ]  # more than the check's batch has room for
    gateway.set_order_status(orders[1], "P", allowed_from={"N"})  # already there
    gateway.set_order_status(orders[2], "F", allowed_from={"N"})  # a person moved it on: not ours
    wanted = [StatusRequest(i, "P", {"N"}) for i in orders[:4]] + [StatusRequest(987654, "P", {"N"})]
    before = gateway.transport.requests_sent
    done = gateway.set_order_statuses(wanted, also_read=ahead)
    assert gateway.transport.requests_sent - before == 2
    outcomes = {i: getattr(c, "outcome", type(c).__name__) for i, c in done.changes.items()}
    assert outcomes == {
        orders[0]: StatusOutcome.CHANGED,
        orders[1]: StatusOutcome.ALREADY_SET,
        orders[2]: StatusOutcome.REFUSED,
        orders[3]: StatusOutcome.CHANGED,
        987654: "EntityNotFoundError",
    }
    statuses = [site_shop.control.entity("orders", i)["statusId"] for i in orders]
    assert statuses == ["P", "P", "F", "P", "N"]  # the fifth was never asked for
    written = done.changes[orders[0]]
    assert isinstance(written, StatusChange) and written.version is not None
    assert written.version == site_shop.control.entity("orders", orders[0])["version"]
    assert sorted(done.read) == sorted(ahead)
    assert all(done.read[i] == gateway.get_order(i) for i in ahead)


def test_batched_status_writes_refuse_more_than_two_batches_hold(gateway: BitrixGateway) -> None:
    before = gateway.transport.requests_sent
    with pytest.raises(ValidationError) as caught:
        gateway.set_order_statuses([StatusRequest(i, "P", {"N"}) for i in range(1, 51)])
    assert caught.value.field == "requests"
    with pytest.raises(ValidationError) as caught:  # 40 writes leave room for 59 reads, not 60
        gateway.set_order_statuses(
            [StatusRequest(i, "P", {"N"}) for i in range(1, 41)], also_read=range(41, 101)
        )
    assert caught.value.field == "also_read"
    with pytest.raises(ValidationError) as caught:
        gateway.set_order_statuses([StatusRequest(1, "P", "N")])
    assert caught.value.field == "allowed_from"
    assert gateway.transport.requests_sent == before


def test_custom_statuses_are_read_not_assumed(site_shop: RunningSandbox, gateway: BitrixGateway) -> None:
    site_shop.control.add_status("W", "Picking error", sort=35)
    statuses = {s.id: s for s in gateway.statuses()}
    assert {"N", "F", "DN", "DF", "W"} <= set(statuses)
    assert statuses["W"].type == "O" and statuses["DN"].type == "D"
    order_id = int(place(site_shop, (7, 1))["id"])
    assert gateway.set_order_status(order_id, "W", allowed_from={"N"}).outcome is StatusOutcome.CHANGED


def test_update_shipment_echoes_the_required_fields(
    site_shop: RunningSandbox, gateway: BitrixGateway
) -> None:
    # A product without a marking group: a marked one is deducted only with its codes (test_companion_module.py).
    plain = next(p["id"] for p in site_shop.control.entities("products") if p.get("property103") is None)
    placed = place(site_shop, (plain, 1), shipments=[{"deliveryId": 4, "lines": [0]}])
    shipment = gateway.get_order(int(placed["id"])).shipments[0]
    updated = gateway.update_shipment(
        shipment.id, tracking_number="RU123456789", status_id="DF", deducted=True
    )
    assert updated.tracking_number == "RU123456789"
    assert updated.deducted is True
    assert updated.delivery_id == 4
    assert updated.allow_delivery is shipment.allow_delivery
    stored = site_shop.control.entity("shipments", shipment.id)
    assert (stored["trackingNumber"], stored["deducted"], stored["statusId"]) == ("RU123456789", "Y", "DF")
    assert int(stored["deliveryId"]) == 4

    # A tracking-only update leaves the flags, the status and the delivery prices as they are (the real update
    # resets a status it is not sent to DN and unsent prices to 0: the gateway echoes them).
    price = (stored["basePriceDelivery"], stored["priceDelivery"])
    assert price[1] > 0
    again = gateway.update_shipment(shipment.id, tracking_number="RU000")
    assert again.deducted is True and again.tracking_number == "RU000"
    kept = site_shop.control.entity("shipments", shipment.id)
    assert (kept["statusId"], kept["basePriceDelivery"], kept["priceDelivery"]) == ("DF", *price)


def test_update_missing_shipment_is_not_found(gateway: BitrixGateway) -> None:
    with pytest.raises(NotFoundError, match="shipment"):
        gateway.update_shipment(987654, tracking_number="X")


def test_allowed_from_must_be_a_collection_not_a_string(gateway: BitrixGateway) -> None:
    with pytest.raises(ValidationError) as caught:
        gateway.set_order_status(1, "P", allowed_from="NP")
    assert caught.value.field == "allowed_from"
    assert gateway.transport.requests_sent == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "update_shipment"),
        ({"deducted": "Y"}, "deducted"),
        ({"allow_delivery": 1}, "allow_delivery"),
    ],
)
def test_update_shipment_refuses_bad_input_before_calling(
    gateway: BitrixGateway, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        gateway.update_shipment(1, **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert gateway.transport.requests_sent == 0


def test_an_order_with_more_lines_than_a_page(gateway_for: MakeGateway) -> None:
    with running_bitrix_sandbox(SandboxConfig(profile="site"), products=60) as big_shop:
        placed = big_shop.control.place_order(lines=[{"productId": i, "quantity": 1} for i in range(1, 56)])
        gateway = gateway_for(big_shop)
        bundle = gateway.get_order(int(placed["id"]))
        assert [line.product_id for line in bundle.basket] == list(range(1, 56))
        assert sum(len(s.lines) for s in bundle.shipments) == 55
        # sale.order.get nests the whole basket and every shipment's lines: no list to page through.
        assert gateway.transport.requests_sent == 1


def test_statuses_beyond_one_page(gateway_for: MakeGateway) -> None:
    with running_bitrix_sandbox(SandboxConfig(profile="site"), products=1) as shop:
        custom = [f"{chr(ord('A') + n // 10)}{n % 10}" for n in range(55)]  # A0 … F4, ids are 1-2 chars
        for n, status_id in enumerate(custom):
            shop.control.add_status(status_id, f"Custom {n}", sort=1000 + n)
        gateway = gateway_for(shop)
        ids = {s.id for s in gateway.statuses()}
        assert set(custom) <= ids
        assert {"N", "F", "DN", "DF"} <= ids
        assert gateway.transport.requests_sent >= 2


def test_polling_ignores_total_in_no_count_mode(gateway_for: MakeGateway) -> None:
    # The docs' example shows "total": 0 with start=-1, the PHP source omits it; neither may matter.
    with running_bitrix_sandbox(SandboxConfig(profile="site", no_count_total="zero"), products=2) as shop:
        placed = [int(place(shop, (1, 1))["id"]) for _ in range(3)]
        polled = gateway_for(shop).orders_changed_since(OrderWatermark())
        assert [o.id for o in polled.new] == placed


def test_a_line_is_added_once_by_its_key_and_put_in_a_shipment_once(
    site_shop: RunningSandbox, gateway: BitrixGateway
) -> None:
    order = place(site_shop, (1, 1))
    shipment_id = int(order["shipments"][0]["id"])
    added, fresh = gateway.add_basket_item(order["id"], 2, Decimal(3), xml_id="bi-7-1")
    assert fresh
    assert gateway.add_basket_item(order["id"], 2, Decimal(3), xml_id="bi-7-1") == (added, False)
    assert gateway.add_shipment_item(shipment_id, added, Decimal(3)) is True
    assert gateway.add_shipment_item(shipment_id, added, Decimal(3)) is False  # 201250000001: there already
    items = site_shop.control.entities("basketItems", orderId=order["id"])
    assert sum(1 for i in items if int(i["id"]) == added) == 1 and len(items) == 2
    with pytest.raises(NotFoundError):
        gateway.add_basket_item(10**8, 2, Decimal(1), xml_id="bi-7-2")
    with pytest.raises(ValidationError, match="xml_id"):
        gateway.add_basket_item(order["id"], 2, Decimal(1), xml_id="")

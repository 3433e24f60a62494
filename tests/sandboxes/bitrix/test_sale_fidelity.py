"""sale.* behaviour the docs and the module source describe (reference §1.5, §2.1-2.6)."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from bitrix_inflow.sandboxes.bitrix import ControlError, RunningSandbox, SandboxConfig, running_bitrix_sandbox


def test_order_get_has_the_documented_shape_and_mixed_id_types(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    order_id = place(shop, (1, 2), (2, 1))["id"]
    order = rest.ok("sale.order.get", {"id": order_id})["result"]["order"]
    assert isinstance(order["id"], int)
    assert order["accountNumber"] == str(order_id)
    assert set(order) >= {
        "basketItems",
        "payments",
        "shipments",
        "propertyValues",
        "clients",
        "tradeBindings",
    }
    item = order["basketItems"][0]
    assert item["id"] == str(int(item["id"]))  # text ids on nested basket items, as in the docs example
    assert item["orderId"] == str(order_id)
    assert isinstance(item["productId"], int)
    assert {p["code"] for p in item["properties"]} >= {"PRODUCT.XML_ID", "CATALOG.XML_ID"}
    shipment = order["shipments"][0]
    assert isinstance(shipment["id"], int)
    assert shipment["orderId"] == order_id
    assert shipment["accountNumber"] == f"{order_id}/2"
    assert shipment["shipmentItems"][0]["orderDeliveryId"] == shipment["id"]
    assert order["payments"][0]["accountNumber"] == f"{order_id}/1"
    assert order["dateInsert"][-6] in "+-"


def test_basket_item_methods_answer_integer_ids(shop: RunningSandbox, rest: Any, place: Any) -> None:
    """sale-basket-item-list.md: integer ids there, text ids only in sale.order.get's nested basketItems."""
    order = place(shop, (1, 2), (2, 1))
    nested = order["basketItems"][0]
    listed = rest.ok("sale.basketitem.list", {"filter": {"orderId": order["id"]}, "order": {"id": "asc"}})
    items = listed["result"]["basketItems"]
    assert [item["id"] for item in items] == [int(i["id"]) for i in order["basketItems"]]
    assert all(isinstance(item["id"], int) and item["orderId"] == order["id"] for item in items)
    one = rest.ok("sale.basketitem.get", {"id": nested["id"]})["result"]["basketItem"]
    assert one["id"] == int(nested["id"]) and isinstance(one["orderId"], int)


@pytest.mark.parametrize(
    ("field", "value"), [("userId", 77), ("currency", "USD"), ("personTypeId", 2), ("lid", "s2")]
)
def test_an_order_update_drops_its_immutable_fields(
    shop: RunningSandbox, rest: Any, place: Any, field: str, value: object
) -> None:
    order = place(shop, (1, 1))
    rest.ok("sale.order.update", {"id": order["id"], "fields": {field: value, "comments": "edited"}})
    after = rest.ok("sale.order.get", {"id": order["id"]})["result"]["order"]
    assert after[field] == order[field] and after["comments"] == "edited"


def test_unknown_filter_and_select_keys_are_dropped_silently(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    place(shop, (1, 1))
    everything = rest.ok("sale.order.list", {"select": ["id"]})["total"]
    body = rest.ok(
        "sale.order.list", {"select": ["id", "nonsense", "STATUS_ID"], "filter": {"statusIdd": "Z"}}
    )
    assert body["total"] == everything
    assert set(body["result"]["orders"][0]) == {"id"}


def test_upper_case_id_in_order_becomes_i_d_and_is_ignored(rest: Any) -> None:
    ascending = rest.ok("sale.order.list", {"select": ["id"], "order": {"ID": "DESC"}})["result"]["orders"]
    assert [row["id"] for row in ascending] == sorted(row["id"] for row in ascending)
    descending = rest.ok("sale.order.list", {"select": ["id"], "order": {"id": "DESC"}})["result"]["orders"]
    assert [row["id"] for row in descending] == sorted((row["id"] for row in descending), reverse=True)


def test_filter_operators(shop: RunningSandbox, rest: Any, place: Any) -> None:
    first = place(shop, (1, 1))["id"]
    second = place(shop, (2, 1), comment="urgent: fragile")["id"]
    rest.ok("sale.order.update", {"id": second, "fields": {"statusId": "P"}})
    within = {">=id": first, "<=id": second}
    assert _ids(rest, {**within, "@statusId": ["P", "Q"]}) == [second]
    assert _ids(rest, {**within, "!statusId": "P"}) == [first]
    assert _ids(rest, {**within, "%comments": "FRAGILE"}) == [second]
    assert _ids(rest, {**within, "statusId": ["N", "P"]}) == [first, second]
    assert _ids(rest, {"><id": [first, second]}) == [first, second]


def _ids(rest: Any, filter_: dict[str, Any]) -> list[int]:
    body = rest.ok("sale.order.list", {"select": ["id"], "filter": filter_})
    return [row["id"] for row in body["result"]["orders"]]


def test_read_only_fields_are_dropped_on_update(shop: RunningSandbox, rest: Any, place: Any) -> None:
    order = place(shop, (3, 1))
    updated = rest.ok(
        "sale.order.update",
        {"id": order["id"], "fields": {"payed": "Y", "accountNumber": "HACK", "statusId": "P", "bogus": 1}},
    )["result"]["order"]
    assert updated["payed"] == "N"
    assert updated["accountNumber"] == str(order["id"])
    assert updated["statusId"] == "P"
    assert updated["version"] == order["version"] + 1
    assert updated["dateStatus"] >= order["dateStatus"]


def test_unknown_status_is_refused_with_code_zero(shop: RunningSandbox, rest: Any, place: Any) -> None:
    order = place(shop, (3, 1))
    body = rest.error("sale.order.update", {"id": order["id"], "fields": {"statusId": "XX"}}, status=400)
    assert body["error"] == 0


def test_custom_error_status_can_be_added_and_used(shop: RunningSandbox, rest: Any, place: Any) -> None:
    shop.control.add_status("E", "Picking error", sort=150)
    statuses = rest.ok("sale.status.list", {"filter": {"type": "O"}, "select": ["id"]})["result"]["statuses"]
    assert [s["id"] for s in statuses] == ["D", "E", "F", "N", "P", "Q", "Z"]
    order = place(shop, (3, 1))
    updated = rest.ok("sale.order.update", {"id": order["id"], "fields": {"statusId": "E"}})
    assert updated["result"]["order"]["statusId"] == "E"
    langs = rest.ok("sale.statuslang.list", {"filter": {"statusId": "E"}})["result"]["statusLangs"]
    assert langs == [{"statusId": "E", "lid": "en", "name": "Picking error", "description": ""}]


def test_shipment_update_with_required_fields_and_carrier(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    order = place(
        shop, (4, 1), (5, 1), shipments=[{"deliveryId": 1, "lines": [0]}, {"deliveryId": 2, "lines": [1]}]
    )
    shipments = rest.ok("sale.shipment.list", {"filter": {"orderId": order["id"]}})["result"]["shipments"]
    assert [s["deliveryId"] for s in shipments] == [1, 2]
    assert shipments[1]["deliveryName"] == "CDEK"
    target = shipments[0]
    body = rest.ok(
        "sale.shipment.update",
        {
            "id": target["id"],
            "fields": {
                "allowDelivery": "Y",
                "deducted": "N",
                "deliveryId": 3,
                "statusId": "DN",
                "trackingNumber": "RU123456789",
                "deliveryName": "read-only, ignored",
            },
        },
    )["result"]["shipment"]
    assert body["trackingNumber"] == "RU123456789"
    assert body["deliveryId"] == 3
    assert body["deliveryName"] == "Russian Post"
    assert body["allowDelivery"] == "Y"
    assert body["dateAllowDelivery"] is not None
    assert body["shipmentItems"]


def test_shipment_update_resets_the_status_and_prices_it_is_not_sent(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    """sale-shipment-update.md: without statusId the status becomes DN, without the prices both become 0."""
    shipment = place(shop, (4, 1), shipments=[{"deliveryId": 2, "lines": [0]}])["shipments"][0]
    required = {"allowDelivery": "Y", "deducted": "N", "deliveryId": 2}
    sent = {**required, "statusId": "DF", "basePriceDelivery": 450, "priceDelivery": 420}
    echoed = rest.ok("sale.shipment.update", {"id": shipment["id"], "fields": sent})["result"]["shipment"]
    assert (echoed["statusId"], echoed["basePriceDelivery"], echoed["priceDelivery"]) == ("DF", 450, 420)

    only_tracking = {**required, "trackingNumber": "RU1"}
    after = rest.ok("sale.shipment.update", {"id": shipment["id"], "fields": only_tracking})["result"][
        "shipment"
    ]
    assert (after["statusId"], after["basePriceDelivery"], after["priceDelivery"]) == ("DN", 0, 0)
    stored = shop.control.entity("shipments", shipment["id"])
    assert (stored["statusId"], stored["priceDelivery"]) == ("DN", 0)


def test_a_seeded_shipment_costs_what_its_delivery_service_charges(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    shipment = place(shop, (4, 1), shipments=[{"deliveryId": 2, "lines": [0]}])["shipments"][0]
    stored = rest.ok("sale.shipment.get", {"id": shipment["id"]})["result"]["shipment"]
    assert stored["priceDelivery"] == stored["basePriceDelivery"] > 0


def test_shipment_with_unknown_delivery_or_status(shop: RunningSandbox, rest: Any, place: Any) -> None:
    shipment = place(shop, (4, 1))["shipments"][0]
    base = {"allowDelivery": "Y", "deducted": "N", "deliveryId": 1}
    assert (
        rest.error(
            "sale.shipment.update", {"id": shipment["id"], "fields": {**base, "deliveryId": 99}}, status=400
        )["error"]
        == 0
    )
    wrong = rest.error(
        "sale.shipment.update", {"id": shipment["id"], "fields": {**base, "statusId": "N"}}, status=400
    )
    assert "Delivery status" in wrong["error_description"]


def test_shipment_item_quantity_update(shop: RunningSandbox, rest: Any, place: Any) -> None:
    order = place(shop, (6, 3))
    line = order["shipments"][0]["shipmentItems"][0]
    updated = rest.ok("sale.shipmentitem.update", {"id": line["id"], "fields": {"quantity": 2}})
    assert updated["result"]["shipmentItem"]["quantity"] == 2
    too_many = rest.error(
        "sale.shipmentitem.update", {"id": line["id"], "fields": {"quantity": 5}}, status=400
    )
    assert too_many["error"] == 0


def test_payment_paid_flag_updates_order_payed(shop: RunningSandbox, rest: Any, place: Any) -> None:
    order = place(shop, (7, 1))
    payment = rest.ok("sale.payment.list", {"filter": {"orderId": order["id"]}})["result"]["payments"][0]
    assert payment["paid"] == "N"
    missing = rest.error("sale.payment.update", {"id": payment["id"], "fields": {"paid": "Y"}}, status=400)
    assert missing["error_description"] == "Required fields: paySystemId"  # starred on update in the docs
    fields = {"paid": "Y", "paySystemId": payment["paySystemId"]}
    assert (
        rest.ok("sale.payment.update", {"id": payment["id"], "fields": fields})["result"]["payment"]["paid"]
        == "Y"
    )
    assert rest.ok("sale.order.get", {"id": order["id"]})["result"]["order"]["payed"] == "Y"


def test_marking_codes_via_shipment_property_values(shop: RunningSandbox, rest: Any, place: Any) -> None:
    shipment = place(shop, (8, 2))["shipments"][0]
    props = rest.ok("sale.shipmentproperty.list", {"filter": {"code": "MARKING_CODES"}})["result"][
        "properties"
    ]
    prop_id = props[0]["id"]
    codes = "010460406000600021N4N57RSCBUZTQ\u001d2403004002910161218"
    modified = rest.ok(
        "sale.shipmentpropertyvalue.modify",
        {
            "fields": {
                "shipment": {
                    "id": shipment["id"],
                    "propertyValues": [{"shipmentPropsId": prop_id, "value": codes}],
                }
            }
        },
    )["result"]["propertyValues"]
    assert modified[0]["value"] == codes
    listed = rest.ok("sale.shipmentpropertyvalue.list", {"filter": {"shipmentId": shipment["id"]}})["result"]
    assert listed["propertyValues"][0]["code"] == "MARKING_CODES"
    assert listed["propertyValues"][0]["shipmentPropsId"] == prop_id
    missing = rest.error(
        "sale.shipmentpropertyvalue.modify",
        {"fields": {"shipment": {"id": 987654, "propertyValues": []}}},
        status=400,
    )
    assert missing["error"] == 201040400007


def test_a_shipment_property_the_shipment_lacks_is_skipped_and_a_long_value_fails_the_save(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    """ShipmentPropertyValue::modifyAction skips an unknown property id without a word, and OrderPropsTable keeps
    at most 500 characters (the order's save fails: 'Order save error')."""
    shipment = place(shop, (8, 1))["shipments"][0]
    prop_id = rest.ok("sale.shipmentproperty.list", {"filter": {"code": "SSCC"}})["result"]["properties"][0][
        "id"
    ]
    skipped = rest.ok(
        "sale.shipmentpropertyvalue.modify",
        {
            "fields": {
                "shipment": {
                    "id": shipment["id"],
                    "propertyValues": [{"shipmentPropsId": 99999, "value": "x"}],
                }
            }
        },
    )["result"]["propertyValues"]
    assert all(v["value"] != "x" for v in skipped)
    too_long = rest.error(
        "sale.shipmentpropertyvalue.modify",
        {
            "fields": {
                "shipment": {
                    "id": shipment["id"],
                    "propertyValues": [{"shipmentPropsId": prop_id, "value": "9" * 501}],
                }
            }
        },
        status=400,
    )
    assert too_long["error"] == 201040400008
    listed = rest.ok("sale.shipmentpropertyvalue.list", {"filter": {"shipmentId": shipment["id"]}})["result"]
    assert all(v["value"] != "9" * 501 for v in listed["propertyValues"])


def test_basket_properties_delete_and_the_value_limit(shop: RunningSandbox, rest: Any, place: Any) -> None:
    basket_id = int(place(shop, (9, 1))["basketItems"][0]["id"])
    fields = {"basketId": basket_id, "name": "Marking code", "code": "MARKING_CODE"}
    too_long = rest.error("sale.basketproperties.add", {"fields": {**fields, "value": "0" * 256}}, status=400)
    assert "255" in too_long["error_description"]
    added = rest.ok("sale.basketproperties.add", {"fields": {**fields, "value": "0" * 255, "xmlId": "mine"}})
    prop_id = added["result"]["basketProperty"]["id"]
    assert rest.ok("sale.basketproperties.delete", {"id": prop_id})["result"] is True
    gone = rest.error("sale.basketproperties.delete", {"id": prop_id}, status=400)
    assert gone["error"] == 200240400003
    listed = rest.ok("sale.basketproperties.list", {"filter": {"basketId": basket_id}})["result"][
        "basketProperties"
    ]
    assert [p for p in listed if p["xmlId"] == "mine"] == []
    basket = rest.ok("sale.basketitem.get", {"id": basket_id})["result"]["basketItem"]
    assert all(p.get("xmlId") != "mine" for p in basket.get("properties", []))


def test_basket_properties_add_and_list(shop: RunningSandbox, rest: Any, place: Any) -> None:
    basket_id = int(place(shop, (9, 1))["basketItems"][0]["id"])
    added = rest.ok(
        "sale.basketproperties.add",
        {
            "fields": {
                "basketId": basket_id,
                "name": "Marking code",
                "code": "MARKING_CODE",
                "value": "0104604",
            }
        },
    )["result"]["basketProperty"]
    assert added["basketId"] == basket_id
    assert added["xmlId"]
    listed = rest.ok(
        "sale.basketproperties.list", {"filter": {"basketId": basket_id, "code": "MARKING_CODE"}}
    )
    assert [p["value"] for p in listed["result"]["basketProperties"]] == ["0104604"]
    missing = rest.error("sale.basketproperties.add", {"fields": {"basketId": basket_id}}, status=400)
    assert missing["error_description"] == "Required fields: name, value"


def test_order_add_with_basket(shop: RunningSandbox, rest: Any) -> None:
    missing = rest.error("sale.order.add", {"fields": {"lid": "s1"}}, status=400)
    assert missing["error_description"] == "Required fields: personTypeId, currency"
    created = rest.ok(
        "sale.order.add",
        {
            "fields": {
                "lid": "s1",
                "personTypeId": 1,
                "currency": "RUB",
                "userId": 5,
                "basketItems": [{"productId": 10, "quantity": 2}],
            }
        },
    )["result"]["order"]
    assert created["userId"] == 5
    assert created["basketItems"][0]["productId"] == 10


def test_date_filters_accept_iso_and_site_format(shop: RunningSandbox, rest: Any, place: Any) -> None:
    order = place(shop, (1, 1))
    stamp = order["dateUpdate"]  # e.g. 2026-11-27T03:59:44+03:00
    day, clock = stamp[:10].split("-"), stamp[11:19]
    site_format = f"{day[2]}.{day[1]}.{day[0]} {clock}"
    for value in (stamp, site_format):
        found = _ids(rest, {">=dateUpdate": value, "id": order["id"]})
        assert found == [order["id"]], value
    shop.control.advance_clock(120)
    try:
        rest.ok("sale.order.update", {"id": order["id"], "fields": {"comments": "touched later"}})
    finally:
        shop.control.advance_clock(-120)
    changed = _ids(rest, {">dateUpdate": stamp})
    assert order["id"] in changed
    assert _ids(rest, {">dateUpdate": stamp, "<id": order["id"]}) == []


def test_delivery_services_legacy_list(rest: Any) -> None:
    everything = rest.ok("sale.delivery.getlist")["result"]
    assert [d["NAME"] for d in everything] == ["Courier", "CDEK", "Russian Post", "Pickup point"]
    assert set(everything[0]) == {"ID", "PARENT_ID", "NAME", "CURRENCY", "DESCRIPTION", "SORT", "ACTIVE"}
    picked = rest.ok(
        "sale.delivery.getList",
        {"SELECT": ["ID", "NAME"], "FILTER": {"%NAME": "post"}, "ORDER": {"ID": "DESC"}},
    )
    assert picked["result"] == [{"ID": 3, "NAME": "Russian Post"}]
    assert "total" not in picked


def test_flags_must_be_y_or_n_and_numbers_are_cast_like_php(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    order = place(shop, (11, 3))
    shipment = order["shipments"][0]
    fields = {"allowDelivery": "True", "deducted": "N", "deliveryId": shipment["deliveryId"]}
    wrong = rest.error("sale.shipment.update", {"id": shipment["id"], "fields": fields}, status=400)
    assert wrong == {
        "error": 0,
        "error_description": "Invalid value of field allowDelivery: 'True', use Y or N",
    }
    fields["allowDelivery"] = True  # a JSON boolean is accepted as Y
    assert (
        rest.ok("sale.shipment.update", {"id": shipment["id"], "fields": fields})["result"]["shipment"][
            "allowDelivery"
        ]
        == "Y"
    )
    line = shipment["shipmentItems"][0]
    cast = rest.ok("sale.shipmentitem.update", {"id": line["id"], "fields": {"quantity": "2pcs"}})
    assert cast["result"]["shipmentItem"]["quantity"] == 2
    nested = rest.error("sale.order.update", {"id": order["id"], "fields": {"comments": ["a"]}}, status=400)
    assert nested["error"] == 0


def _state(shop: RunningSandbox) -> dict[str, Any]:
    tables = ("orders", "basketItems", "shipments", "storeProducts", "products", "shipmentPropertyValues")
    return {table: shop.control.entities(table) for table in tables}


def test_a_refused_property_value_modify_writes_none_of_its_values(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    # The controller applies every value to the loaded order and saves it once; an error means no save.
    shipment = place(shop, (8, 1))["shipments"][0]
    props = rest.ok("sale.shipmentproperty.list", {"filter": {"code": "MARKING_CODES"}})["result"]
    prop_id = props["properties"][0]["id"]
    before = _state(shop)
    refused = rest.error(
        "sale.shipmentpropertyvalue.modify",
        {
            "fields": {
                "shipment": {
                    "id": shipment["id"],
                    "propertyValues": [
                        {"shipmentPropsId": prop_id, "value": "written too early"},
                        {"shipmentPropsId": prop_id + 1, "value": "x" * 501},
                    ],
                }
            }
        },
        status=400,
    )
    assert refused["error"] == 201040400008
    assert _state(shop) == before


@pytest.mark.parametrize(
    "lines",
    [
        [{"productId": 1, "quantity": 1}, {"productId": 987654, "quantity": 1}],
        [{"productId": 1, "quantity": -1}],
        [{"productId": 1, "quantity": 0}],
        [{"productId": 1, "quantity": "inf"}],
        [{"productId": "abc", "quantity": 1}],
    ],
)
def test_a_refused_order_add_creates_and_reserves_nothing(
    shop: RunningSandbox, rest: Any, lines: list[dict[str, Any]]
) -> None:
    before = _state(shop)
    rest.error(
        "sale.order.add",
        {"fields": {"lid": "s1", "personTypeId": 1, "currency": "RUB", "basketItems": lines}},
        status=400,
    )
    assert _state(shop) == before


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("sale.order.update", '{"id": 1, "fields": {"responsibleId": 1e400}}'),
        ("sale.order.update", '{"id": 1, "fields": {"comments": "kept?", "price": -1e400}}'),
        ("catalog.product.update", '{"id": 1, "fields": {"weight": 1e400}}'),
    ],
)
def test_numbers_too_large_for_a_double_are_refused(shop: RunningSandbox, method: str, body: str) -> None:
    # JSON allows 1e400; it decodes to INF, which no column can hold and no JSON answer can carry.
    before = _state(shop)
    with httpx.Client(verify=ssl.create_default_context(cafile=str(shop.ca_file))) as http:
        response = http.post(
            shop.webhook_url + method, content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == 0
    assert "Invalid value of field" in response.json()["error_description"]
    assert _state(shop) == before


def test_a_cancel_is_the_flag_not_a_status_and_is_refused_for_a_paid_order(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    """sale-order-update.md, status/index.md: the cancel flag is separate from the status; [src] a cancel is refused
    while a payment is paid, and releases the reservations otherwise; un-cancelling reserves them again."""
    order = place(shop, (4, 1))
    rest.ok("sale.order.update", {"id": order["id"], "fields": {"statusId": "Z"}})
    held = shop.control.entity("orders", order["id"])
    assert held["statusId"] == "Z" and held["canceled"] == "N"
    lines = shop.control.entities("shipmentItems", orderDeliveryId=order["shipments"][0]["id"])
    assert all(float(line["reservedQuantity"]) > 0 for line in lines)  # a status releases nothing

    [payment] = shop.control.entities("payments", orderId=order["id"])
    paid = {"paid": "Y", "paySystemId": payment["paySystemId"]}
    rest.ok("sale.payment.update", {"id": payment["id"], "fields": paid})
    refused = rest.error("sale.order.update", {"id": order["id"], "fields": {"canceled": "Y"}}, status=400)
    assert refused["error"] == "SALE_ORDER_CANCEL_PAYMENT_EXIST_ACTIVE"
    assert shop.control.entity("orders", order["id"])["canceled"] == "N"

    rest.ok("sale.payment.update", {"id": payment["id"], "fields": {**paid, "paid": "N"}})
    rest.ok("sale.order.update", {"id": order["id"], "fields": {"canceled": "Y", "reasonCanceled": "WMS"}})
    lines = shop.control.entities("shipmentItems", orderDeliveryId=order["shipments"][0]["id"])
    assert shop.control.entity("orders", order["id"])["canceled"] == "Y"
    assert all(float(line["reservedQuantity"]) == 0 for line in lines)  # the cancel released them
    released = float(shop.control.entity("products", 4)["quantityReserved"])

    [item] = shop.control.entities("basketItems", orderId=order["id"])
    shop.control.edit_line(order["id"], int(item["id"]), 3)  # changed while cancelled: still nothing held
    assert float(shop.control.entity("products", 4)["quantityReserved"]) == released
    rest.ok("sale.order.update", {"id": order["id"], "fields": {"canceled": "N"}})  # un-cancelled
    lines = shop.control.entities("shipmentItems", orderDeliveryId=order["shipments"][0]["id"])
    assert all(
        float(line["reservedQuantity"]) == float(line["quantity"]) == 3 for line in lines
    )  # held again
    assert float(shop.control.entity("products", 4)["quantityReserved"]) == released + 3


def test_a_basket_line_deleted_or_changed_releases_or_moves_its_reservation(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    """sale-basket-item-delete.md / -update.md: the line leaves the basket and its shipment with its reservation; a
    new quantity moves the reservation; an unknown item is 200140400001; a shipped line stays."""
    order = place(shop, (4, 1), (5, 2))
    kept, removed = sorted(int(i["id"]) for i in shop.control.entities("basketItems", orderId=order["id"]))
    reserved_before = float(shop.control.entity("products", 5)["quantityReserved"])
    version = int(shop.control.entity("orders", order["id"])["version"])
    assert rest.ok("sale.basketitem.delete", {"id": removed})["result"] is True
    assert [int(i["id"]) for i in shop.control.entities("basketItems", orderId=order["id"])] == [kept]
    assert not shop.control.entities("shipmentItems", basketId=removed)
    assert float(shop.control.entity("products", 5)["quantityReserved"]) == reserved_before - 2
    assert int(shop.control.entity("orders", order["id"])["version"]) == version + 1
    assert rest.error("sale.basketitem.delete", {"id": removed}, status=400)["error"] == 200140400001

    reserved = float(shop.control.entity("products", 4)["quantityReserved"])
    changed = rest.ok("sale.basketitem.update", {"id": kept, "fields": {"quantity": 3}})["result"][
        "basketItem"
    ]
    assert float(changed["quantity"]) == 3
    assert float(shop.control.entity("products", 4)["quantityReserved"]) == reserved + 2

    shipment = order["shipments"][0]
    fields = {"allowDelivery": "Y", "deducted": "Y", "deliveryId": shipment["deliveryId"]}
    rest.ok("sale.shipment.update", {"id": shipment["id"], "fields": fields})
    assert rest.error("sale.basketitem.delete", {"id": kept}, status=400)["error"] == 0  # shipped: it stays
    # ... and keeps its quantity, through REST and through a manager's order form alike
    refused = rest.error("sale.basketitem.update", {"id": kept, "fields": {"quantity": 4}}, status=400)
    assert "deducted" in refused["error_description"]
    with pytest.raises(ControlError, match="deducted") as form:
        shop.control.edit_line(order["id"], kept, 4)
    assert form.value.status == 400
    assert float(shop.control.entity("basketItems", kept)["quantity"]) == 3


def test_a_line_added_to_an_order_then_put_in_a_shipment(shop: RunningSandbox, rest: Any, place: Any) -> None:
    """sale-basket-item-add.md and sale-shipment-item-add.md, each refusal with its documented code: the new item
    is in no shipment until sale.shipmentitem.add puts it in one; neither reserves anything."""
    order = place(shop, (4, 1))
    shipment_id = order["shipments"][0]["id"]
    version = int(shop.control.entity("orders", order["id"])["version"])
    reserved = float(shop.control.entity("products", 6)["quantityReserved"])
    fields = {"orderId": order["id"], "productId": 6, "quantity": 2, "currency": "RUB", "xmlId": "sub-1"}
    item = rest.ok("sale.basketitem.add", {"fields": fields})["result"]["basketItem"]
    assert isinstance(item["id"], int) and item["xmlId"] == "sub-1" and item["name"]
    assert item["reservations"] == [] and not shop.control.entities("shipmentItems", basketId=item["id"])
    assert float(shop.control.entity("products", 6)["quantityReserved"]) == reserved
    assert int(shop.control.entity("orders", order["id"])["version"]) == version + 1
    found = rest.ok("sale.basketitem.list", {"filter": {"orderId": order["id"], "xmlId": "sub-1"}})
    assert [i["id"] for i in found["result"]["basketItems"]] == [item["id"]]

    line = {"orderDeliveryId": shipment_id, "basketId": item["id"], "quantity": 2}
    added = rest.ok("sale.shipmentitem.add", {"fields": line})["result"]["shipmentItem"]
    assert (
        float(added["quantity"]) == 2 and float(added["reservedQuantity"]) == 0
    )  # as the docs' answer shows
    assert float(shop.control.entity("products", 6)["quantityReserved"]) == reserved
    assert rest.error("sale.shipmentitem.add", {"fields": line}, status=400)["error"] == 201250000001

    def refused(method: str, fields: dict[str, Any]) -> object:
        return rest.error(method, {"fields": fields}, status=400)["error"]

    assert refused("sale.basketitem.add", {**fields, "orderId": 999999}) == 200140400009
    assert refused("sale.basketitem.add", {k: v for k, v in fields.items() if k != "orderId"}) == 200140400008
    assert refused("sale.basketitem.add", {**fields, "currency": "USD"}) == 200140400011
    assert refused("sale.basketitem.add", {**fields, "productId": 999999}) == 200140400007
    assert refused("sale.shipmentitem.add", {**line, "orderDeliveryId": 999999}) == 201240400002
    assert refused("sale.shipmentitem.add", {**line, "basketId": 999999}) == 201240400003


@pytest.mark.parametrize(
    ("profile", "statuses"),
    [
        (
            "bitrix24",
            {
                "N": "Accepted, awaiting payment",
                "S": "Shipped",
                "P": "Paid, preparing for shipment",
                "D": "Canceled",
                "F": "Completed",
            },
        ),
        ("site", {"N": "Accepted, awaiting payment", "P": "Paid, preparing for shipment", "F": "Completed"}),
    ],
)
def test_each_product_seeds_its_own_default_statuses(profile: str, statuses: dict[str, str]) -> None:
    """sale/status/index.md "Default Statuses" (Bitrix24) and the sale module's installation (Site Management):
    the product's own statuses, nothing more; Bitrix24's D is named Canceled and cancels nothing."""
    with running_bitrix_sandbox(SandboxConfig(profile=profile, statuses="product")) as shop:
        client = httpx.Client(verify=ssl.create_default_context(cafile=str(shop.ca_file)), timeout=30)
        with client:
            listed = client.post(
                shop.webhook_url + "sale.status.list",
                json={"filter": {"type": "O"}, "order": {"sort": "asc"}},
            ).json()
            names = client.post(
                shop.webhook_url + "sale.statusLang.list", json={"filter": {"lid": "en"}}
            ).json()
        assert [row["id"] for row in listed["result"]["statuses"]] == list(statuses)
        named = {row["statusId"]: row["name"] for row in names["result"]["statusLangs"]}
        assert {sid: named.get(sid) for sid in statuses} == statuses


def test_the_integrated_shop_adds_only_what_the_brief_s_mapping_lacks() -> None:
    for profile, extra in (("bitrix24", ["Q", "Z"]), ("site", ["Q", "D", "Z"])):
        with running_bitrix_sandbox(SandboxConfig(profile=profile)) as shop:
            ids = [row["id"] for row in shop.control.entities("statuses") if row["type"] == "O"]
            product = ["N", "S", "P", "D", "F"] if profile == "bitrix24" else ["N", "P", "F"]
            assert sorted(ids) == sorted(product + [s for s in extra if s not in product])

"""Bitrix payload → models, wire helpers and settings validation: the pure parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError as PydanticValidationError

from bitrix_inflow.adapters.bitrix import DocumentStatus, ProductType, mappers, wire
from bitrix_inflow.adapters.bitrix.settings import BitrixSettings, webhook_parts

# Shaped like the documented sale.order.get example: int ids on the order, strings on nested rows.
ORDER_GET: dict[str, Any] = {
    "id": 236,
    "accountNumber": "236",
    "xmlId": "bx_65df53063d56d",
    "lid": "s1",
    "statusId": "N",
    "canceled": "N",
    "payed": "Y",
    "price": "1234.50",
    "currency": "RUB",
    "dateInsert": "2024-02-28T17:36:55+02:00",
    "dateUpdate": "2024-02-28T17:40:00+02:00",
    "userDescription": "",
    "basketItems": [],
    "propertyValues": [
        {"id": "1", "orderPropsId": "3", "code": "PHONE", "name": "Phone", "value": "+7 900 000-00-00"},
        {"id": "2", "orderPropsId": "7", "code": "TAGS", "name": "Tags", "value": ["a", "b"]},
    ],
    "shipments": [
        {
            "id": "338",
            "orderId": "236",
            "system": "N",
            "allowDelivery": "N",
            "deducted": "N",
            "deliveryId": "2",
            "shipmentItems": [{"id": "40", "orderDeliveryId": "338", "basketId": "255", "quantity": "2"}],
        },
        {
            "id": "337",
            "orderId": "236",
            "system": "Y",
            "allowDelivery": "N",
            "deducted": "N",
            "deliveryId": "1",
        },
    ],
}


def test_order_header_coerces_types() -> None:
    order = mappers.order_header(ORDER_GET)
    assert order.id == 236
    assert order.paid is True and order.canceled is False
    assert order.price == Decimal("1234.50")
    assert order.date_update == datetime(2024, 2, 28, 17, 40, tzinfo=timezone(timedelta(hours=2)))
    assert order.user_description is None
    assert order.site_id == "s1"


def test_basket_line_with_string_ids_and_properties() -> None:
    line = mappers.basket_line(
        {
            "id": "255",
            "orderId": "236",
            "productId": "6973",
            "productXmlId": "1000000386",
            "name": "Socks",
            "quantity": 2,
            "price": 99.9,
            "currency": "RUB",
            "measureCode": "796",
            "measureName": "pcs",
            "properties": [{"code": "SIZE", "name": "Size", "value": "42"}],
        }
    )
    assert (line.id, line.order_id, line.product_id) == (255, 236, 6973)
    assert line.quantity == Decimal(2)
    assert line.properties[0].code == "SIZE"


def test_basket_line_not_from_catalog_has_no_product() -> None:
    line = mappers.basket_line({"id": 1, "orderId": 2, "productId": 0, "quantity": "1", "properties": {}})
    assert line.product_id is None
    assert line.properties == ()


def test_shipment_uses_nested_items_and_flags() -> None:
    shipment = mappers.shipment(ORDER_GET["shipments"][0])
    assert shipment.id == 338 and shipment.delivery_id == 2
    assert shipment.allow_delivery is False
    assert shipment.lines[0].basket_id == 255 and shipment.lines[0].shipment_id == 338
    assert mappers.is_system_shipment(ORDER_GET["shipments"][1])
    assert not mappers.is_system_shipment(ORDER_GET["shipments"][0])


def test_property_values_keep_multi_values_readable() -> None:
    values = [mappers.property_value(row) for row in ORDER_GET["propertyValues"]]
    assert values[0].code == "PHONE" and values[0].property_id == 3
    assert values[1].value == "a, b"


def test_status_and_store_rows() -> None:
    status = mappers.sale_status({"id": "N", "type": "O", "notify": "Y", "sort": 10, "xmlId": None})
    assert status.notify is True and status.sort == 10
    store = mappers.catalog_store(
        {"id": "1", "title": "Main", "active": "Y", "code": "store_1", "xmlId": None}
    )
    assert store.id == 1 and store.active is True and store.xml_id is None


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ({"id": "x", "statusId": "N"}, "order.id"),
        ({"id": 1}, "statusId"),
        ({"id": 1, "statusId": "N", "canceled": "maybe"}, "order.canceled"),
        ({"id": 1, "statusId": "N", "price": "abc"}, "order.price"),
        ({"id": 1, "statusId": "N", "dateUpdate": "yesterday"}, "order.dateUpdate"),
        ({"id": True, "statusId": "N"}, "order.id"),
    ],
)
def test_malformed_order_rows_name_the_field(row: dict[str, Any], fragment: str) -> None:
    with pytest.raises((ValueError, TypeError), match=fragment):
        mappers.order_header(row)


def test_yn_never_bool() -> None:
    assert (wire.yn(True), wire.yn(False)) == ("Y", "N")
    assert wire.from_yn("Y", field="f") and not wire.from_yn(None, field="f")


def test_wire_guard_refuses_booleans_anywhere() -> None:
    wire.assert_wire_safe({"fields": {"deducted": "Y", "ids": [1, 2]}})
    with pytest.raises(TypeError, match=r"params\[fields\]\[deducted\]"):
        wire.assert_wire_safe({"fields": {"deducted": True}})
    with pytest.raises(TypeError, match=r"\[1\]"):
        wire.assert_wire_safe({"ids": [1, False]})


@pytest.mark.parametrize(("value", "expected"), [(5, 5), ("255", 255), (" 7 ", 7)])
def test_ids_accept_int_and_numeric_string(value: object, expected: int) -> None:
    assert wire.to_id(value, field="id") == expected


@pytest.mark.parametrize("value", ["", "12a", None, 1.5, "-3"])
def test_ids_refuse_the_rest(value: object) -> None:
    with pytest.raises((ValueError, TypeError), match="id"):
        wire.to_id(value, field="id")


def test_dates_keep_offsets_and_refuse_naive_output() -> None:
    parsed = wire.parse_dt("2024-04-11T18:04:51+02:00", field="d")
    assert parsed is not None and parsed.utcoffset() == timedelta(hours=2)
    assert wire.parse_dt("2024-04-11 18:04:51", field="d") == datetime(2024, 4, 11, 18, 4, 51, tzinfo=UTC)
    assert wire.format_dt(datetime(2024, 4, 11, 16, 4, 51, tzinfo=UTC)) == "2024-04-11T16:04:51+00:00"
    with pytest.raises(ValueError, match="timezone"):
        wire.format_dt(datetime(2024, 4, 11))


def test_php_empty_map_and_keyed_lists_become_lists() -> None:
    assert wire.as_rows([], field="x") == []
    assert wire.as_rows({}, field="x") == []
    assert wire.as_rows({"0": {"a": 1}, "2": {"a": 2}}, field="x") == [{"a": 1}, {"a": 2}]
    with pytest.raises(TypeError, match="x"):
        wire.as_rows("nope", field="x")


# -- settings ---------------------------------------------------------------------------------------------


def test_webhook_url_parts() -> None:
    assert webhook_parts("https://shop.example.ru/rest/1/abc123/") == (
        "https://shop.example.ru/rest",
        "1",
        "abc123",
    )
    assert webhook_parts("https://127.0.0.1:8443/rest/7/x") == ("https://127.0.0.1:8443/rest", "7", "x")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://shop.example.ru/rest/1/abc/", "https"),
        ("https://shop.example.ru/1/abc/", "USER_ID/CODE"),
        ("https://shop.example.ru/rest/admin/abc/", "number"),
        ("shop.example.ru/rest/1/abc", "https"),
    ],
)
def test_bad_webhook_urls_are_explained(url: str, fragment: str) -> None:
    with pytest.raises(PydanticValidationError, match=fragment):
        BitrixSettings(webhook_url=url)


def test_settings_need_exactly_one_way_in() -> None:
    with pytest.raises(PydanticValidationError, match="exactly one"):
        BitrixSettings()


def test_settings_defaults_and_limiter_by_profile(tmp_path: Path) -> None:
    site = BitrixSettings(webhook_url="https://shop.example.ru/rest/1/abc/")
    assert site.read_timeout >= 65
    assert site.limiter_on is False
    cloud = BitrixSettings(webhook_url="https://x.bitrix24.ru/rest/1/abc/", profile="bitrix24")
    assert cloud.limiter_on is True and cloud.rate_per_second <= 2
    forced = BitrixSettings(webhook_url="https://shop.example.ru/rest/1/abc/", rate_limit=True)
    assert forced.limiter_on is True
    assert "abc" not in repr(site)  # the webhook code is a secret
    with pytest.raises(PydanticValidationError, match="does not exist"):
        BitrixSettings(webhook_url="https://shop.example.ru/rest/1/abc/", verify=tmp_path / "missing.pem")
    with pytest.raises(PydanticValidationError, match="read_timeout"):
        BitrixSettings(webhook_url="https://shop.example.ru/rest/1/abc/", read_timeout=0)


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ({"value": "A-1", "valueId": "9735"}, "A-1"),
        ([{"value": "", "valueId": "1"}, {"value": "A-2", "valueId": "2"}], "A-2"),
        ({"value": "  ", "valueId": "1"}, None),
        (None, None),
        (42, "42"),
        ({"value": {"TEXT": "html"}, "valueId": "1"}, None),
    ],
)
def test_the_matching_key_out_of_a_property_value(value: object, key: str | None) -> None:
    row = {"id": "5", "iblockId": "23", "name": "P", "type": "1", "property7": value}
    assert mappers.catalog_item(row, key="property7").key == key


def test_catalog_rows_of_every_kind() -> None:
    offer = mappers.catalog_item(
        {"id": 9, "iblockId": 24, "type": 4, "parentId": {"value": "8", "valueId": "1"}, "xmlId": "X"},
        key="xmlId",
    )
    assert (offer.parent_id, offer.key, offer.is_offer, offer.has_offers) == (8, "X", True, False)
    free = mappers.catalog_item({"id": 10, "iblockId": 24, "type": 5, "parentId": None}, key="xmlId")
    assert free.is_offer and free.parent_id is None and free.key is None
    later = mappers.catalog_item({"id": 11, "iblockId": 23, "type": 99}, key="xmlId")
    assert later.type is ProductType.UNKNOWN  # a type Bitrix adds later does not fail the read
    with pytest.raises(ValueError, match="barcodeMulti"):
        mappers.catalog_item({"id": 12, "iblockId": 23, "type": 1, "barcodeMulti": "maybe"}, key="xmlId")


def test_document_rows() -> None:
    header = mappers.stock_document_header({"id": "3", "docType": "S", "status": "C", "title": None})
    assert header.status is DocumentStatus.CANCELLED and header.title is None
    with pytest.raises(ValueError, match=r"document 3\.status"):
        mappers.stock_document_header({"id": 3, "docType": "S", "status": "X"})
    line = mappers.stock_document_line(
        {"id": 1, "docId": 3, "elementId": 5, "amount": "2.5", "storeFrom": 0, "storeTo": "2"}
    )
    assert (line.amount, line.store_from, line.store_to, line.purchasing_price) == (
        Decimal("2.5"),
        None,
        2,
        None,
    )
    amount = mappers.store_amount(
        {"id": 1, "productId": "5", "storeId": 2, "amount": None, "quantityReserved": 3}
    )
    assert (amount.amount, amount.reserved) == (Decimal(0), Decimal(3))

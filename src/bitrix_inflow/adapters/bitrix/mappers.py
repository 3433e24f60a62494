"""Bitrix JSON rows (camelCase, mixed id types, Y/N strings) → the gateway's frozen models.

Every function raises ``ValueError`` naming the field on a malformed row; the gateway turns that into a
``PermanentError`` naming the method (``replies.mapped``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .models import (
    BasketLine,
    BasketProperty,
    CatalogStore,
    OrderHeader,
    PropertyValue,
    SaleStatus,
    Shipment,
    ShipmentLine,
)
from .wire import (
    as_rows,
    from_yn,
    parse_dt,
    to_decimal,
    to_id,
    to_opt_id,
    to_opt_str,
    to_str,
)

Row = Mapping[str, Any]

# What the poller asks for; Bitrix silently drops unknown select keys, so keep this list to documented fields.
ORDER_SELECT = (
    "id",
    "accountNumber",
    "xmlId",
    "lid",
    "statusId",
    "canceled",
    "payed",
    "price",
    "currency",
    "dateInsert",
    "dateUpdate",
    "userDescription",
    "comments",
)


def order_header(row: Row) -> OrderHeader:
    order_id = to_id(row.get("id"), field="order.id")
    status = row.get("statusId")
    if not isinstance(status, str) or not status:
        raise ValueError(f"order {order_id}: statusId missing")
    return OrderHeader(
        id=order_id,
        account_number=to_str(row.get("accountNumber")) or str(order_id),
        xml_id=to_opt_str(row.get("xmlId")),
        site_id=to_opt_str(row.get("lid")),
        status_id=status,
        canceled=from_yn(row.get("canceled"), field="order.canceled"),
        paid=from_yn(row.get("payed"), field="order.payed"),
        price=to_decimal(row.get("price", 0), field="order.price"),
        currency=to_str(row.get("currency")),
        date_insert=parse_dt(row.get("dateInsert"), field="order.dateInsert"),
        date_update=parse_dt(row.get("dateUpdate"), field="order.dateUpdate"),
        user_description=to_opt_str(row.get("userDescription")),
        comments=to_opt_str(row.get("comments")),
    )


def basket_line(row: Row) -> BasketLine:
    line_id = to_id(row.get("id"), field="basketItem.id")
    where = f"basketItem {line_id}"
    properties = tuple(
        BasketProperty(
            code=to_opt_str(prop.get("code")),
            name=to_str(prop.get("name")),
            value=to_str(prop.get("value")),
        )
        for prop in as_rows(row.get("properties"), field=f"{where}.properties")
    )
    return BasketLine(
        id=line_id,
        order_id=to_id(row.get("orderId"), field=f"{where}.orderId"),
        product_id=to_opt_id(row.get("productId"), field=f"{where}.productId"),
        product_xml_id=to_opt_str(row.get("productXmlId")),
        name=to_str(row.get("name")),
        quantity=to_decimal(row.get("quantity"), field=f"{where}.quantity"),
        price=to_decimal(row.get("price", 0), field=f"{where}.price"),
        currency=to_str(row.get("currency")),
        measure_code=to_opt_str(row.get("measureCode")),
        measure_name=to_opt_str(row.get("measureName")),
        xml_id=to_opt_str(row.get("xmlId")),
        properties=properties,
    )


def shipment_line(row: Row, *, shipment_id: int | None = None) -> ShipmentLine:
    line_id = to_id(row.get("id"), field="shipmentItem.id")
    where = f"shipmentItem {line_id}"
    owner = row.get("orderDeliveryId", shipment_id)
    return ShipmentLine(
        id=line_id,
        shipment_id=to_id(owner, field=f"{where}.orderDeliveryId"),
        basket_id=to_id(row.get("basketId"), field=f"{where}.basketId"),
        quantity=to_decimal(row.get("quantity"), field=f"{where}.quantity"),
    )


def is_system_shipment(row: Row) -> bool:
    # Every order has a hidden "system" shipment holding unshipped goods; sale.shipment.list omits it.
    return row.get("system") in ("Y", True)


def shipment(row: Row, lines: tuple[ShipmentLine, ...] | None = None) -> Shipment:
    shipment_id = to_id(row.get("id"), field="shipment.id")
    where = f"shipment {shipment_id}"
    if lines is None:
        lines = tuple(
            shipment_line(item, shipment_id=shipment_id)
            for item in as_rows(row.get("shipmentItems"), field=f"{where}.shipmentItems")
        )
    return Shipment(
        id=shipment_id,
        order_id=to_id(row.get("orderId"), field=f"{where}.orderId"),
        account_number=to_opt_str(row.get("accountNumber")),
        status_id=to_opt_str(row.get("statusId")),
        allow_delivery=from_yn(row.get("allowDelivery"), field=f"{where}.allowDelivery"),
        deducted=from_yn(row.get("deducted"), field=f"{where}.deducted"),
        delivery_id=to_id(row.get("deliveryId"), field=f"{where}.deliveryId"),
        delivery_name=to_opt_str(row.get("deliveryName")),
        delivery_xml_id=to_opt_str(row.get("deliveryXmlId")),
        tracking_number=to_opt_str(row.get("trackingNumber")),
        lines=lines,
    )


def property_value(row: Row) -> PropertyValue:
    return PropertyValue(
        id=to_opt_id(row.get("id"), field="propertyValue.id"),
        property_id=to_opt_id(row.get("orderPropsId"), field="propertyValue.orderPropsId"),
        code=to_opt_str(row.get("code")),
        name=to_opt_str(row.get("name")),
        value=_property_text(row.get("value")),
    )


def _property_text(value: object) -> str:
    # Multiple-value properties arrive as lists; location/file ones as objects. Keep a readable text.
    if isinstance(value, list):
        return ", ".join(_property_text(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_property_text(v)}" for k, v in value.items())
    return to_str(value)


def sale_status(row: Row) -> SaleStatus:
    status_id = row.get("id")
    if not isinstance(status_id, str) or not status_id:
        raise ValueError(f"status.id: expected a status code, got {status_id!r}")
    return SaleStatus(
        id=status_id,
        type=to_str(row.get("type")) or "O",
        sort=int(to_decimal(row.get("sort", 0), field=f"status {status_id}.sort")),
        notify=from_yn(row.get("notify"), field=f"status {status_id}.notify"),
        xml_id=to_opt_str(row.get("xmlId")),
        color=to_opt_str(row.get("color")),
    )


def catalog_store(row: Row) -> CatalogStore:
    store_id = to_id(row.get("id"), field="store.id")
    return CatalogStore(
        id=store_id,
        title=to_str(row.get("title")),
        active=from_yn(row.get("active", "Y"), field=f"store {store_id}.active"),
        code=to_opt_str(row.get("code")),
        xml_id=to_opt_str(row.get("xmlId")),
        address=to_opt_str(row.get("address")),
    )

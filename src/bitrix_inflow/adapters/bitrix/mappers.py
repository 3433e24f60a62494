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
    CatalogItem,
    CatalogStore,
    DocumentStatus,
    OrderHeader,
    ProductType,
    PropertyValue,
    SaleStatus,
    Shipment,
    ShipmentLine,
    StockDocumentHeader,
    StockDocumentLine,
    StoreAmount,
    TradeCatalog,
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
    "personTypeId",
    "statusId",
    "canceled",
    "payed",
    "price",
    "currency",
    "dateInsert",
    "dateUpdate",
    "userDescription",
    "comments",
    "version",  # one more on every save of the order: how the service tells its own writes from others'
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
        person_type_id=to_opt_id(row.get("personTypeId"), field="order.personTypeId"),
        status_id=status,
        canceled=from_yn(row.get("canceled"), field="order.canceled"),
        paid=from_yn(row.get("payed"), field="order.payed"),
        price=to_decimal(row.get("price", 0), field="order.price"),
        currency=to_str(row.get("currency")),
        date_insert=parse_dt(row.get("dateInsert"), field="order.dateInsert"),
        date_update=parse_dt(row.get("dateUpdate"), field="order.dateUpdate"),
        user_description=to_opt_str(row.get("userDescription")),
        comments=to_opt_str(row.get("comments")),
        version=None
        if row.get("version") in (None, "")
        else to_id(row.get("version"), field="order.version"),
    )


def basket_property(row: Row) -> BasketProperty:
    return BasketProperty(
        code=to_opt_str(row.get("code")),
        name=to_str(row.get("name")),
        value=to_str(row.get("value")),
        id=to_id(row.get("id"), field="basketProperty.id"),
        xml_id=to_opt_str(row.get("xmlId")),
    )


def basket_line(row: Row) -> BasketLine:
    line_id = to_id(row.get("id"), field="basketItem.id")
    where = f"basketItem {line_id}"
    properties = tuple(
        BasketProperty(
            code=to_opt_str(prop.get("code")),
            name=to_str(prop.get("name")),
            value=to_str(prop.get("value")),
            id=to_id(prop["id"], field=f"{where}.properties.id")
            if prop.get("id") not in (None, "")
            else None,
            xml_id=to_opt_str(prop.get("xmlId")),
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


def trade_catalog(row: Row) -> TradeCatalog:
    catalog_id = to_id(row.get("id"), field="catalog.id")
    where = f"catalog {catalog_id}"
    return TradeCatalog(
        id=catalog_id,
        iblock_id=to_id(row.get("iblockId", catalog_id), field=f"{where}.iblockId"),
        name=to_str(row.get("name")),
        product_iblock_id=to_opt_id(row.get("productIblockId"), field=f"{where}.productIblockId"),
        sku_property_id=to_opt_id(row.get("skuPropertyId"), field=f"{where}.skuPropertyId"),
    )


def product_type(value: object) -> ProductType:
    if isinstance(value, bool):
        return ProductType.UNKNOWN
    try:
        return ProductType(int(str(value)))
    except ValueError:
        return ProductType.UNKNOWN


def property_text(value: object) -> str | None:
    """A ``propertyN`` as catalog lists send it: ``{value, valueId}``, a list of those for a multiple property,
    or null. The first non-empty value is the key (an article property holds one)."""
    if isinstance(value, list):
        for item in value:
            text = property_text(item)
            if text is not None:
                return text
        return None
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, Mapping | list):
        return None
    text = to_opt_str(value)
    if text is None:
        return None
    return text.strip() or None


def catalog_item(row: Row, *, key: str) -> CatalogItem:
    item_id = to_id(row.get("id"), field="product.id")
    where = f"product {item_id}"
    parent = row.get("parentId")
    return CatalogItem(
        id=item_id,
        iblock_id=to_id(row.get("iblockId"), field=f"{where}.iblockId"),
        name=to_str(row.get("name")),
        type=product_type(row.get("type")),
        xml_id=to_opt_str(row.get("xmlId")),
        key=property_text(row.get(key)),
        # Offers carry their product as a property value, {"value": "1275", "valueId": "9867"}.
        parent_id=to_opt_id(
            parent.get("value") if isinstance(parent, Mapping) else parent, field=f"{where}.parentId"
        ),
        barcode_multi=from_yn(row.get("barcodeMulti"), field=f"{where}.barcodeMulti"),
        quantity=None
        if row.get("quantity") is None
        else to_decimal(row.get("quantity"), field=f"{where}.quantity"),
    )


def store_amount(row: Row) -> StoreAmount:
    record_id = to_id(row.get("id"), field="storeProduct.id")
    where = f"storeProduct {record_id}"
    return StoreAmount(
        id=record_id,
        product_id=to_id(row.get("productId"), field=f"{where}.productId"),
        store_id=to_id(row.get("storeId"), field=f"{where}.storeId"),
        amount=to_decimal(row.get("amount") or 0, field=f"{where}.amount"),
        reserved=to_decimal(row.get("quantityReserved") or 0, field=f"{where}.quantityReserved"),
    )


# What the stock flow reads of a document; documented fields of catalog_document only.
DOCUMENT_SELECT = ("id", "docType", "status", "title", "docNumber", "currency", "dateCreate", "dateStatus")
DOCUMENT_LINE_SELECT = ("id", "docId", "elementId", "amount", "storeFrom", "storeTo", "purchasingPrice")


def stock_document_header(row: Row) -> StockDocumentHeader:
    doc_id = to_id(row.get("id"), field="document.id")
    where = f"document {doc_id}"
    status = row.get("status")
    try:
        parsed = DocumentStatus(status)
    except ValueError:
        raise ValueError(f"{where}.status: expected N, Y or C, got {status!r}") from None
    return StockDocumentHeader(
        id=doc_id,
        doc_type=to_str(row.get("docType")),
        status=parsed,
        title=to_opt_str(row.get("title")),
        doc_number=to_opt_str(row.get("docNumber")),
        currency=to_opt_str(row.get("currency")),
        date_create=parse_dt(row.get("dateCreate"), field=f"{where}.dateCreate"),
        date_status=parse_dt(row.get("dateStatus"), field=f"{where}.dateStatus"),
    )


def stock_document_line(row: Row) -> StockDocumentLine:
    line_id = to_id(row.get("id"), field="documentElement.id")
    where = f"documentElement {line_id}"
    price = row.get("purchasingPrice")
    return StockDocumentLine(
        id=line_id,
        document_id=to_id(row.get("docId"), field=f"{where}.docId"),
        product_id=to_id(row.get("elementId"), field=f"{where}.elementId"),
        amount=to_decimal(row.get("amount"), field=f"{where}.amount"),
        store_from=to_opt_id(row.get("storeFrom"), field=f"{where}.storeFrom"),
        store_to=to_opt_id(row.get("storeTo"), field=f"{where}.storeTo"),
        purchasing_price=None if price is None else to_decimal(price, field=f"{where}.purchasingPrice"),
    )

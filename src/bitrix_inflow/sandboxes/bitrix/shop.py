"""The shop's data (a b_sale_*/b_catalog_*-like set of tables in memory) and its business rules.

Rows are kept in their REST shape. Stock follows the catalog module with inventory management: a product's
``quantity`` is what is free to sell and ``quantityReserved`` what orders hold; per store, ``amount`` is the
physical count and ``quantityReserved`` the part held by orders. Placing an order reserves; cancelling
(``canceled=Y``, not a status) releases; deducting a shipment takes the reserved units off the store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bitrix_inflow.sandboxes.bitrix import rest_errors
from bitrix_inflow.sandboxes.bitrix.config import Clock, SandboxConfig

Row = dict[str, Any]


BASKET_PROPERTY_VALUE_LIMIT = 255


class EventSink(Protocol):
    """Where the shop's events go; ``about`` is the order an event concerns, for the sandbox's own delivery log
    only (the real payloads of shipment and payment events name nothing but the entity's ``ID``)."""

    def __call__(self, event: str, data: dict[str, Any], about: Any = None) -> None: ...


def _no_events(event: str, data: dict[str, Any], about: Any = None) -> None:
    del event, data, about


@dataclass
class Table:
    rows: dict[int, Row] = field(default_factory=dict)
    last_id: int = 0
    _sorted: tuple[tuple[int, int], list[int]] = field(default=((-1, -1), []), repr=False)
    _parents: dict[str, tuple[tuple[int, int], dict[str, list[int]]]] = field(
        default_factory=dict, repr=False
    )

    def insert(self, row: Row, *, as_text_id: bool = False) -> int:
        self.last_id += 1
        row["id"] = str(self.last_id) if as_text_id else self.last_id
        self.rows[self.last_id] = row
        return self.last_id

    def get(self, key: Any) -> Row | None:
        try:
            return self.rows.get(int(str(key)))
        except ValueError:
            return None

    def all(self) -> list[Row]:
        return list(self.rows.values())

    def children_by(self, key: str, value: Any) -> list[Row]:
        """The rows whose ``key`` (a parent's id: ``orderId``, ``orderDeliveryId``, ``basketId``, ``docId``, never
        changed on a row) is ``value``, from an index built again only when rows came or went: a shop holding many
        orders answers per-order reads without a scan of every row it holds."""
        size = (len(self.rows), self.last_id)
        built = self._parents.get(key)
        if built is None or built[0] != size:
            index: dict[str, list[int]] = {}
            for row_id, row in self.rows.items():
                index.setdefault(str(row.get(key)), []).append(row_id)
            built = self._parents[key] = (size, index)
        return [self.rows[row_id] for row_id in built[1].get(str(value), ()) if row_id in self.rows]

    def sorted_ids(self) -> list[int]:
        """The ids in ascending order, sorted again only when rows came or went (a page of a long list then
        costs a bisect, not a sort of the table; rows are only ever added through ``insert`` or deleted)."""
        key = (len(self.rows), self.last_id)
        if self._sorted[0] != key:
            self._sorted = (key, sorted(self.rows))
        return self._sorted[1]


TABLES = (
    "orders",
    "basketItems",
    "shipments",
    "shipmentItems",
    "payments",
    "propertyValues",
    "statuses",
    "statusLangs",
    "deliveries",
    "personTypes",
    "paySystems",
    "shipmentProperties",
    "shipmentPropertyValues",
    "basketProperties",
    "catalogs",
    "products",
    "productProperties",
    "stores",
    "storeProducts",
    "documents",
    "documentElements",
    "notifications",
    "tasks",
    "timelineComments",
    "storeBarcodes",  # b_sale_store_barcode: a shipment line's units with their marking codes (companion module)
    "receipts",  # the fiscal receipts the cashbox built from deducted shipments
)


class Shop:
    """All tables plus the operations that keep them consistent. Callers hold ``lock`` around use."""

    def __init__(self, config: SandboxConfig, clock: Clock, events: EventSink | None = None) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.tables: dict[str, Table] = {name: Table() for name in TABLES}
        self._events: EventSink = events or _no_events
        self.inventory_management = config.inventory_management
        self._cells: dict[tuple[int, int], Row] = {}  # storeProducts by (productId, storeId)
        self.generation = 0  # counts resets, so work begun before one can tell it belongs to a forgotten shop

    def t(self, name: str) -> Table:
        return self.tables[name]

    def reset(self) -> None:
        self.tables = {name: Table() for name in TABLES}
        self._cells = {}
        self.generation += 1

    # -- reference data --------------------------------------------------------------------------------------

    def add_status(
        self,
        status_id: str,
        name: str,
        *,
        kind: str = "O",
        sort: int = 100,
        color: str = "",
        notify: str = "Y",
        with_name: bool = True,
    ) -> Row:
        statuses = self.t("statuses")
        if any(existing["id"] == status_id for existing in statuses.all()):
            raise rest_errors.controller(0, f"status {status_id} already exists")
        row: Row = {
            "id": status_id,
            "type": kind,
            "notify": notify,
            "sort": sort,
            "color": color or None,
            "xmlId": None,
        }
        # Status ids are text keys; the table keeps its own numbering for storage only.
        statuses.last_id += 1
        statuses.rows[statuses.last_id] = row
        if with_name:  # sale.status.add names nothing: its names come with sale.statusLang.add
            langs = self.t("statusLangs")
            langs.last_id += 1
            langs.rows[langs.last_id] = {"statusId": status_id, "lid": "en", "name": name, "description": ""}
        return row

    def status(self, status_id: str) -> Row | None:
        return next((row for row in self.t("statuses").all() if row["id"] == status_id), None)

    def add_delivery(
        self, name: str, *, xml_id: str = "", carrier: str = "", price: float = 0, rest_made: bool = False
    ) -> Row:
        # _price: what a shipment of this service costs (the sandbox's stand-in for a delivery calculation).
        row: Row = {
            "name": name,
            "xmlId": xml_id,
            "active": "Y",
            "description": carrier,
            "currency": "RUB",
            "_price": price,
            # The handler class: sale.delivery.getlist lists REST-made services only (sale 21.400 and later).
            "_className": "RestHandler" if rest_made else "SimpleHandler",
        }
        self.t("deliveries").insert(row)
        return row

    def add_pay_system(self, name: str, *, xml_id: str = "", is_cash: str = "N") -> Row:
        row: Row = {"name": name, "xmlId": xml_id, "isCash": is_cash, "active": "Y"}
        self.t("paySystems").insert(row)
        return row

    def add_store(self, title: str, *, code: str, address: str = "") -> Row:
        now = self.clock.iso()
        row: Row = {
            "title": title,
            "active": "Y",
            "address": address,
            "description": "",
            "gpsN": 0,
            "gpsS": 0,
            "imageId": None,
            "dateModify": now,
            "dateCreate": now,
            "userId": 1,
            "modifiedBy": 1,
            "phone": "",
            "schedule": "",
            "xmlId": None,
            "sort": 100,
            "email": "",
            "issuingCenter": "N",
            "code": code,
        }
        self.t("stores").insert(row)
        return row

    def add_shipment_property(self, code: str, name: str) -> Row:
        row: Row = {
            "personTypeId": 1,
            "propsGroupId": 1,
            "name": name,
            "type": "STRING",
            "required": "N",
            "defaultValue": "",
            "sort": 100,
            "code": code,
            "active": "Y",
            "util": "N",
            "multiple": "N",
            "xmlId": f"bx_prop_{code.lower()}",
        }
        self.t("shipmentProperties").insert(row)
        return row

    # -- catalog ---------------------------------------------------------------------------------------------

    def store_product(self, product_id: int, store_id: int) -> Row:
        cell = self._cells.get((product_id, store_id))
        if cell is None:
            cell = {"productId": product_id, "storeId": store_id, "amount": 0, "quantityReserved": 0}
            self.t("storeProducts").insert(cell)
            self._cells[(product_id, store_id)] = cell
        return cell

    def product(self, product_id: Any) -> Row:
        row = self.t("products").get(product_id)
        if row is None:
            # catalog.product.get/update docs: a missing product is code 0, not a 2000404... code.
            raise rest_errors.controller(0, "Product is not exists")
        return row

    def set_store_amount(self, product_id: int, store_id: int, amount: float) -> None:
        cell = self.store_product(product_id, store_id)
        delta = amount - cell["amount"]
        cell["amount"] = _num(amount)
        product = self.product(product_id)
        product["quantity"] = _num(product["quantity"] + delta)
        self.touch_product(product)

    def touch_product(self, product: Row) -> None:
        product["timestampX"] = self.clock.iso()
        product["available"] = "Y" if product["quantity"] > 0 or product["canBuyZero"] == "Y" else "N"

    def _reserve(self, product_id: int, store_id: int, quantity: float, sign: int) -> None:
        product = self.t("products").get(product_id)
        if product is None:
            return
        product["quantity"] = _num(product["quantity"] - sign * quantity)
        product["quantityReserved"] = _num(product["quantityReserved"] + sign * quantity)
        cell = self.store_product(product_id, store_id)
        cell["quantityReserved"] = _num(cell["quantityReserved"] + sign * quantity)
        self.touch_product(product)

    # -- orders ----------------------------------------------------------------------------------------------

    def order(self, order_id: Any) -> Row:
        row = self.t("orders").get(order_id)
        if row is None:
            raise rest_errors.controller(200540400001, "order is not exists")
        return row

    def place_order(
        self,
        lines: list[tuple[int, float]],
        *,
        shipments: list[dict[str, Any]] | None = None,
        user_id: int = 1,
        status_id: str = "N",
        store_id: int | None = None,
        comment: str = "",
        xml_id: str | None = None,
        person_type_id: int = 1,
    ) -> Row:
        """Create an order with its basket, payment and shipments, and reserve the goods.

        ``shipments`` is a list of ``{"deliveryId": int, "lines": [basket line indexes]}``; by default one
        shipment with the first delivery service carries every line.
        """
        if not lines:
            raise rest_errors.required_fields(["basketItems"])
        if self.status(status_id) is None:
            raise rest_errors.controller(0, f"status {status_id} does not exist")
        stores = self.t("stores").all()
        reserve_store = store_id if store_id is not None else (stores[0]["id"] if stores else 0)
        now = self.clock.iso()
        orders = self.t("orders")
        order: Row = {
            "accountNumber": "",
            "additionalInfo": "",
            "affiliateId": None,
            "canceled": "N",
            "comments": comment,
            "companyId": None,
            "currency": "RUB",
            "dateCanceled": None,
            "dateInsert": now,
            "dateLock": None,
            "dateMarked": None,
            "dateStatus": now,
            "dateUpdate": now,
            "deducted": "N",
            "discountValue": 0,
            "empCanceledId": None,
            "empMarkedId": None,
            "empStatusId": 1,
            "externalOrder": "N",
            "id1c": "",
            "lid": "s1",
            "lockedBy": "",
            "marked": "N",
            "orderTopic": "",
            "payed": "N",
            "personTypeId": person_type_id,
            "personTypeXmlId": "",
            "price": 0,
            "reasonCanceled": "",
            "reasonMarked": "",
            "recountFlag": "Y",
            "recurringId": "",
            "responsibleId": 1,
            "statusId": status_id,
            "statusXmlId": "",
            "taxValue": 0,
            "updated1c": "N",
            "userDescription": "",
            "userId": user_id,
            "version": 0,
            "version1c": "",
            "xmlId": "",
        }
        order_id = orders.insert(order)
        order["accountNumber"] = str(order_id)
        order["xmlId"] = xml_id or f"bx_{order_id:013x}"
        total = 0.0
        basket_ids: list[int] = []
        for product_id, quantity in lines:
            product = self.product(product_id)
            price = float(product.get("_price", 100))
            total += price * quantity
            basket_ids.append(
                self._add_basket_item(
                    order_id, product, quantity, price=price, store_id=reserve_store, now=now
                )
            )
        order["price"] = _num(round(total, 2))
        pay_systems = self.t("paySystems").all()
        pay_system = pay_systems[0] if pay_systems else {"id": 0, "name": "", "xmlId": "", "isCash": "N"}
        payment: Row = {
            "accountNumber": f"{order_id}/1",
            "comments": "",
            "companyId": 0,
            "currency": "RUB",
            "dateBill": now,
            "dateMarked": None,
            "datePaid": None,
            "datePayBefore": None,
            "dateResponsibleId": None,
            "empMarkedId": None,
            "empPaidId": None,
            "empResponsibleId": None,
            "empReturnId": None,
            "externalPayment": "N",
            "id1c": "",
            "isReturn": "N",
            "marked": "N",
            "orderId": order_id,
            "paid": "N",
            "payReturnComment": "",
            "payReturnDate": None,
            "payReturnNum": "",
            "paySystemId": pay_system["id"],
            "paySystemIsCash": pay_system["isCash"],
            "paySystemName": pay_system["name"],
            "paySystemXmlId": pay_system["xmlId"],
            "payVoucherDate": None,
            "payVoucherNum": "",
            "priceCod": "0",
            "psCurrency": "",
            "psInvoiceId": None,
            "psResponseDate": None,
            "psStatus": "",
            "psStatusCode": "",
            "psStatusDescription": "",
            "psStatusMessage": "",
            "psSum": None,
            "reasonMarked": "",
            "responsibleId": None,
            "sum": order["price"],
            "updated1c": "N",
            "version1c": "",
            "xmlId": f"bx_pay_{order_id}",
        }
        self.t("payments").insert(payment)
        plan = shipments or [{"deliveryId": None, "lines": list(range(len(lines)))}]
        for number, spec in enumerate(plan, start=2):
            chosen = [basket_ids[i] for i in spec.get("lines", []) if 0 <= int(i) < len(basket_ids)]
            self._add_shipment(order, number, spec.get("deliveryId"), chosen, now)
        self._add_property_values(order_id, user_id)
        self._emit_order(order)
        return order

    def _add_basket_item(
        self, order_id: int, product: Row, quantity: float, *, price: float, store_id: int | None, now: str
    ) -> int:
        """A catalogue product's line in an order; reserved at ``store_id`` (None: not reserved yet)."""
        basket = self.t("basketItems")
        item: Row = {
            "barcodeMulti": product.get("barcodeMulti", "N"),
            "basePrice": _num(price),
            "canBuy": "Y",
            "catalogXmlId": "catalog-sandbox-0001",
            "currency": "RUB",
            "customPrice": "N",
            "dateInsert": now,
            "dateRefresh": None,
            "dateUpdate": now,
            "detailPageUrl": "",
            "discountCoupon": "",
            "discountName": "",
            "discountValue": "",
            "dimensions": 'a:3:{s:5:"WIDTH";N;s:6:"HEIGHT";N;s:6:"LENGTH";N;}',
            "discountPrice": 0,
            "fuserId": 1,
            "lid": "s1",
            "measureCode": "796",
            "measureName": "pcs",
            "module": "catalog",
            "name": product["name"],
            "notes": "BASE",
            # The docs' sale.order.get example has text ids on basket items and integers elsewhere.
            "orderId": str(order_id),
            "price": _num(price),
            "priceTypeId": 1,
            "productId": product["id"],
            "productPriceId": product["id"],
            "productProviderClass": "\\Bitrix\\Catalog\\Product\\CatalogProvider",
            "productXmlId": product["xmlId"],
            "properties": [],
            "quantity": _num(quantity),
            "recommendation": "",
            "reservations": [],
            "setParentId": "",
            "sort": 100,
            "subscribe": "N",
            "type": "",
            "vatIncluded": "Y",
            "vatRate": 0.2,
            "weight": product.get("weight", 0),
            "xmlId": "",
        }
        basket_id = basket.insert(item, as_text_id=True)
        item["xmlId"] = f"bx_basket_{basket_id}"
        for code, name, value in (
            ("CATALOG.XML_ID", "Catalog XML_ID", "catalog-sandbox-0001"),
            ("PRODUCT.XML_ID", "Product XML_ID", product["xmlId"]),
        ):
            self.add_basket_property(basket_id, {"code": code, "name": name, "value": value})
        if store_id is not None:
            self._reserve_item(item, store_id, quantity, now)
        return basket_id

    def _reserve_item(self, item: Row, store_id: int, quantity: float, now: str) -> None:
        item["reservations"].append(
            {
                "basketId": int(item["id"]),
                "dateReserve": now,
                "dateReserveEnd": self.clock.iso(self.clock.now() + 3 * 86400),
                "id": int(item["id"]),
                "quantity": _num(quantity),
                "reservedBy": None,
                "storeId": store_id,
            }
        )
        self._reserve(item["productId"], store_id, quantity, +1)

    def add_line(self, fields: dict[str, Any]) -> Row:
        """``sale.basketitem.add``: a catalogue product joins an existing order, its name and price from the
        catalogue, the order saved. The item is in no shipment yet (the order's system shipment holds it, which
        ``sale.shipment.list`` never shows) and reserves nothing [assumed: the docs say nothing of reservations
        here, and their sale.shipmentitem.add answer shows ``reservedQuantity: 0``]."""
        order = self.t("orders").get(fields["orderId"])
        if order is None:
            raise rest_errors.controller(200140400009, "Order not found")
        if str(fields["currency"]) != str(order["currency"]):
            raise rest_errors.controller(200140400011, "Currency must be the currency of the order")
        product = self.t("products").get(fields["productId"])
        if product is None or product.get("active", "Y") != "Y":
            raise rest_errors.controller(200140400007, "basket item is not saved - bad data")
        quantity = float(fields["quantity"])
        if not (quantity > 0):
            raise rest_errors.controller(0, "quantity must be greater than 0")
        price = float(product.get("_price", 100))
        basket_id = self._add_basket_item(
            int(order["id"]), product, quantity, price=price, store_id=None, now=self.clock.iso()
        )
        item = self.t("basketItems").get(basket_id)
        assert item is not None
        if fields.get("xmlId"):
            item["xmlId"] = str(fields["xmlId"])
        items = self.children("basketItems", "orderId", order["id"])
        order["price"] = _num(round(sum(float(i["price"]) * float(i["quantity"]) for i in items), 2))
        self._save_order(order)
        return item

    def add_shipment_line(self, fields: dict[str, Any]) -> Row:
        """``sale.shipmentitem.add``: units of a basket item go into a shipment; nothing is reserved (the docs'
        answer shows ``reservedQuantity: 0``)."""
        shipment = self.t("shipments").get(fields["orderDeliveryId"])
        if shipment is None:
            raise rest_errors.controller(201240400002, "shipment not found")
        item = self.t("basketItems").get(fields["basketId"])
        if item is None or str(item["orderId"]) != str(shipment["orderId"]):
            raise rest_errors.controller(201240400003, "basket item not found")
        lines = self.children("shipmentItems", "basketId", item["id"])
        if any(str(line["orderDeliveryId"]) == str(shipment["id"]) for line in lines):
            raise rest_errors.controller(
                201250000001, "An item with these basketId and orderDeliveryId already exists"
            )
        if shipment["deducted"] == "Y":
            raise rest_errors.controller(0, "Shipment is deducted, its items cannot be changed")
        quantity = float(fields["quantity"])
        placed = sum(float(line["quantity"]) for line in lines)
        if not (quantity > 0) or quantity + placed > float(item["quantity"]):
            raise rest_errors.controller(0, "Quantity exceeds the basket item quantity")
        now = self.clock.iso()
        line: Row = {
            "basketId": int(item["id"]),
            "dateInsert": now,
            "orderDeliveryId": int(shipment["id"]),
            "quantity": _num(quantity),
            "reservedQuantity": 0,
            "xmlId": str(fields.get("xmlId") or ""),
        }
        line_id = self.t("shipmentItems").insert(line)
        if not line["xmlId"]:
            line["xmlId"] = f"bx_si_{line_id}"
        self._save_order(self.order(shipment["orderId"]))
        return line

    def add_basket_property(self, basket_id: int, fields: dict[str, Any]) -> Row:
        item = self.t("basketItems").get(basket_id)
        if item is None:
            raise rest_errors.controller(0, "basket item is not exists")
        value = str(fields.get("value", ""))
        if len(value) > BASKET_PROPERTY_VALUE_LIMIT:
            # BasketPropertyTable validates VALUE at most 255 long; the order is not saved.
            raise rest_errors.controller(
                0, f"Value length must be no more than {BASKET_PROPERTY_VALUE_LIMIT}"
            )
        row: Row = {
            "basketId": basket_id,
            "code": fields.get("code", ""),
            "name": fields.get("name", ""),
            "sort": fields.get("sort", 100),
            "value": fields.get("value", ""),
            "xmlId": fields.get("xmlId") or "",
        }
        prop_id = self.t("basketProperties").insert(row)
        if not row["xmlId"]:
            row["xmlId"] = f"bx_bprop_{prop_id}"
        item["properties"].append(row)  # the same row object, so both views stay in step
        return row

    def delete_basket_property(self, property_id: Any) -> Row:
        """``sale.basketproperties.delete``: the property leaves its line and the order is saved."""
        row = self.t("basketProperties").get(property_id)
        if row is None:
            raise rest_errors.controller(200240400003, "basket property is not exists")
        item = self.t("basketItems").get(row["basketId"])
        del self.t("basketProperties").rows[int(row["id"])]
        if item is not None:
            item["properties"] = [p for p in item["properties"] if p is not row]
            self._save_order(self.order(item["orderId"]))
        return row

    def _add_shipment(
        self, order: Row, number: int, delivery_id: Any, basket_ids: list[int], now: str
    ) -> Row:
        deliveries = self.t("deliveries")
        delivery = deliveries.get(delivery_id) if delivery_id is not None else None
        if delivery is None:
            delivery = deliveries.all()[0] if deliveries.rows else {"id": 0, "name": "", "xmlId": ""}
        shipment: Row = {
            "accountNumber": f"{order['id']}/{number}",
            "allowDelivery": "N",
            "basePriceDelivery": delivery.get("_price", 0),
            "canceled": "N",
            "comments": "",
            "companyId": 0,
            "currency": "RUB",
            "customPriceDelivery": "N",
            "dateAllowDelivery": None,
            "dateCanceled": None,
            "dateDeducted": None,
            "dateInsert": now,
            "dateMarked": None,
            "dateResponsibleId": None,
            "deducted": "N",
            "deliveryDocDate": None,
            "deliveryDocNum": "",
            "deliveryId": delivery["id"],
            "deliveryName": delivery["name"],
            "deliveryXmlId": delivery["xmlId"],
            "discountPrice": 0,
            "empAllowDeliveryId": None,
            "empCanceledId": None,
            "empDeductedId": None,
            "empMarkedId": None,
            "empResponsibleId": None,
            "externalDelivery": "N",
            "id1c": "",
            "marked": "N",
            "orderId": order["id"],
            "priceDelivery": delivery.get("_price", 0),
            "reasonMarked": "",
            "reasonUndoDeducted": "",
            "responsibleId": None,
            "statusId": "DN",
            "statusXmlId": "",
            "system": "N",
            "trackingDescription": "",
            "trackingLastCheck": "",
            "trackingNumber": "",
            "trackingStatus": "",
            "updated1c": "N",
            "version1c": "",
            "xmlId": "",
        }
        shipment_id = self.t("shipments").insert(shipment)
        shipment["xmlId"] = f"bx_ship_{shipment_id}"
        for basket_id in basket_ids:
            item = self.t("basketItems").get(basket_id)
            if item is None:
                continue
            line: Row = {
                "basketId": basket_id,
                "dateInsert": now,
                "orderDeliveryId": shipment_id,
                "quantity": item["quantity"],
                "reservedQuantity": item["quantity"],
                "xmlId": "",
            }
            line_id = self.t("shipmentItems").insert(line)
            line["xmlId"] = f"bx_si_{line_id}"
        return shipment

    def _add_property_values(self, order_id: int, user_id: int) -> None:
        for code, name, value in (
            ("FIO", "First Last", f"Customer {user_id}"),
            ("EMAIL", "E-Mail", f"customer{user_id}@example.com"),
            ("PHONE", "Phone", f"7900{user_id:07d}"),
            ("ADDRESS", "Delivery Address", f"Sandbox street {order_id}"),
        ):
            self.t("propertyValues").insert(
                {
                    "orderId": order_id,
                    "code": code,
                    "name": name,
                    "orderPropsId": 20 + len(code),
                    "orderPropsXmlId": None,
                    "value": value,
                }
            )

    def children(self, table: str, key: str, value: Any) -> list[Row]:
        return self.t(table).children_by(key, value)

    def order_shipments(self, order_id: int) -> list[Row]:
        return self.children("shipments", "orderId", order_id)

    def _release_order(self, order: Row) -> None:
        for item in self.children("basketItems", "orderId", order["id"]):
            for reservation in item["reservations"]:
                if reservation["quantity"]:
                    self._reserve(item["productId"], reservation["storeId"], reservation["quantity"], -1)
                    reservation["quantity"] = 0
            for line in self.children("shipmentItems", "basketId", item["id"]):
                line["reservedQuantity"] = 0

    def _reserve_order(self, order: Row) -> None:
        """What a cancel released, reserved again where it was (the lines of unshipped shipments)."""
        shipped = {str(s["id"]) for s in self.order_shipments(order["id"]) if s["deducted"] == "Y"}
        for item in self.children("basketItems", "orderId", order["id"]):
            lines = self.children("shipmentItems", "basketId", item["id"])
            if any(str(line["orderDeliveryId"]) in shipped for line in lines):
                continue  # its goods left with the shipment: nothing to hold
            for reservation in item["reservations"]:
                if not reservation["quantity"]:
                    reservation["quantity"] = item["quantity"]
                    self._reserve(item["productId"], reservation["storeId"], float(item["quantity"]), +1)
            for line in lines:
                line["reservedQuantity"] = line["quantity"] if item["reservations"] else 0

    def edit_line(self, order_id: int, basket_id: int, quantity: float) -> Row:
        """A manager changes a line's quantity in the admin panel's order form: the basket item, its shipment
        item and its reservation follow, the order is saved (new dateUpdate, version + 1, ONSALEORDERSAVED)."""
        order = self.order(order_id)
        item = self.t("basketItems").get(basket_id)
        if item is None or str(item["orderId"]) != str(order["id"]):
            raise rest_errors.controller(0, f"basket item {basket_id} is not in order {order_id}")
        shipped = any(
            self.shipment(line["orderDeliveryId"])["deducted"] == "Y"
            for line in self.children("shipmentItems", "basketId", basket_id)
        )
        if shipped and quantity != float(item["quantity"]):
            # As in the REST rule below: the form cannot change what has left the store.
            raise rest_errors.controller(0, "Shipment is deducted, its items cannot be changed")
        now = self.clock.iso()
        delta = quantity - float(item["quantity"])
        item["quantity"] = _num(quantity)
        item["dateUpdate"] = now
        held = False
        for reservation in item["reservations"]:
            if reservation["quantity"]:  # (a cancelled order holds nothing: un-cancelling reserves it whole)
                reservation["quantity"] = _num(quantity)
                self._reserve(item["productId"], reservation["storeId"], delta, +1)
                held = True
        for line in self.children("shipmentItems", "basketId", basket_id):
            line["quantity"] = _num(quantity)
            line["reservedQuantity"] = _num(quantity) if held else 0
        items = self.children("basketItems", "orderId", order["id"])
        order["price"] = _num(round(sum(float(i["price"]) * float(i["quantity"]) for i in items), 2))
        self._save_order(order)
        return order

    def delete_line(self, basket_id: Any) -> Row:
        """``sale.basketitem.delete``: the item leaves the basket and its shipments; its reservation is released and
        the order saved. A line of a shipped shipment cannot go."""
        item = self.t("basketItems").get(basket_id)
        if item is None:
            raise rest_errors.controller(200140400001, "basket item does not exist")
        order = self.order(item["orderId"])
        lines = self.children("shipmentItems", "basketId", item["id"])
        shipped = {str(s["id"]) for s in self.order_shipments(order["id"]) if s["deducted"] == "Y"}
        if any(str(line["orderDeliveryId"]) in shipped for line in lines):
            raise rest_errors.controller(0, "The basket item is in a shipped shipment and cannot be deleted")
        for reservation in item["reservations"]:
            if reservation["quantity"]:
                self._reserve(item["productId"], reservation["storeId"], reservation["quantity"], -1)
        for line in lines:
            del self.t("shipmentItems").rows[int(line["id"])]
        del self.t("basketItems").rows[int(item["id"])]
        items = self.children("basketItems", "orderId", order["id"])
        order["price"] = _num(round(sum(float(i["price"]) * float(i["quantity"]) for i in items), 2))
        self._save_order(order)
        return order

    def release_line(self, basket_id: Any) -> float | int:
        """The companion module's ``reservation.release``: one line's reservation let go (CatalogProvider::reserve
        with a negative quantity); the line stays. Returns the units released (0 when it held none)."""
        item = self.t("basketItems").get(basket_id)
        if item is None:
            raise rest_errors.RestError(
                400, "BITRIXINFLOW_BASKET_NOT_FOUND", f"basket item {basket_id} does not exist"
            )
        released = 0.0
        for reservation in item["reservations"]:
            if reservation["quantity"]:
                released += float(reservation["quantity"])
                self._reserve(item["productId"], reservation["storeId"], reservation["quantity"], -1)
                reservation["quantity"] = 0
        for line in self.children("shipmentItems", "basketId", item["id"]):
            line["reservedQuantity"] = 0
        if released:
            self._save_order(self.order(item["orderId"]))
        return _num(released)

    def update_line(self, basket_id: Any, fields: dict[str, Any]) -> Row:
        """``sale.basketitem.update``: a new ``quantity`` moves the reservation with it (as the order form does);
        the other documented fields are written as they are."""
        item = self.t("basketItems").get(basket_id)
        if item is None:
            raise rest_errors.controller(200140400001, "basket item does not exist")
        writable = (
            "sort",
            "price",
            "basePrice",
            "discountPrice",
            "xmlId",
            "name",
            "weight",
            "canBuy",
            "vatRate",
        )
        for key in writable:
            if key in fields:
                item[key] = fields[key]
        if "quantity" in fields:
            quantity = float(fields["quantity"])
            if quantity <= 0:
                raise rest_errors.controller(0, "quantity must be positive")
            return self.edit_line(int(item["orderId"]), int(item["id"]), quantity)
        order = self.order(item["orderId"])
        self._save_order(order)
        return order

    def unreserve_order(self, order_id: int) -> Row:
        order = self.order(order_id)
        self._release_order(order)
        self._save_order(order)
        return order

    def update_order(self, order_id: Any, changes: dict[str, Any]) -> Row:
        order = self.order(order_id)
        now = self.clock.iso()
        if "statusId" in changes and changes["statusId"] != order["statusId"]:
            status = self.status(str(changes["statusId"]))
            if status is None or status["type"] != "O":
                raise rest_errors.controller(0, f"Status {changes['statusId']} not found")
            order["dateStatus"] = now
        # The cancel flag is separate from the status (a status named "Cancelled" cancels nothing). A cancel is
        # refused while a payment is paid or a shipment shipped [src: sale Order::setField('CANCELED')].
        was_canceled = order["canceled"] == "Y"
        if changes.get("canceled") == "Y" and not was_canceled:
            self._refuse_cancel(order)
        for key, value in changes.items():
            order[key] = value
        if "canceled" in changes:
            order["dateCanceled"] = now if order["canceled"] == "Y" else None
        is_canceled = order["canceled"] == "Y"
        if is_canceled and not was_canceled:
            self._release_order(order)
        elif was_canceled and not is_canceled:
            self._reserve_order(order)  # un-cancelled: the goods are held for it again
        self._save_order(order)
        return order

    def _refuse_cancel(self, order: Row) -> None:
        if any(p["paid"] == "Y" for p in self.children("payments", "orderId", order["id"])):
            raise rest_errors.RestError(
                400,
                "SALE_ORDER_CANCEL_PAYMENT_EXIST_ACTIVE",
                "The order has a paid payment and cannot be cancelled",
            )
        if any(s["deducted"] == "Y" for s in self.children("shipments", "orderId", order["id"])):
            # The source refuses it too; its code for the shipment case is not in the docs: this one is a guess.
            raise rest_errors.RestError(
                400,
                "SALE_ORDER_CANCEL_SHIPMENT_EXIST_SHIPPED",
                "The order has a shipped shipment and cannot be cancelled",
            )

    def _save_order(self, order: Row) -> None:
        order["dateUpdate"] = self.clock.iso()
        order["version"] = int(order["version"]) + 1
        self._emit_order(order)

    def _emit_order(self, order: Row) -> None:
        fields = {"ID": order["id"], "XML_ID": order["xmlId"]}
        self._events("ONSALEORDERSAVED", {"FIELDS": {**fields, "ACTION": "save"}}, order["id"])
        self._events("ONORDERENTITYSAVED", {"FIELDS": fields}, order["id"])

    def shipment(self, shipment_id: Any) -> Row:
        row = self.t("shipments").get(shipment_id)
        if row is None:
            raise rest_errors.controller(201140400001, "shipment is not exists")
        return row

    def update_shipment(self, shipment_id: Any, changes: dict[str, Any]) -> Row:
        shipment = self.shipment(shipment_id)
        order = self.order(shipment["orderId"])
        now = self.clock.iso()
        if "deliveryId" in changes:
            delivery = self.t("deliveries").get(changes["deliveryId"])
            if delivery is None:
                raise rest_errors.controller(0, f"Delivery service {changes['deliveryId']} not found")
            shipment["deliveryName"] = delivery["name"]
            shipment["deliveryXmlId"] = delivery["xmlId"]
        if "statusId" in changes:
            status = self.status(str(changes["statusId"]))
            if status is None or status["type"] != "D":
                raise rest_errors.controller(0, f"Delivery status {changes['statusId']} not found")
        if changes.get("allowDelivery") not in (None, shipment["allowDelivery"]):
            shipment["dateAllowDelivery"] = now if changes["allowDelivery"] == "Y" else None
            shipment["empAllowDeliveryId"] = 1 if changes["allowDelivery"] == "Y" else None
        deduct = changes.get("deducted") == "Y" and shipment["deducted"] != "Y"
        undo = changes.get("deducted") == "N" and shipment["deducted"] == "Y"
        if deduct and self.config.marking_check_on_deduct:
            self._check_marking_codes(shipment)
        for key, value in changes.items():
            shipment[key] = value
        if deduct:
            self._deduct(shipment, +1)
            shipment["dateDeducted"] = now
            shipment["empDeductedId"] = 1
            self._print_receipt(shipment, order)
        elif undo:
            self._deduct(shipment, -1)
            shipment["dateDeducted"] = now
        all_deducted = all(s["deducted"] == "Y" for s in self.order_shipments(order["id"]))
        order["deducted"] = "Y" if all_deducted else "N"
        # on-shipment-entity-saved.md: FIELDS holds the shipment's ID and nothing else.
        self._events("ONSHIPMENTENTITYSAVED", {"FIELDS": {"ID": shipment["id"]}}, order["id"])
        self._save_order(order)
        return shipment

    def _deduct(self, shipment: Row, sign: int) -> None:
        """Ship (sign +1) or un-ship (-1): reserved units leave (or return to) the store."""
        for line in self.children("shipmentItems", "orderDeliveryId", shipment["id"]):
            item = self.t("basketItems").get(line["basketId"])
            if item is None:
                continue
            store_id = item["reservations"][0]["storeId"] if item["reservations"] else 0
            quantity = float(line["quantity"])
            reserved = float(line["reservedQuantity"]) if sign > 0 else 0.0
            product = self.t("products").get(item["productId"])
            cell = self.store_product(item["productId"], store_id)
            cell["amount"] = _num(cell["amount"] - sign * quantity)
            if product is not None:
                if sign > 0:
                    product["quantityReserved"] = _num(product["quantityReserved"] - reserved)
                    product["quantity"] = _num(product["quantity"] - (quantity - reserved))
                else:
                    product["quantity"] = _num(product["quantity"] + quantity)
                self.touch_product(product)
            if sign > 0:
                cell["quantityReserved"] = _num(cell["quantityReserved"] - reserved)
                line["reservedQuantity"] = 0
                left = reserved  # the line's reserved units are used up, whatever quantity ships
                for reservation in item["reservations"]:
                    used = min(left, float(reservation["quantity"]))
                    reservation["quantity"] = _num(reservation["quantity"] - used)
                    left -= used

    def _check_marking_codes(self, shipment: Row) -> None:
        """ShipmentItem::checkMarkingCodeOnDeducted, run by Shipment::onFieldModify when DEDUCTED becomes Y: a
        marked line needs a store row with a code for every unit, or the shipment is not deducted."""
        for line in self.children("shipmentItems", "orderDeliveryId", shipment["id"]):
            basket = self.t("basketItems").get(line["basketId"])
            product = self.t("products").get(basket["productId"]) if basket else None
            if not product or not product.get("_markingGroup"):
                continue
            rows = self.children("storeBarcodes", "orderDeliveryBasketId", line["id"])
            if len(rows) < float(line["quantity"]) or any(not row["markingCode"] for row in rows):
                raise rest_errors.controller(
                    0, f"Not enough marking codes for the product {basket['name'] if basket else ''}"
                )

    def _print_receipt(self, shipment: Row, order: Row) -> None:
        """The receipt a cashbox prints when a shipment is deducted, built as the sale module's check does
        (Cashbox\\Check::extractDataFromEntitiesInternal): a marked line split into quantity-1 lines, one per store
        row with its MARKING_CODE; units without a row get an empty code, and the check fails validation."""
        items: list[Row] = []
        problems: list[str] = []
        for line in self.children("shipmentItems", "orderDeliveryId", shipment["id"]):
            basket = self.t("basketItems").get(line["basketId"])
            if basket is None:
                continue
            product = self.t("products").get(basket["productId"]) or {}
            quantity = int(float(line["quantity"]))
            base = {"name": basket["name"], "price": basket["price"], "productId": basket["productId"]}
            if not product.get("_markingGroup"):
                items.append(
                    {**base, "quantity": quantity, "payment_object": "commodity", "marking_code": ""}
                )
                continue
            codes = [
                row["markingCode"]
                for row in self.children("storeBarcodes", "orderDeliveryBasketId", line["id"])
                if row["markingCode"]
            ]
            for unit in range(quantity):
                code = codes[unit] if unit < len(codes) else ""
                items.append(
                    {
                        **base,
                        "quantity": 1,
                        "payment_object": "commodity_marking",
                        "marking_code": code,
                        # FFD 1.2: payment object 33 (marked goods), the code as scanned in tag 2000.
                        "tags": {"1212": 33, "2000": code},
                    }
                )
                if not code:
                    problems.append(f"no marking code for {basket['name']} (unit {unit + 1} of {quantity})")
        self.t("receipts").insert(
            {
                "type": "sell",
                "orderId": order["id"],
                "shipmentId": shipment["id"],
                "items": items,
                "valid": not problems,
                "problems": problems,
                "dateCreate": self.clock.iso(),
            }
        )

    def update_shipment_item(self, item_id: Any, changes: dict[str, Any]) -> Row:
        line = self.t("shipmentItems").get(item_id)
        if line is None:
            raise rest_errors.controller(201240400001, "shipment item is not exists")
        shipment = self.shipment(line["orderDeliveryId"])
        if shipment["deducted"] == "Y" and "quantity" in changes and changes["quantity"] != line["quantity"]:
            raise rest_errors.controller(0, "Shipment is deducted, its items cannot be changed")
        basket = self.t("basketItems").get(line["basketId"])
        if basket is not None and float(changes.get("quantity", 0)) > float(basket["quantity"]):
            raise rest_errors.controller(0, "Quantity exceeds the basket item quantity")
        line.update(changes)
        self._save_order(self.order(shipment["orderId"]))
        return line

    def update_payment(self, payment_id: Any, changes: dict[str, Any]) -> Row:
        payment = self.t("payments").get(payment_id)
        if payment is None:
            raise rest_errors.controller(201040400001, "payment is not exists")
        if changes.get("paid") not in (None, payment["paid"]):
            payment["datePaid"] = self.clock.iso() if changes["paid"] == "Y" else None
        payment.update(changes)
        self._events("ONPAYMENTENTITYSAVED", {"FIELDS": {"ID": payment["id"]}}, payment["orderId"])
        order = self.order(payment["orderId"])
        payments = self.children("payments", "orderId", order["id"])
        order["payed"] = "Y" if payments and all(p["paid"] == "Y" for p in payments) else "N"
        self._save_order(order)
        return payment

    # -- stock documents -------------------------------------------------------------------------------------
    #
    # As CCatalogDocs does it: every line is checked before any is applied, so a refused conduct or cancel
    # changes nothing and can be retried. The messages are the catalog module's (lang/en/general/
    # store_docs_type.php), wrapped the way the docs show them.

    def _document(self, document_id: Any, missing: str) -> Row:
        document = self.t("documents").get(document_id)
        if document is None:
            raise rest_errors.controller(0, missing)
        return document

    def _lines(self, document: Row) -> list[Row]:
        return self.children("documentElements", "docId", document["id"])

    def conduct_document(self, document_id: Any) -> Row:
        document = self._document(document_id, "Document not found")
        if not self.inventory_management:
            raise _conduct_error([_STORE_CONTROL_OFF])
        if document["status"] == "Y":
            raise rest_errors.controller(0, "Document already conducted")
        kind = document["docType"]
        if kind == "A" and not document.get("contractorId"):
            raise _conduct_error(["Supplier is not specified."])
        elements = self._lines(document)
        if not elements:
            raise _conduct_error([f"Items present in the inventory object ID #{document['id']} are missing"])
        problems = self._line_problems(elements)
        if problems:
            raise _conduct_error(problems)
        self._apply(self._moves(kind, elements, +1), _conduct_error)
        self._set_status(document, "Y")
        return document

    def cancel_document(self, document_id: Any) -> Row:
        """Un-conduct: the lines' stock moves are reversed and the document becomes ``C`` (cancelled)."""
        # The docs list this text for an unknown id too: the rights check cannot find the document.
        document = self._document(document_id, "Insufficient permissions to save the document")
        if not self.inventory_management:
            raise _cancel_error([_STORE_CONTROL_OFF])
        if document["status"] != "Y":
            raise _cancel_error(["Document has not been conducted yet"])
        self._apply(self._moves(document["docType"], self._lines(document), -1), _cancel_error)
        self._set_status(document, "C")
        return document

    def delete_document(self, document_id: Any) -> bool:
        """A draft (or cancelled) document goes with its lines; a conducted one stays (the caller answers null)."""
        document = self._document(document_id, "Document not found")
        if document["status"] == "Y":
            return False
        for element in self._lines(document):
            del self.t("documentElements").rows[int(element["id"])]
        del self.t("documents").rows[int(document["id"])]
        return True

    def _set_status(self, document: Row, status: str) -> None:
        now = self.clock.iso()
        document["status"] = status
        document["dateStatus"] = now
        document["dateModify"] = now
        document["statusBy"] = 1

    def _line_problems(self, elements: list[Row]) -> list[str]:
        problems: list[str] = []
        counted: dict[int, Row] = {}
        for element in elements:
            product_id = int(element["elementId"] or 0)
            product = self.t("products").get(product_id)
            if product is None:
                problems.append(
                    f"Information block item ID #{product_id} present in the inventory object is missing"
                )
                continue
            name = f"ID #{product_id} ({product['name']})"
            if product["type"] not in (1, 4):
                # A product with offers is sold through them and holds no stock of its own.
                problems.append(f"Inventory object refers to incorrect product type {name}")
            elif float(element["amount"] or 0) <= 0:
                problems.append(f"Inventory object specifies incorrect product quantity {name}")
            else:
                counted[product_id] = product
        for product_id, product in counted.items():
            # No REST method adds document barcodes, so such a product never conducts through REST.
            if product["barcodeMulti"] == "Y":
                problems.append(
                    f"Number of barcodes for product ID #{product_id} ({product['name']}) specified in the "
                    "inventory object does not match the actual product quantity."
                )
        return problems

    def _moves(self, kind: str, elements: list[Row], sign: int) -> list[tuple[int, Any, float]]:
        """(product, store, delta) per line: ``sign`` +1 conducts, -1 reverses a conduct."""
        moves: list[tuple[int, Any, float]] = []
        for element in elements:
            product_id = int(element["elementId"])
            amount = sign * float(element["amount"] or 0)
            if kind in ("A", "S", "R"):
                moves.append((product_id, element.get("storeTo"), amount))
            elif kind == "D":
                moves.append((product_id, element.get("storeFrom"), -amount))
            elif kind == "M":
                moves.append((product_id, element.get("storeFrom"), -amount))
                moves.append((product_id, element.get("storeTo"), amount))
        return moves

    def _apply(self, moves: list[tuple[int, Any, float]], refuse: Callable[[list[str]], Exception]) -> None:
        """Check every move against the stock the earlier moves leave, then apply them all, or none."""
        problems: list[str] = []
        after: dict[tuple[int, int], float] = {}
        for product_id, store_id, delta in moves:
            store = self.t("stores").get(store_id)
            if store is None:
                problems.append(f"Store {store_id} not found for product {product_id}")
                continue
            key = (product_id, int(store["id"]))
            cell = self._cells.get(key)
            current = after.get(key, float(cell["amount"]) if cell else 0.0)
            if current + delta < 0:
                problems.append(f"Not enough stock of product {product_id} in store {store['id']}")
            after[key] = current + delta
        if problems:
            raise refuse(problems)
        for (product_id, store_id), amount in after.items():
            self.set_store_amount(product_id, store_id, amount)


# The catalog module's English text (DOCUMENT_CONTROLLER_MANAGEMENT_NOT_ENABLED); the docs translate the same
# refusal as "Warehouse accounting must be enabled to conduct the document".
_STORE_CONTROL_OFF = "You have to enable inventory management to process the inventory object"


def _conduct_error(problems: list[str]) -> rest_errors.RestError:
    return rest_errors.controller(0, "Document conducting error: " + "; ".join(problems))


def _cancel_error(problems: list[str]) -> rest_errors.RestError:
    return rest_errors.controller(0, "Error cancelling document conduct: " + "; ".join(problems))


def _num(value: float) -> float | int:
    """PHP/MySQL hand quantities back as integers when they are whole."""
    number = float(value)
    return int(number) if number.is_integer() else round(number, 4)

"""``sale.*`` methods: orders, statuses, basket, shipments, shipment lines, payments and their properties."""

from __future__ import annotations

import bisect
import copy
import itertools
import math
from collections.abc import Callable
from datetime import timedelta, timezone
from typing import Any

from bitrix_inflow.sandboxes.bitrix import entities as E
from bitrix_inflow.sandboxes.bitrix import rest_errors
from bitrix_inflow.sandboxes.bitrix.listing import (
    PAGE_SIZE,
    filter_rows,
    order_rows,
    parse_filter,
    parse_start,
    project,
    select_fields,
)
from bitrix_inflow.sandboxes.bitrix.registry import Answer, Call, Method, list_answer
from bitrix_inflow.sandboxes.bitrix.shop import Row, Shop, Table

_SCALARS = (str, int, float, bool, type(None))


def public(row: Row) -> Row:
    """The row a client may see: a copy (no answer shares state with the shop), without internal ``_`` keys."""
    return {
        k: v if isinstance(v, _SCALARS) else copy.deepcopy(v) for k, v in row.items() if not k.startswith("_")
    }


def _get(table: Any, key: Any, code: int, text: str) -> Row:
    row = table.get(key)
    if row is None:
        raise rest_errors.controller(code, text)
    return dict(row)


def full_order(shop: Shop, order: Row) -> Row:
    order_id = order["id"]
    result = public(order)
    result["basketItems"] = [public(item) for item in shop.children("basketItems", "orderId", order_id)]
    result["payments"] = [public(p) for p in shop.children("payments", "orderId", order_id)]
    result["shipments"] = [full_shipment(shop, s) for s in shop.order_shipments(order_id)]
    result["propertyValues"] = [
        {k: v for k, v in public(p).items() if k != "orderId"}
        for p in shop.children("propertyValues", "orderId", order_id)
    ]
    result["clients"] = [
        {
            "entityId": order["userId"],
            "entityTypeId": 3,
            "id": order_id,
            "isPrimary": "Y",
            "orderId": order_id,
            "roleId": 0,
            "sort": 0,
        }
    ]
    result["tradeBindings"] = []
    result["requisiteLink"] = {"bankDetailId": 0, "mcBankDetailId": 0, "mcRequisiteId": 0, "requisiteId": 0}
    return dict(sorted(result.items()))


def full_shipment(shop: Shop, shipment: Row) -> Row:
    result = public(shipment)
    result["shipmentItems"] = [
        public(line) for line in shop.children("shipmentItems", "orderDeliveryId", shipment["id"])
    ]
    return dict(sorted(result.items()))


def id_cursor_page(
    call: Call, table: Table, spec: E.EntitySpec, *, keep: Callable[[Row], bool] = lambda row: True
) -> list[Row] | None:
    """The rows of one ``>id`` cursor page (``order`` id asc, ``start=-1``: no count), found without copying the
    whole table: the rows after the cursor are a bisect away in the table's sorted ids.
    Returns the first page's worth of rows passing the filter (the list still filters and projects them), or
    None when the request is not such a page (then every row is listed, as before)."""
    params = call.params
    raw_filter = params.get("filter")
    order = params.get("order")
    if (
        parse_start(params.get("start", 0)) != -1
        or not isinstance(raw_filter, dict)
        or not isinstance(order, dict)
        or [(str(k).lower(), str(v).lower()) for k, v in order.items()] != [("id", "asc")]
    ):
        return None
    cursor = raw_filter.get(">id")
    if isinstance(cursor, str) and cursor.isascii() and cursor.isdigit():
        cursor = int(cursor)  # form-encoded and query parameters arrive as text
    if isinstance(cursor, list | dict):
        # A batch's $result reference past a short page resolves to that page (an array): ">" an array matches
        # no row (listing.match), so the answer is empty, found without listing the whole table.
        return []
    if isinstance(cursor, bool) or not isinstance(cursor, int):
        return None
    ids = table.sorted_ids()
    site_tz = timezone(timedelta(minutes=call.config.utc_offset_minutes))
    conditions = parse_filter(spec, raw_filter, site_tz)
    found: list[Row] = []
    # PAGE_SIZE + 1: one more than a page, so the paging decides as it would on the whole table.
    for row_id in itertools.islice(ids, bisect.bisect_right(ids, cursor), None):
        row = table.rows[row_id]
        if keep(row) and filter_rows([row], conditions):
            found.append(row)
            if len(found) > PAGE_SIZE:
                break
    return found


# -- orders --------------------------------------------------------------------------------------------------


def order_list(call: Call) -> Answer:
    table = call.shop.t("orders")
    wanted = call.params.get("filter")
    one = wanted.get("id", wanted.get("=id")) if isinstance(wanted, dict) else None
    if isinstance(one, (int, str)) and not isinstance(one, bool):
        # One order by id (a status check): narrowed first, the filter still runs on what is left.
        row = table.get(one)
        return list_answer(call, E.ORDER, [row] if row is not None else [], "orders")
    some = wanted.get("@id") if isinstance(wanted, dict) else None
    if isinstance(some, list) and all(isinstance(i, (int, str)) and not isinstance(i, bool) for i in some):
        # A few orders by id (a batched status check): narrowed the same way.
        rows = [row for row in (table.get(i) for i in dict.fromkeys(some)) if row is not None]
        return list_answer(call, E.ORDER, sorted(rows, key=lambda r: int(r["id"])), "orders")
    first = id_cursor_page(call, table, E.ORDER)  # the poll's pages: a bisect away, not a copy of every order
    return list_answer(call, E.ORDER, table.all() if first is None else first, "orders")


def order_get(call: Call) -> Answer:
    order = call.shop.order(call.require("id"))
    return Answer({"order": full_order(call.shop, order)})


def order_update(call: Call) -> Answer:
    order_id = call.require("id")
    fields = E.internalize(E.ORDER, call.require("fields"), for_update=True)
    order = call.shop.update_order(order_id, fields)
    return Answer({"order": full_order(call.shop, order)})


def order_add(call: Call) -> Answer:
    """Creates an order from ``fields`` plus the sandbox's ``basketItems`` list (``productId``, ``quantity``).

    The real method creates an empty order and the basket comes from sale.basketitem.add; the sandbox takes
    the lines in one go so a client can place an order without the control API.
    """
    raw = call.require("fields")
    fields = E.internalize(E.ORDER, raw, for_update=False)
    lines_raw = raw.get("basketItems") if isinstance(raw, dict) else None
    lines: list[tuple[int, float]] = []
    # Every line is checked before the order row is written: a refused add must not leave a half order
    # holding reservations behind.
    for index, line in enumerate(lines_raw if isinstance(lines_raw, list) else []):
        if isinstance(line, dict) and "productId" in line:
            product = call.shop.product(int(line["productId"]))
            quantity = float(line.get("quantity", 1))
            if not (math.isfinite(quantity) and quantity > 0):
                raise rest_errors.controller(0, f"basketItems[{index}]: quantity must be greater than 0")
            lines.append((int(product["id"]), quantity))
    order = call.shop.place_order(
        lines,
        user_id=int(fields.get("userId", call.user_id)),
        status_id=str(fields.get("statusId", "N")),
        comment=str(fields.get("comments", "")),
        xml_id=fields.get("xmlId"),
        person_type_id=int(fields["personTypeId"]),
    )
    return Answer({"order": full_order(call.shop, order)})


def delivery_get_list(call: Call) -> Answer:
    """A legacy-style method: UPPER_SNAKE ``SELECT``/``FILTER``/``ORDER``, a bare list, no paging. From sale
    21.400 it lists only services made over REST (its handler adds ``=CLASS_NAME`` RestHandler/RestProfile): the
    built-in courier, post and pickup services are missing from it (``delivery_listing = "rest_only"``)."""
    params = {str(k).upper(): v for k, v in call.params.items()}
    rest_only = call.config.delivery_listing == "rest_only"
    rows = [
        {
            "ID": row["id"],
            "PARENT_ID": None,
            "NAME": row["name"],
            "CURRENCY": row["currency"],
            "DESCRIPTION": row["description"],
            "SORT": 500,
            "ACTIVE": row["active"],
        }
        for row in call.shop.t("deliveries").all()
        if not rest_only or row.get("_className") == "RestHandler"
    ]
    conditions = parse_filter(E.DELIVERY_SERVICE, params.get("FILTER"))
    found = order_rows(E.DELIVERY_SERVICE, filter_rows(rows, conditions), params.get("ORDER"))
    names = select_fields(E.DELIVERY_SERVICE, params.get("SELECT"))
    return Answer([project(row, names, E.DELIVERY_SERVICE) for row in found])


# -- statuses ------------------------------------------------------------------------------------------------


def person_type_list(call: Call) -> Answer:
    return list_answer(call, E.PERSON_TYPE, call.shop.t("personTypes").all(), "personTypes")


def status_list(call: Call) -> Answer:
    return list_answer(call, E.STATUS, call.shop.t("statuses").all(), "statuses")


def statuslang_list(call: Call) -> Answer:
    return list_answer(call, E.STATUS_LANG, call.shop.t("statusLangs").all(), "statusLangs")


def status_add(call: Call) -> Answer:
    """sale-status-add.md: ``fields {id*, type*, notify, sort, color, xmlId}``; an id is unique across both types
    (201350000001), at most two characters (201350000005); the type is O or D (201350000003)."""
    fields = call.require("fields")
    if not isinstance(fields, dict):
        raise rest_errors.required_argument("fields")
    status_id = str(fields.get("id") or "").strip()
    kind = str(fields.get("type") or "")
    if not status_id:
        raise rest_errors.controller(201350000004, "Empty status identifier value")
    if len(status_id) > 2:
        raise rest_errors.controller(201350000005, "Status identifier length limit exceeded")
    if kind not in ("O", "D"):
        raise rest_errors.controller(201350000003, "Status type value not provided or incorrect")
    if call.shop.status(status_id) is not None:
        raise rest_errors.controller(201350000001, "Duplicate entry for key [id]")
    row = call.shop.add_status(
        status_id,
        status_id,
        kind=kind,
        sort=int(fields.get("sort") or 100),
        color=str(fields.get("color") or ""),
        notify=str(fields.get("notify") or "Y"),
        with_name=False,
    )
    row["xmlId"] = fields.get("xmlId")
    return Answer({"status": public(row)})


def statuslang_add(call: Call) -> Answer:
    """sale-status-lang-add.md: ``fields {statusId*, lid*, name*, description}``; the status must exist."""
    fields = call.require("fields")
    if not isinstance(fields, dict):
        raise rest_errors.required_argument("fields")
    missing = [name for name in ("statusId", "lid", "name") if not str(fields.get(name) or "").strip()]
    if missing:
        raise rest_errors.required_fields(missing)
    status_id, lid = str(fields["statusId"]), str(fields["lid"])
    if call.shop.status(status_id) is None:
        raise rest_errors.controller(201350000002, f"status {status_id} is not exists")
    langs = call.shop.t("statusLangs")
    if any(row["statusId"] == status_id and row["lid"] == lid for row in langs.all()):
        raise rest_errors.controller(201350000001, "Duplicate entry for key [statusId, lid]")
    row = {
        "statusId": status_id,
        "lid": lid,
        "name": str(fields["name"]),
        "description": str(fields.get("description") or ""),
    }
    langs.last_id += 1
    langs.rows[langs.last_id] = row
    return Answer({"statusLang": dict(row)})


# -- basket --------------------------------------------------------------------------------------------------


def _basket_row(item: Row) -> Row:
    """A basket item as sale.basketitem.* show it: integer ids (sale-basket-item-list.md), where sale.order.get's
    nested basketItems carry them as text (its docs' example)."""
    return {**public(item), "id": int(item["id"]), "orderId": int(item["orderId"])}


def _of_order(call: Call, table: str) -> list[Row]:
    """The table's rows, narrowed first to one order when the filter names it exactly (the filter still runs on
    what is left, so the answer is the same): a shop with many orders answers a per-order list without copying
    every row it holds."""
    wanted = call.params.get("filter")
    order_id = None
    if isinstance(wanted, dict):
        order_id = wanted.get("orderId", wanted.get("=orderId"))
    if isinstance(order_id, (int, str)) and not isinstance(order_id, bool):
        return call.shop.children(table, "orderId", order_id)
    return call.shop.t(table).all()


def basket_list(call: Call) -> Answer:
    rows = [_basket_row(r) for r in _of_order(call, "basketItems")]
    return list_answer(call, E.BASKET_ITEM, rows, "basketItems")


def basket_get(call: Call) -> Answer:
    item = _get(call.shop.t("basketItems"), call.require("id"), 200840400001, "basket item is not exists")
    return Answer({"basketItem": _basket_row(item)})


def basket_update(call: Call) -> Answer:
    """sale-basket-item-update.md: ``id`` and ``fields`` required; the answer is the item as it now is."""
    basket_id = call.require("id")
    fields = call.require("fields")
    if not isinstance(fields, dict):
        raise rest_errors.required_argument("fields")
    call.shop.update_line(basket_id, fields)
    item = call.shop.t("basketItems").get(basket_id)
    assert item is not None
    return Answer({"basketItem": _basket_row(item)})


def basket_add(call: Call) -> Answer:
    """sale-basket-item-add.md: ``orderId`` (200140400008 without it), ``productId``, ``quantity`` and
    ``currency`` required; the answer is the new item."""
    raw = call.require("fields")
    if not isinstance(raw, dict):
        raise rest_errors.required_argument("fields")
    fields = E.internalize(E.BASKET_ITEM, raw, for_update=False, check_required=False)
    if "orderId" not in fields:
        raise rest_errors.controller(200140400008, "Required fields: fields[ORDER_ID]")
    missing = [name for name in ("productId", "quantity", "currency") if name not in fields]
    if missing:
        raise rest_errors.required_fields(missing)
    return Answer({"basketItem": _basket_row(call.shop.add_line(fields))})


def basket_delete(call: Call) -> Answer:
    """sale-basket-item-delete.md: ``id`` required; 200140400001 for an item that does not exist."""
    call.shop.delete_line(call.require("id"))
    return Answer(True)


def basket_properties_list(call: Call) -> Answer:
    rows = call.shop.t("basketProperties").all()
    return list_answer(call, E.BASKET_PROPERTY, rows, "basketProperties")


def basket_properties_delete(call: Call) -> Answer:
    call.shop.delete_basket_property(call.require("id"))
    return Answer(True)


def basket_properties_add(call: Call) -> Answer:
    fields = E.internalize(E.BASKET_PROPERTY, call.require("fields"), for_update=False)
    row = call.shop.add_basket_property(int(fields["basketId"]), fields)
    item = call.shop.t("basketItems").get(row["basketId"])
    if item is not None:  # saving the order is what fires ONSALEORDERSAVED, as on a real shop
        call.shop.update_order(item["orderId"], {})
    return Answer({"basketProperty": public(row)})


# -- shipments -----------------------------------------------------------------------------------------------


def shipment_list(call: Call) -> Answer:
    visible = [row for row in _of_order(call, "shipments") if row["system"] != "Y"]
    return list_answer(call, E.SHIPMENT, visible, "shipments")


def shipment_get(call: Call) -> Answer:
    shipment = call.shop.shipment(call.require("id"))
    return Answer({"shipment": full_shipment(call.shop, shipment)})


# sale-shipment-update.md: what an update does not send is not kept. The status falls back to "DN" and the delivery
# prices to 0, so a client must echo them (bitrix-rest-addendum.md, "Shipments").
_SHIPMENT_UPDATE_RESETS = {"statusId": "DN", "basePriceDelivery": 0.0, "priceDelivery": 0.0}


def shipment_update(call: Call) -> Answer:
    shipment_id = call.require("id")
    fields = E.internalize(E.SHIPMENT, call.require("fields"), for_update=True)
    fields = {**_SHIPMENT_UPDATE_RESETS, **fields}
    shipment = call.shop.update_shipment(shipment_id, fields)
    return Answer({"shipment": full_shipment(call.shop, shipment)})


def shipment_item_list(call: Call) -> Answer:
    return list_answer(call, E.SHIPMENT_ITEM, call.shop.t("shipmentItems").all(), "shipmentItems")


def shipment_item_get(call: Call) -> Answer:
    line = _get(call.shop.t("shipmentItems"), call.require("id"), 201240400001, "shipment item is not exists")
    return Answer({"shipmentItem": public(line)})


def shipment_item_add(call: Call) -> Answer:
    """sale-shipment-item-add.md: ``orderDeliveryId``, ``basketId`` and ``quantity`` required."""
    fields = E.internalize(E.SHIPMENT_ITEM, call.require("fields"), for_update=False)
    return Answer({"shipmentItem": public(call.shop.add_shipment_line(fields))})


def shipment_item_update(call: Call) -> Answer:
    item_id = call.require("id")
    fields = E.internalize(E.SHIPMENT_ITEM, call.require("fields"), for_update=True)
    return Answer({"shipmentItem": public(call.shop.update_shipment_item(item_id, fields))})


# -- payments ------------------------------------------------------------------------------------------------


def payment_list(call: Call) -> Answer:
    return list_answer(call, E.PAYMENT, call.shop.t("payments").all(), "payments")


def payment_get(call: Call) -> Answer:
    payment = _get(call.shop.t("payments"), call.require("id"), 201040400001, "payment is not exists")
    return Answer({"payment": public(payment)})


def payment_update(call: Call) -> Answer:
    payment_id = call.require("id")
    fields = E.internalize(E.PAYMENT, call.require("fields"), for_update=True)
    return Answer({"payment": public(call.shop.update_payment(payment_id, fields))})


# -- shipment properties (marking-code carriers) -------------------------------------------------------------


def shipment_property_list(call: Call) -> Answer:
    return list_answer(call, E.SHIPMENT_PROPERTY, call.shop.t("shipmentProperties").all(), "properties")


def _property_value_rows(shop: Shop) -> list[Row]:
    rows = []
    for value in shop.t("shipmentPropertyValues").all():
        prop = shop.t("shipmentProperties").get(value["shipmentPropsId"])
        rows.append(
            {
                **value,
                "code": prop["code"] if prop else None,
                "name": prop["name"] if prop else "",
                "shipmentPropsXmlId": prop["xmlId"] if prop else None,
            }
        )
    return rows


def shipment_property_value_list(call: Call) -> Answer:
    return list_answer(call, E.SHIPMENT_PROPERTY_VALUE, _property_value_rows(call.shop), "propertyValues")


def shipment_property_value_modify(call: Call) -> Answer:
    """ShipmentPropertyValue::modifyAction: only the values sent change; a property the shipment does not have is
    skipped without a word, so a client reads the answer back; a value longer than 500 fails the order's save."""
    fields = call.require("fields")
    shipment_block = fields.get("shipment") if isinstance(fields, dict) else None
    shipment_id = shipment_block.get("id") if isinstance(shipment_block, dict) else None
    if not str(shipment_id or "").strip().isdigit() or int(str(shipment_id)) == 0:
        raise rest_errors.controller(201040400006, "Shipment identifier is not specified")
    assert isinstance(shipment_block, dict)
    shop = call.shop
    shipment = shop.t("shipments").get(shipment_id)
    if shipment is None:
        raise rest_errors.controller(201040400007, "Shipment has not been found")
    values = shipment_block.get("propertyValues")
    items = list(values.values()) if isinstance(values, dict) else values if isinstance(values, list) else []
    changes: list[tuple[Row, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        prop = shop.t("shipmentProperties").get(item.get("shipmentPropsId"))
        if prop is not None:
            changes.append((prop, item.get("value", "")))
    if any(len(str(value)) > SHIPMENT_PROPERTY_VALUE_LIMIT for _, value in changes):
        # OrderPropsTable::validateValue fails the save; the controller answers only this.
        raise rest_errors.controller(201040400008, "Order save error")
    for prop, value in changes:
        existing = next(
            (
                v
                for v in shop.t("shipmentPropertyValues").all()
                if v["shipmentId"] == shipment["id"] and v["shipmentPropsId"] == prop["id"]
            ),
            None,
        )
        if existing is None:
            shop.t("shipmentPropertyValues").insert(
                {"shipmentId": shipment["id"], "shipmentPropsId": prop["id"], "value": str(value)}
            )
        else:
            existing["value"] = str(value)
    shop.update_order(shipment["orderId"], {})
    mine = [row for row in _property_value_rows(shop) if row["shipmentId"] == shipment["id"]]
    return Answer({"propertyValues": [{k: r[k] for k in ("code", "id", "name", "value")} for r in mine]})


SHIPMENT_PROPERTY_VALUE_LIMIT = 500  # OrderPropsTable::validateValue


METHODS = [
    Method("sale.order.list", "sale", order_list, access="R"),
    Method("sale.order.get", "sale", order_get, access="R"),
    Method("sale.order.update", "sale", order_update, access="W"),
    Method("sale.order.add", "sale", order_add, access="W"),
    Method("sale.delivery.getList", "sale", delivery_get_list, access="R"),
    Method("sale.status.list", "sale", status_list, access="R"),
    Method("sale.persontype.list", "sale", person_type_list, access="R"),
    Method("sale.statusLang.list", "sale", statuslang_list, access="R"),
    Method("sale.status.add", "sale", status_add, access="W"),
    Method("sale.statusLang.add", "sale", statuslang_add, access="W"),
    Method("sale.basketItem.list", "sale", basket_list, access="R"),
    Method("sale.basketItem.get", "sale", basket_get, access="R"),
    Method("sale.basketItem.add", "sale", basket_add, access="W"),
    Method("sale.basketItem.update", "sale", basket_update, access="W"),
    Method("sale.basketItem.delete", "sale", basket_delete, access="W"),
    Method("sale.basketProperties.list", "sale", basket_properties_list, access="R"),
    Method("sale.basketProperties.add", "sale", basket_properties_add, access="W"),
    Method("sale.basketProperties.delete", "sale", basket_properties_delete, access="W"),
    Method("sale.shipment.list", "sale", shipment_list, access="R"),
    Method("sale.shipment.get", "sale", shipment_get, access="R"),
    Method("sale.shipment.update", "sale", shipment_update, access="W"),
    Method("sale.shipmentItem.list", "sale", shipment_item_list, access="R"),
    Method("sale.shipmentItem.get", "sale", shipment_item_get, access="R"),
    Method("sale.shipmentItem.add", "sale", shipment_item_add, access="W"),
    Method("sale.shipmentItem.update", "sale", shipment_item_update, access="W"),
    Method("sale.payment.list", "sale", payment_list, access="R"),
    Method("sale.payment.get", "sale", payment_get, access="R"),
    Method("sale.payment.update", "sale", payment_update, access="W"),
    Method("sale.shipmentProperty.list", "sale", shipment_property_list, access="R"),
    Method("sale.shipmentPropertyValue.list", "sale", shipment_property_value_list, access="R"),
    Method("sale.shipmentPropertyValue.modify", "sale", shipment_property_value_modify, access="W"),
]

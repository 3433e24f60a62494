"""The companion module's REST methods (``bitrixinflow.*``), as ``bitrix-module/`` registers them on a shop.

No standard REST method reaches a shipment line's store barcodes (``b_sale_store_barcode.MARKING_CODE``, the field the
cashbox's receipt reads), the product's barcode list, or one basket line's reservation (bitrix-rest.md §2.6), so the
module adds them. The contract is the module's README; this file answers as the module does, error codes included.
A shop without the module (Bitrix24 cloud) has none of these methods: ``ERROR_METHOD_NOT_FOUND``.
"""

from __future__ import annotations

from typing import Any

from bitrix_inflow.sandboxes.bitrix.registry import Answer, Call, Method
from bitrix_inflow.sandboxes.bitrix.rest_errors import RestError
from bitrix_inflow.sandboxes.bitrix.shop import Row, Shop

SCOPE = "bitrixinflow"
MAX_CODE_LENGTH = 200  # b_sale_store_barcode.MARKING_CODE is varchar(200)


def _error(code: str, description: str) -> RestError:
    # \Bitrix\Rest\RestException($description, $code, CRestServer::STATUS_WRONG_REQUEST)
    return RestError(400, code, description)


def _positive_int(call: Call, name: str) -> int:
    value = call.params.get(name)
    text = str(value).strip() if value is not None else ""
    if not text.isdigit() or int(text) <= 0:
        raise _error("BITRIXINFLOW_WRONG_PARAMETER", f"{name} must be a positive integer")
    return int(text)


def _shipment_line(shop: Shop, shipment_id: int, basket_id: int) -> tuple[Row, Row, Row]:
    shipment = shop.t("shipments").get(shipment_id)
    if shipment is None or shipment.get("system") == "Y":
        raise _error("BITRIXINFLOW_SHIPMENT_NOT_FOUND", f"shipment {shipment_id} does not exist")
    line = next(
        (
            row
            for row in shop.children("shipmentItems", "orderDeliveryId", shipment_id)
            if int(row["basketId"]) == basket_id
        ),
        None,
    )
    if line is None:
        raise _error(
            "BITRIXINFLOW_BASKET_NOT_IN_SHIPMENT", f"basket item {basket_id} is not in shipment {shipment_id}"
        )
    basket = shop.t("basketItems").get(basket_id)
    if basket is None:
        raise _error("BITRIXINFLOW_BASKET_NOT_IN_SHIPMENT", f"basket item {basket_id} does not exist")
    return shipment, line, basket


def marking_set(call: Call) -> Answer:
    """``bitrixinflow.marking.set {shipmentId, basketId, storeId?, codes: [...]}``: the line's store rows become
    exactly these codes, one row of quantity 1 each (a repeat with the same codes changes nothing and saves nothing:
    ``changed`` false). Refused, with
    nothing changed: a deducted shipment, a product without a marking group, more codes than units, a code twice."""
    shop = call.shop
    shipment_id = _positive_int(call, "shipmentId")
    basket_id = _positive_int(call, "basketId")
    codes = call.params.get("codes")
    if not isinstance(codes, list) or not all(isinstance(c, str) and c for c in codes):
        raise _error("BITRIXINFLOW_WRONG_PARAMETER", "codes must be a list of marking codes (strings)")
    shipment, line, basket = _shipment_line(shop, shipment_id, basket_id)
    if shipment["deducted"] == "Y":
        raise _error(
            "BITRIXINFLOW_SHIPMENT_DEDUCTED",
            f"shipment {shipment_id} is deducted: its marking codes can no longer change",
        )
    product = shop.t("products").get(basket["productId"]) or {}
    if codes and not product.get("_markingGroup"):
        raise _error("BITRIXINFLOW_NOT_MARKED", f"product {basket['productId']} has no marking group")
    if len(codes) > int(float(line["quantity"])):
        raise _error(
            "BITRIXINFLOW_TOO_MANY_CODES",
            f"{len(codes)} codes for {line['quantity']} unit(s) of basket item {basket_id} in this shipment",
        )
    if len(set(codes)) != len(codes):
        raise _error("BITRIXINFLOW_DUPLICATE_CODE", "a code appears twice")
    if any(len(code) > MAX_CODE_LENGTH for code in codes):
        raise _error(
            "BITRIXINFLOW_WRONG_PARAMETER", f"a marking code is longer than {MAX_CODE_LENGTH} characters"
        )
    store_id = call.params.get("storeId")
    store = int(store_id) if store_id not in (None, "", 0, "0") else _line_store(basket)
    table = shop.t("storeBarcodes")
    held = [row["markingCode"] for row in shop.children("storeBarcodes", "orderDeliveryBasketId", line["id"])]
    if held == list(codes):  # asked again: the order is not saved again (no event)
        return Answer({"shipmentItemId": line["id"], "codes": list(codes), "changed": False})
    for row in shop.children("storeBarcodes", "orderDeliveryBasketId", line["id"]):
        del table.rows[int(row["id"])]
    now = shop.clock.iso()
    for code in codes:
        table.insert(
            {
                "orderDeliveryBasketId": line["id"],
                "basketId": basket_id,
                "storeId": store,
                "barcode": "",
                "markingCode": code,
                "quantity": 1,
                "dateCreate": now,
            }
        )
    shop.update_order(
        shipment["orderId"], {}
    )  # the module saves the order, as the shipment's collection does
    return Answer({"shipmentItemId": line["id"], "codes": list(codes)})


def _line_store(basket: Row) -> int:
    reservations = basket.get("reservations") or []
    return int(reservations[0]["storeId"]) if reservations else 0


def marking_get(call: Call) -> Answer:
    """``bitrixinflow.marking.get {orderId}``: every shipment line of the order, marked or not, with its codes."""
    shop = call.shop
    order_id = _positive_int(call, "orderId")
    if shop.t("orders").get(order_id) is None:
        raise _error("BITRIXINFLOW_ORDER_NOT_FOUND", f"order {order_id} does not exist")
    items = []
    for shipment in shop.order_shipments(order_id):
        if shipment.get("system") == "Y":
            continue
        for line in shop.children("shipmentItems", "orderDeliveryId", shipment["id"]):
            basket = shop.t("basketItems").get(line["basketId"]) or {}
            product = shop.t("products").get(basket.get("productId")) or {}
            rows = shop.children("storeBarcodes", "orderDeliveryBasketId", line["id"])
            items.append(
                {
                    "shipmentId": shipment["id"],
                    "shipmentItemId": line["id"],
                    "basketId": int(line["basketId"]),
                    "productId": basket.get("productId"),
                    "quantity": line["quantity"],
                    "markingGroup": product.get("_markingGroup") or "",
                    "deducted": shipment["deducted"],
                    "codes": [row["markingCode"] for row in rows if row["markingCode"]],
                }
            )
    return Answer({"items": items})


def barcode_list(call: Call) -> Answer:
    """``bitrixinflow.barcode.list {productIds: [...]}``: each product's barcodes and marking group."""
    ids = call.params.get("productIds")
    if not isinstance(ids, list) or not ids or not all(str(i).strip().isdigit() for i in ids):
        raise _error("BITRIXINFLOW_WRONG_PARAMETER", "productIds must be a non-empty list of product ids")
    products: dict[str, Any] = {}
    for raw in ids:
        product = call.shop.t("products").get(int(raw))
        if product is not None:
            products[str(product["id"])] = {
                "barcodes": list(product.get("_barcodes") or []),
                "markingGroup": product.get("_markingGroup") or "",
            }
    return Answer({"products": products})


def reservation_release(call: Call) -> Answer:
    """``bitrixinflow.reservation.release {basketId}``: the line's reservation let go (its units free to sell
    again); the line stays in the order. Releasing a line that holds nothing answers ``released: 0``."""
    basket_id = _positive_int(call, "basketId")
    released = call.shop.release_line(basket_id)
    return Answer({"basketId": basket_id, "released": released})


METHODS = [
    Method("bitrixinflow.marking.set", SCOPE, marking_set),
    Method("bitrixinflow.marking.get", SCOPE, marking_get),
    Method("bitrixinflow.barcode.list", SCOPE, barcode_list),
    Method("bitrixinflow.reservation.release", SCOPE, reservation_release),
]

"""The sandbox answers with the same shapes as the documentation's examples."""

from __future__ import annotations

from typing import Any

from bitrix_inflow.sandboxes.bitrix import RunningSandbox

# Keys of the sale.order.get example in the docs (D:api-reference/sale/order/sale-order-get.md).
ORDER_KEYS = {
    "accountNumber",
    "additionalInfo",
    "affiliateId",
    "basketItems",
    "canceled",
    "clients",
    "comments",
    "companyId",
    "currency",
    "dateCanceled",
    "dateInsert",
    "dateLock",
    "dateMarked",
    "dateStatus",
    "dateUpdate",
    "deducted",
    "discountValue",
    "empCanceledId",
    "empMarkedId",
    "empStatusId",
    "externalOrder",
    "id",
    "id1c",
    "lid",
    "lockedBy",
    "marked",
    "orderTopic",
    "payed",
    "payments",
    "personTypeId",
    "personTypeXmlId",
    "price",
    "propertyValues",
    "reasonCanceled",
    "reasonMarked",
    "recountFlag",
    "recurringId",
    "requisiteLink",
    "responsibleId",
    "shipments",
    "statusId",
    "statusXmlId",
    "taxValue",
    "tradeBindings",
    "updated1c",
    "userDescription",
    "userId",
    "version",
    "version1c",
    "xmlId",
}
BASKET_ITEM_KEYS = {
    "barcodeMulti",
    "basePrice",
    "canBuy",
    "catalogXmlId",
    "currency",
    "customPrice",
    "dateInsert",
    "dateRefresh",
    "dateUpdate",
    "detailPageUrl",
    "dimensions",
    "discountCoupon",
    "discountName",
    "discountPrice",
    "discountValue",
    "fuserId",
    "id",
    "lid",
    "measureCode",
    "measureName",
    "module",
    "name",
    "notes",
    "orderId",
    "price",
    "priceTypeId",
    "productId",
    "productPriceId",
    "productProviderClass",
    "productXmlId",
    "properties",
    "quantity",
    "recommendation",
    "reservations",
    "setParentId",
    "sort",
    "subscribe",
    "type",
    "vatIncluded",
    "vatRate",
    "weight",
    "xmlId",
}
PAYMENT_KEYS = {
    "accountNumber",
    "comments",
    "companyId",
    "currency",
    "dateBill",
    "dateMarked",
    "datePaid",
    "datePayBefore",
    "dateResponsibleId",
    "empMarkedId",
    "empPaidId",
    "empResponsibleId",
    "empReturnId",
    "externalPayment",
    "id",
    "id1c",
    "isReturn",
    "marked",
    "orderId",
    "paid",
    "payReturnComment",
    "payReturnDate",
    "payReturnNum",
    "paySystemId",
    "paySystemIsCash",
    "paySystemName",
    "paySystemXmlId",
    "payVoucherDate",
    "payVoucherNum",
    "priceCod",
    "psCurrency",
    "psInvoiceId",
    "psResponseDate",
    "psStatus",
    "psStatusCode",
    "psStatusDescription",
    "psStatusMessage",
    "psSum",
    "reasonMarked",
    "responsibleId",
    "sum",
    "updated1c",
    "version1c",
    "xmlId",
}
SHIPMENT_KEYS = {
    "accountNumber",
    "allowDelivery",
    "basePriceDelivery",
    "canceled",
    "comments",
    "companyId",
    "currency",
    "customPriceDelivery",
    "dateAllowDelivery",
    "dateCanceled",
    "dateDeducted",
    "dateInsert",
    "dateMarked",
    "dateResponsibleId",
    "deducted",
    "deliveryDocDate",
    "deliveryDocNum",
    "deliveryId",
    "deliveryName",
    "deliveryXmlId",
    "discountPrice",
    "empAllowDeliveryId",
    "empCanceledId",
    "empDeductedId",
    "empMarkedId",
    "empResponsibleId",
    "externalDelivery",
    "id",
    "id1c",
    "marked",
    "orderId",
    "priceDelivery",
    "reasonMarked",
    "reasonUndoDeducted",
    "responsibleId",
    "shipmentItems",
    "statusId",
    "statusXmlId",
    "system",
    "trackingDescription",
    "trackingLastCheck",
    "trackingNumber",
    "trackingStatus",
    "updated1c",
    "version1c",
    "xmlId",
}
SHIPMENT_ITEM_KEYS = {
    "basketId",
    "dateInsert",
    "id",
    "orderDeliveryId",
    "quantity",
    "reservedQuantity",
    "xmlId",
}
RESERVATION_KEYS = {
    "basketId",
    "dateReserve",
    "dateReserveEnd",
    "id",
    "quantity",
    "reservedBy",
    "storeId",
}


def test_order_get_has_exactly_the_keys_of_the_docs_example(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    order_id = place(shop, (1, 1), (2, 2))["id"]
    order = rest.ok("sale.order.get", {"id": order_id})["result"]["order"]
    assert set(order) == ORDER_KEYS
    assert set(order["basketItems"][0]) == BASKET_ITEM_KEYS
    assert set(order["basketItems"][0]["reservations"][0]) == RESERVATION_KEYS
    assert set(order["payments"][0]) == PAYMENT_KEYS
    assert set(order["shipments"][0]) == SHIPMENT_KEYS
    assert set(order["shipments"][0]["shipmentItems"][0]) == SHIPMENT_ITEM_KEYS


def test_lists_answer_the_fields_of_the_entity_get(shop: RunningSandbox, rest: Any, place: Any) -> None:
    order_id = place(shop, (3, 1))["id"]
    listed = rest.ok("sale.order.list", {"filter": {"id": order_id}})["result"]["orders"][0]
    assert set(listed) == ORDER_KEYS - {"basketItems", "payments", "shipments", "propertyValues", "clients",
                                        "tradeBindings", "requisiteLink"}  # fmt: skip
    shipment = rest.ok("sale.shipment.list", {"filter": {"orderId": order_id}})["result"]["shipments"][0]
    assert set(shipment) == SHIPMENT_KEYS - {"shipmentItems"}
    payment = rest.ok("sale.payment.list", {"filter": {"orderId": order_id}})["result"]["payments"][0]
    assert set(payment) == PAYMENT_KEYS


def test_status_list_matches_the_docs_example_shape(rest: Any) -> None:
    statuses = rest.ok("sale.status.list", {"filter": {"id": "N"}})["result"]["statuses"]
    assert statuses == [
        {"color": "#BEEDF1", "id": "N", "notify": "Y", "sort": 10, "type": "O", "xmlId": None}
    ]

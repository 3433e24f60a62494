"""Reservations, deduction and stock documents (brief: reservations; reference §2.7-2.8)."""

from __future__ import annotations

from typing import Any

from bitrix_inflow.sandboxes.bitrix import RunningSandbox


def _product(rest: Any, product_id: int) -> dict[str, Any]:
    return dict(rest.ok("catalog.product.get", {"id": product_id})["result"]["product"])


def _cell(rest: Any, product_id: int, store_id: int) -> dict[str, Any]:
    rows = rest.ok("catalog.storeproduct.list", {"filter": {"productId": product_id, "storeId": store_id}})
    return dict(rows["result"]["storeProducts"][0])


def _fresh_product(shop: RunningSandbox, product_id: int, amount: float) -> None:
    shop.control.set_stock(product_id, 1, amount)


def test_placing_reserves_and_cancelling_releases(shop: RunningSandbox, rest: Any, place: Any) -> None:
    _fresh_product(shop, 20, 40)
    before = _product(rest, 20)
    order = place(shop, (20, 3), storeId=1)
    during = _product(rest, 20)
    assert during["quantityReserved"] == before["quantityReserved"] + 3
    assert during["quantity"] == before["quantity"] - 3
    assert _cell(rest, 20, 1)["quantityReserved"] >= 3
    reservations = order["basketItems"][0]["reservations"]
    assert reservations[0]["storeId"] == 1
    assert reservations[0]["quantity"] == 3
    rest.ok(
        "sale.order.update", {"id": order["id"], "fields": {"canceled": "Y", "reasonCanceled": "WMS: out"}}
    )
    after = _product(rest, 20)
    assert after["quantityReserved"] == before["quantityReserved"]
    assert after["quantity"] == before["quantity"]
    cancelled = rest.ok("sale.order.get", {"id": order["id"]})["result"]["order"]
    assert cancelled["canceled"] == "Y"
    assert cancelled["dateCanceled"] is not None


def test_cancel_status_z_releases_once(shop: RunningSandbox, rest: Any, place: Any) -> None:
    before = _product(rest, 21)
    order = place(shop, (21, 2))
    rest.ok("sale.order.update", {"id": order["id"], "fields": {"statusId": "Z"}})
    rest.ok("sale.order.update", {"id": order["id"], "fields": {"canceled": "Y"}})
    after = _product(rest, 21)
    assert after["quantityReserved"] == before["quantityReserved"]
    assert after["quantity"] == before["quantity"]


def test_unreserve_through_the_control_api(shop: RunningSandbox, rest: Any, place: Any) -> None:
    before = _product(rest, 22)
    order = place(shop, (22, 1))
    released = shop.control.unreserve(order["id"])
    assert released["basketItems"][0]["reservations"][0]["quantity"] == 0
    assert released["shipments"][0]["shipmentItems"][0]["reservedQuantity"] == 0
    assert _product(rest, 22)["quantityReserved"] == before["quantityReserved"]


def test_deducting_a_shipment_takes_stock_off_the_store(shop: RunningSandbox, rest: Any, place: Any) -> None:
    _fresh_product(shop, 23, 30)
    cell_before = _cell(rest, 23, 1)
    product_before = _product(rest, 23)
    order = place(shop, (23, 4), storeId=1)
    shipment = order["shipments"][0]
    body = rest.ok(
        "sale.shipment.update",
        {
            "id": shipment["id"],
            "fields": {
                "allowDelivery": "Y",
                "deducted": "Y",
                "deliveryId": shipment["deliveryId"],
                "statusId": "DF",
            },
        },
    )["result"]["shipment"]
    assert body["deducted"] == "Y"
    assert body["dateDeducted"] is not None
    cell_after = _cell(rest, 23, 1)
    assert cell_after["amount"] == cell_before["amount"] - 4
    assert cell_after["quantityReserved"] == cell_before["quantityReserved"]
    product_after = _product(rest, 23)
    assert product_after["quantity"] == product_before["quantity"] - 4
    assert product_after["quantityReserved"] == product_before["quantityReserved"]
    assert rest.ok("sale.order.get", {"id": order["id"]})["result"]["order"]["deducted"] == "Y"


def test_stock_documents_receive_move_and_write_off(shop: RunningSandbox, rest: Any) -> None:
    _fresh_product(shop, 24, 10)
    start_1, start_2 = _cell(rest, 24, 1)["amount"], _cell(rest, 24, 2)["amount"]
    types = rest.ok("catalog.enum.getStoreDocumentTypes")["result"]["enum"]
    assert {t["id"] for t in types} == {"A", "S", "M", "R", "D"}

    def document(doc_type: str, **element: Any) -> int:
        fields = {"docType": doc_type, "currency": "RUB", "responsibleId": 1, "title": "WMS sync"}
        if doc_type == "A":
            fields["contractorId"] = 1  # a receipt names its supplier, or conducting it is refused
        doc = rest.ok("catalog.document.add", {"fields": fields})["result"]["document"]
        assert doc["status"] == "N"
        rest.ok("catalog.document.element.add", {"fields": {"docId": doc["id"], "elementId": 24, **element}})
        assert rest.ok("catalog.document.conduct", {"id": doc["id"]})["result"] is True
        return int(doc["id"])

    receipt = document("A", storeTo=1, amount=5, purchasingPrice=100)
    document("M", storeFrom=1, storeTo=2, amount=2)
    document("D", storeFrom=2, amount=1)
    assert _cell(rest, 24, 1)["amount"] == start_1 + 3
    assert _cell(rest, 24, 2)["amount"] == start_2 + 1
    again = rest.error("catalog.document.conduct", {"id": receipt}, status=400)
    assert again["error_description"] == "Document already conducted"
    docs = rest.ok("catalog.document.list", {"filter": {"id": receipt}})["result"]["documents"]
    assert docs[0]["status"] == "Y"


def test_write_off_beyond_stock_is_refused(shop: RunningSandbox, rest: Any) -> None:
    _fresh_product(shop, 25, 1)
    doc = rest.ok("catalog.document.add", {"fields": {"docType": "D", "currency": "RUB", "responsibleId": 1}})
    doc_id = doc["result"]["document"]["id"]
    rest.ok(
        "catalog.document.element.add",
        {"fields": {"docId": doc_id, "elementId": 25, "storeFrom": 1, "amount": 50}},
    )
    refused = rest.error("catalog.document.conduct", {"id": doc_id}, status=400)
    assert "Not enough stock" in refused["error_description"]


def test_product_quantity_is_read_only_with_inventory_management(shop: RunningSandbox, rest: Any) -> None:
    before = _product(rest, 26)
    updated = rest.ok("catalog.product.update", {"id": 26, "fields": {"quantity": 999, "name": "Renamed"}})
    element = updated["result"]["element"]
    assert element["quantity"] == before["quantity"]
    assert element["name"] == "Renamed"


def test_product_list_by_property_and_offers(shop: RunningSandbox, rest: Any) -> None:
    props = rest.ok(
        "catalog.productProperty.list",
        {"select": ["id", "iblockId", "code"], "filter": {"iblockId": 23, "code": "ARTNUMBER"}},
    )["result"]["productProperties"]
    prop = f"property{props[0]['id']}"
    found = rest.ok(
        "catalog.product.list",
        {"select": ["id", "iblockId", "name", prop], "filter": {"iblockId": 23, prop: "ART-00007"}},
    )["result"]["products"]
    assert [p["id"] for p in found] == [7]
    assert found[0][prop]["value"] == "ART-00007"
    stores = rest.ok("catalog.store.list", {"select": ["id", "title", "code"]})["result"]["stores"]
    assert [s["code"] for s in stores] == ["store_1", "store_2"]
    catalogs = rest.ok("catalog.catalog.list")["result"]["catalogs"]
    assert {c["iblockId"] for c in catalogs} == {23, 24}

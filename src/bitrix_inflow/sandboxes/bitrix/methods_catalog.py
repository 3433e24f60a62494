"""``catalog.*`` methods: catalogs, products and offers, properties, stores, per-store stock, documents."""

from __future__ import annotations

from bitrix_inflow.sandboxes.bitrix import entities as E
from bitrix_inflow.sandboxes.bitrix import rest_errors
from bitrix_inflow.sandboxes.bitrix.listing import (
    project,
    select_fields,
)
from bitrix_inflow.sandboxes.bitrix.methods_sale import id_cursor_page, public
from bitrix_inflow.sandboxes.bitrix.registry import Answer, Call, Method, list_answer
from bitrix_inflow.sandboxes.bitrix.seed import OFFER_IBLOCK_ID, PRODUCT_IBLOCK_ID
from bitrix_inflow.sandboxes.bitrix.shop import Row


def catalog_list(call: Call) -> Answer:
    return list_answer(call, E.CATALOG, call.shop.t("catalogs").all(), "catalogs")


def _checked_product_list(call: Call, iblocks: tuple[int, ...]) -> list[Row]:
    """catalog.product.list insists on ``filter.iblockId`` and on ``id`` + ``iblockId`` in ``select``."""
    raw_filter = call.params.get("filter")
    iblock = raw_filter.get("iblockId") if isinstance(raw_filter, dict) else None
    if iblock is None or iblock == "":
        raise rest_errors.controller(0, "Required filter fields: iblockId")
    selected = select_fields(E.PRODUCT, call.params.get("select"))
    if selected is None or "id" not in selected or "iblockId" not in selected:
        raise rest_errors.controller(0, "Required select fields: id, iblockId")
    table = call.shop.t("products")
    first = id_cursor_page(call, table, E.PRODUCT, keep=lambda row: row["iblockId"] in iblocks)
    rows = table.rows.values() if first is None else first
    return [public(row) for row in rows if row["iblockId"] in iblocks]


def product_list(call: Call) -> Answer:
    rows = _checked_product_list(call, (PRODUCT_IBLOCK_ID, OFFER_IBLOCK_ID))
    return list_answer(call, E.PRODUCT, rows, "products")


def offer_list(call: Call) -> Answer:
    rows = _checked_product_list(call, (OFFER_IBLOCK_ID,))
    return list_answer(call, E.OFFER, rows, "offers")


def _product(call: Call, iblocks: tuple[int, ...]) -> Row:
    row = call.shop.t("products").get(call.require("id"))
    if row is None or row["iblockId"] not in iblocks:
        # Code 0, as the docs of catalog.product.get/update and the offer methods list it; the text is the
        # product controller's own (catalog/lib/controller/product.php).
        raise rest_errors.controller(0, "Product is not exists")
    return row


def _shown(row: Row, spec: E.EntitySpec) -> Row:
    return public(project(row, None, spec))


def product_get(call: Call) -> Answer:
    return Answer({"product": _shown(_product(call, (PRODUCT_IBLOCK_ID, OFFER_IBLOCK_ID)), E.PRODUCT)})


def offer_get(call: Call) -> Answer:
    return Answer({"offer": _shown(_product(call, (OFFER_IBLOCK_ID,)), E.OFFER)})


def _update_product(call: Call, iblocks: tuple[int, ...]) -> Row:
    row = _product(call, iblocks)
    fields = E.internalize(E.PRODUCT, call.require("fields"), for_update=True, check_required=False)
    if call.shop.inventory_management:
        # With inventory management the stock fields belong to store documents and are read-only here.
        for name in ("quantity", "quantityReserved", "purchasingPrice", "purchasingCurrency"):
            fields.pop(name, None)
    for key, value in fields.items():
        row[key] = value
    call.shop.touch_product(row)
    return row


def product_update(call: Call) -> Answer:
    return Answer({"element": _shown(_update_product(call, (PRODUCT_IBLOCK_ID, OFFER_IBLOCK_ID)), E.PRODUCT)})


def offer_update(call: Call) -> Answer:
    return Answer({"offer": _shown(_update_product(call, (OFFER_IBLOCK_ID,)), E.OFFER)})


def product_property_list(call: Call) -> Answer:
    return list_answer(call, E.PRODUCT_PROPERTY, call.shop.t("productProperties").all(), "productProperties")


def store_list(call: Call) -> Answer:
    return list_answer(call, E.STORE, call.shop.t("stores").all(), "stores")


def store_get(call: Call) -> Answer:
    row = call.shop.t("stores").get(call.require("id"))
    if row is None:
        raise rest_errors.controller(0, "Store is not exists")
    return Answer({"store": public(row)})


def store_product_list(call: Call) -> Answer:
    return list_answer(call, E.STORE_PRODUCT, call.shop.t("storeProducts").all(), "storeProducts")


def store_product_get(call: Call) -> Answer:
    row = call.shop.t("storeProducts").get(call.require("id"))
    if row is None:
        raise rest_errors.controller(0, "Store product is not exists")
    return Answer({"storeProduct": public(row)})


def mode_status(call: Call) -> Answer:
    """Whether inventory management (store documents) is on: the string ``"Y"`` or ``"N"``."""
    return Answer("Y" if call.shop.inventory_management else "N")


def document_add(call: Call) -> Answer:
    # Allowed with inventory management off: only conducting is refused then (CCatalogDocs::conductDocument).
    doc_type = E.internalize(E.DOCUMENT, call.require("fields"), for_update=False, check_required=False).get(
        "docType"
    )
    if doc_type not in DOCUMENT_TYPES:
        raise rest_errors.controller(0, "DOC_TYPE isn't available")
    fields = E.internalize(E.DOCUMENT, call.require("fields"), for_update=False)
    now = call.shop.clock.iso()
    row: Row = {
        "docType": doc_type,
        "siteId": fields.get("siteId", "s1"),
        "contractorId": fields.get("contractorId"),
        "responsibleId": fields["responsibleId"],
        "currency": fields["currency"],
        "status": "N",
        "dateStatus": None,
        "dateDocument": fields.get("dateDocument", now),
        "dateCreate": now,
        "dateModify": now,
        "createdBy": call.user_id,
        "modifiedBy": call.user_id,
        "statusBy": None,
        "total": fields.get("total", 0),
        "commentary": fields.get("commentary", ""),
        "title": fields.get("title", ""),
        "docNumber": fields.get("docNumber", ""),
    }
    call.shop.t("documents").insert(row)
    return Answer({"document": public(row)})


def document_list(call: Call) -> Answer:
    return list_answer(call, E.DOCUMENT, call.shop.t("documents").all(), "documents")


def document_element_add(call: Call) -> Answer:
    # No required-field check first: the element controller reads DOC_ID itself and answers with its own
    # string codes (catalog/lib/controller/document/element.php).
    fields = E.internalize(E.DOCUMENT_ELEMENT, call.require("fields"), for_update=False, check_required=False)
    document = call.shop.t("documents").get(fields.get("docId") or 0)
    if document is None:
        raise rest_errors.RestError(400, "ERROR_DOCUMENT_STATUS", "Document not found")
    if document["status"] != "N":
        raise rest_errors.RestError(400, "ERROR_DOCUMENT_STATUS", "Conducted document")
    # Like the module, any positive product id is stored: a missing product, like an amount of 0, is refused only
    # when the document is conducted (and then nothing of it applies).
    element_id = int(fields.get("elementId") or 0)
    if element_id <= 0:
        raise rest_errors.controller(0, "Error of adding new document element")
    row: Row = {
        "docId": document["id"],
        "storeFrom": fields.get("storeFrom"),
        "storeTo": fields.get("storeTo"),
        "elementId": fields["elementId"],
        "amount": fields.get("amount", 0),
        "purchasingPrice": fields.get("purchasingPrice", 0),
    }
    call.shop.t("documentElements").insert(row)
    return Answer({"documentElement": public(row)})


def document_element_list(call: Call) -> Answer:
    return list_answer(call, E.DOCUMENT_ELEMENT, call.shop.t("documentElements").all(), "documentElements")


def document_conduct(call: Call) -> Answer:
    call.shop.conduct_document(call.require("id"))
    return Answer(True)


def document_cancel(call: Call) -> Answer:
    call.shop.cancel_document(call.require("id"))
    return Answer(True)


def document_delete(call: Call) -> Answer:
    # The docs: null when the document is conducted ("cancel the processing first"), true when deleted.
    return Answer(True if call.shop.delete_document(call.require("id")) else None)


DOCUMENT_TYPES = {
    "A": "Goods Receipt",
    "S": "Goods Acquisition",
    "M": "Goods Transfer Between Warehouses",
    "R": "Goods Return",
    "D": "Goods Write-off",
}


def enum_document_types(call: Call) -> Answer:
    return Answer({"enum": [{"id": key, "name": value} for key, value in DOCUMENT_TYPES.items()]})


METHODS = [
    Method("catalog.catalog.list", "catalog", catalog_list),
    Method("catalog.product.list", "catalog", product_list),
    Method("catalog.product.get", "catalog", product_get),
    Method("catalog.product.update", "catalog", product_update),
    Method("catalog.product.offer.list", "catalog", offer_list),
    Method("catalog.product.offer.get", "catalog", offer_get),
    Method("catalog.product.offer.update", "catalog", offer_update),
    Method("catalog.productProperty.list", "catalog", product_property_list),
    Method("catalog.store.list", "catalog", store_list),
    Method("catalog.store.get", "catalog", store_get),
    Method("catalog.storeproduct.list", "catalog", store_product_list),
    Method("catalog.storeproduct.get", "catalog", store_product_get),
    Method("catalog.document.mode.status", "catalog", mode_status),
    Method("catalog.document.add", "catalog", document_add),
    Method("catalog.document.list", "catalog", document_list),
    Method("catalog.document.delete", "catalog", document_delete),
    Method("catalog.document.element.add", "catalog", document_element_add),
    Method("catalog.document.element.list", "catalog", document_element_list),
    Method("catalog.document.conduct", "catalog", document_conduct),
    Method("catalog.document.cancel", "catalog", document_cancel),
    Method("catalog.enum.getStoreDocumentTypes", "catalog", enum_document_types),
]

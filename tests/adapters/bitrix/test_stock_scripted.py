"""The stock-sync methods against replies shaped exactly like the examples of the official docs
(bitrix24/b24restdocs, api-reference/catalog/…), on the scripted HTTPS server: paging by cursor, batch
splitting, offers against products, and each typed error for the reply that causes it.

Written from the docs, independently of the sandbox shop, so a mistake in either shows up as a failing test.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from bitrix_inflow.adapters.bitrix import (
    BitrixGateway,
    CatalogItem,
    DocumentStatus,
    DocumentStatusError,
    EntityNotFoundError,
    InventoryManagementOffError,
    ProductType,
    StockDocumentError,
    StockLine,
    TradeCatalog,
)
from bitrix_inflow.errors import AuthError, PermanentError, RateLimitedError, TransientError, ValidationError

from .scripted import TIME, FakeClock, Reply, Script, gateway_on, server

__all__ = ["server"]  # a fixture, used by name

Shop = tuple[BitrixGateway, Script, FakeClock]

# -- the docs' example replies ------------------------------------------------------------------------------

# catalog/catalog/catalog-catalog-list.md (an offers catalog), and the product catalog it points at.
OFFERS_CATALOG = {
    "iblockId": 24,
    "iblockTypeId": 0,
    "id": 24,
    "lid": "s1",
    "name": "Product Catalog CRM (offers)",
    "productIblockId": 23,
    "skuPropertyId": 97,
    "subscription": "N",
    "vatId": 1,
}
PRODUCTS_CATALOG = {**OFFERS_CATALOG, "iblockId": 23, "id": 23, "name": "Product Catalog CRM",
                    "productIblockId": None, "skuPropertyId": None}  # fmt: skip
CATALOGS = [TradeCatalog(23, 23, "Products", None, None), TradeCatalog(24, 24, "Offers", 23, 97)]

# catalog/product/catalog-product-list.md (the example product, pictures left out: they are not selected).
PRODUCT = {
    "active": "Y",
    "available": "Y",
    "barcodeMulti": "Y",
    "bundle": "N",
    "canBuyZero": "Y",
    "code": "Tovar",
    "createdBy": 1,
    "dateActiveFrom": "2024-05-28T10:00:00+03:00",
    "dateActiveTo": "2024-05-29T10:00:00+03:00",
    "dateCreate": "2024-05-27T10:00:00+03:00",
    "detailText": None,
    "detailTextType": "text",
    "height": 100,
    "iblockId": 23,
    "iblockSectionId": 47,
    "id": 1243,
    "length": 100,
    "measure": 5,
    "modifiedBy": 1,
    "name": "Product",
    "previewText": None,
    "previewTextType": "text",
    "property258": {"value": "test", "valueId": "9735"},
    "property259": [{"value": "test1", "valueId": "9736"}, {"value": "test2", "valueId": "9737"}],
    "purchasingCurrency": "EUR",
    "purchasingPrice": 1000,
    "quantity": 10,
    "quantityReserved": 1,
    "quantityTrace": "Y",
    "recurSchemeLength": 1,
    "recurSchemeType": "D",
    "sort": 100,
    "subscribe": "Y",
    "timestampX": "2024-06-05T10:05:06+03:00",
    "trialPriceId": 175,
    "type": 1,
    "vatId": 1,
    "vatIncluded": "Y",
    "weight": 100,
    "width": 100,
    "withoutOrder": "Y",
    "xmlId": "1243",
}

# catalog/product/offer/catalog-product-offer-list.md
OFFER = {
    "active": "Y",
    "available": "Y",
    "barcodeMulti": "N",
    "bundle": "N",
    "canBuyZero": "Y",
    "code": "Product",
    "createdBy": 1,
    "dateActiveFrom": "2024-05-28T10:00:00+03:00",
    "dateActiveTo": "2024-05-29T10:00:00+03:00",
    "dateCreate": "2024-05-27T10:00:00+03:00",
    "detailText": None,
    "detailTextType": "text",
    "height": 100,
    "iblockId": 24,
    "iblockSectionId": None,
    "id": 1286,
    "length": 100,
    "measure": 5,
    "modifiedBy": 1,
    "name": "Product variation",
    "parentId": {"value": "1275", "valueId": "9867"},
    "previewText": None,
    "previewTextType": "text",
    "purchasingCurrency": "USD",
    "purchasingPrice": 1000,
    "quantity": 10,
    "quantityReserved": 1,
    "quantityTrace": "Y",
    "recurSchemeLength": None,
    "recurSchemeType": "D",
    "sort": 100,
    "subscribe": "Y",
    "timestampX": "2024-06-17T12:29:59+03:00",
    "trialPriceId": None,
    "type": 4,
    "vatId": 1,
    "vatIncluded": "Y",
    "weight": 100,
    "width": 100,
    "withoutOrder": "N",
    "xmlId": "1286",
}

# catalog/store-product/catalog-store-product-list.md
STORE_PRODUCTS = [
    {"amount": 54, "id": 11, "productId": 6973, "storeId": 1},
    {"amount": 14, "id": 13, "productId": 6973, "storeId": 11},
]

# catalog/document/catalog-document-add.md
DOCUMENT = {
    "commentary": "Planned warehouse replenishment",
    "createdBy": 29,
    "currency": "USD",
    "dateCreate": "2025-10-30T11:19:38+02:00",
    "dateDocument": None,
    "dateModify": "2025-10-30T11:19:38+02:00",
    "dateStatus": "2025-10-30T11:19:38+02:00",
    "docNumber": "IN-00042",
    "docType": "A",
    "id": 11,
    "modifiedBy": 29,
    "responsibleId": 29,
    "siteId": "s1",
    "status": "N",
    "statusBy": None,
    "title": "Receipt from Supplier-1",
    "total": None,
}

# catalog/document/document-element/catalog-document-element-add.md
ELEMENT = {"amount": 15, "docId": 64, "elementId": 312, "id": 148, "purchasingPrice": 1250.5,
           "storeFrom": None, "storeTo": 2}  # fmt: skip

# catalog/document/document-element/catalog-document-element-list.md
ELEMENTS = [
    {"amount": 5, "docId": 64, "elementId": 312, "id": 148, "purchasingPrice": 1180, "storeFrom": None,
     "storeTo": 2},
    {"amount": 12, "docId": 64, "elementId": 420, "id": 149, "purchasingPrice": 560, "storeFrom": None,
     "storeTo": 2},
]  # fmt: skip

# catalog/document/catalog-document-list.md ("…other documents" left out)
DOCUMENTS = [
    {"docType": "S", "id": 1, "status": "Y", "title": "Receipt #2"},
    {"docType": "A", "id": 7, "status": "N", "title": "Test Rest"},
    {"docType": "S", "id": 105, "status": "N", "title": "receipt 10"},
]

# catalog/product/catalog-product-update.md ("element") and offer/catalog-product-offer-update.md ("offer")
UPDATED_PRODUCT = {"id": 1267, "iblockId": 23, "name": "Product", "quantity": 10, "type": 1, "xmlId": "1243"}
UPDATED_OFFER = {"id": 1286, "iblockId": 24, "name": "Product variation", "quantity": 10, "type": 4,
                 "parentId": {"value": "1275", "valueId": "9867"}}  # fmt: skip

# The error bodies of the pages: catalog-document-conduct.md, -cancel.md, -delete.md, element-add.md.
NOT_FOUND = {"error": "0", "error_description": "Document not found"}
MUST_ENABLE = {
    "error": "0",
    "error_description": "Warehouse accounting must be enabled to conduct the document",
}
NOT_CONDUCTED = {
    "error": "0",
    "error_description": "Error cancelling document conduct: Document has not been conducted yet",
}
CONDUCTED_DOCUMENT = {"error": "ERROR_DOCUMENT_STATUS", "error_description": "Conducted document"}
PRODUCT_MISSING = {
    "error": 0,
    "error_description": "The product with the specified identifier does not exist",
}


def ok(result: Any, **extra: Any) -> Reply:
    return Reply(200, {"result": result, **extra, "time": TIME})


def rows(key: str, items: list[dict[str, Any]]) -> Reply:
    # start=-1 answers carry neither next nor total (rest module, RestManager::DONT_CALCULATE_COUNT).
    return ok({key: items})


def batch(results: dict[str, Any], errors: dict[str, Any] | None = None) -> Reply:
    return ok(
        {
            "result": results or [],
            "result_error": errors or [],
            "result_total": [],
            "result_next": [],
            "result_time": [],
        }
    )


def commands(body: dict[str, Any]) -> dict[str, tuple[str, dict[str, list[str]]]]:
    """A batch request's commands: key → (method, its parameters as PHP-style query keys)."""
    found = {}
    for key, command in body["cmd"].items():
        method, _, query = command.partition("?")
        found[key] = (method, parse_qs(query))
    return found


@pytest.fixture
def shop(server: tuple[str, Path, Script]) -> Iterator[Shop]:
    with gateway_on(server, manager_user_id=7) as made:
        yield made


def methods(script: Script) -> list[str]:
    return [path.rsplit("/", 1)[1].removesuffix(".json") for path in script.seen]


# -- which mode ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "on"), [("Y", True), ("N", False)])
def test_the_inventory_mode_is_read_from_the_shop(shop: Shop, answer: str, on: bool) -> None:
    gateway, script, _ = shop
    script.replies[:] = [ok(answer)]  # catalog-document-mode-status.md
    assert gateway.inventory_management_on() is on
    assert methods(script) == ["catalog.document.mode.status"]


def test_an_unexpected_mode_answer_is_not_taken_for_off(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [ok(None)]
    with pytest.raises(PermanentError, match=r"mode\.status"):
        gateway.inventory_management_on()


# -- the catalogue --------------------------------------------------------------------------------------------


def test_trade_catalogs_tell_offers_from_products(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [rows("catalogs", [PRODUCTS_CATALOG, OFFERS_CATALOG])]
    products, offers = gateway.trade_catalogs()
    assert (products.iblock_id, products.is_offers) == (23, False)
    assert (offers.iblock_id, offers.product_iblock_id, offers.sku_property_id, offers.is_offers) == (
        24,
        23,
        97,
        True,
    )
    sent = script.bodies[0]
    assert sent["filter"] == {">id": 0} and sent["order"] == {"id": "asc"} and sent["start"] == -1


def test_the_catalogue_is_streamed_page_by_page_with_an_id_cursor(shop: Shop) -> None:
    gateway, script, _ = shop
    page = [{**PRODUCT, "id": 1243 + n, "xmlId": f"A-{n}"} for n in range(50)]
    parent = {**PRODUCT, "id": 1275, "type": 3, "barcodeMulti": "N", "xmlId": "PARENT"}
    script.replies[:] = [
        rows("catalogs", [PRODUCTS_CATALOG, OFFERS_CATALOG]),
        rows("products", page),
        # After a full first page the rest come chained by $result in batches that grow (2, 4 … 50 pages); the
        # page after a short one reads from a cursor that is no id (here: the whole page before it): junk.
        batch({"p0": {"products": [parent]}, "p1": {"products": page}}),
        rows("offers", [OFFER]),
    ]
    items = gateway.catalog_items()
    first = next(items)
    # Lazily: the catalogs and the first page only, not the whole shop at once.
    assert methods(script) == ["catalog.catalog.list", "catalog.product.list"]
    rest = list(items)
    assert methods(script) == [
        "catalog.catalog.list",
        "catalog.product.list",
        "batch",
        "catalog.product.offer.list",
    ]
    everything = [first, *rest]
    assert len(everything) == 52  # the junk page after the short one is not read
    products, chained, offers = script.bodies[1], script.bodies[2], script.bodies[3]
    assert products["filter"] == {"iblockId": 23, ">id": 0}
    assert products["start"] == -1 and products["order"] == {"id": "asc"}
    assert {"id", "iblockId", "xmlId", "type", "barcodeMulti"} <= set(products["select"])
    commands = chained["cmd"]
    assert len(commands) == 2 and chained["halt"] in (1, True, "1")
    first_query = parse_qs(commands["p0"].partition("?")[2])
    assert first_query["filter[>id]"] == ["1292"] and first_query["start"] == ["-1"]
    assert parse_qs(commands["p1"].partition("?")[2])["filter[>id]"] == ["$result[p0][products][49][id]"]
    assert offers["filter"] == {"iblockId": 24, ">id": 0} and "parentId" in offers["select"]

    assert first == CatalogItem(
        id=1243,
        iblock_id=23,
        name="Product",
        type=ProductType.SIMPLE,
        xml_id="A-0",
        key="A-0",
        parent_id=None,
        barcode_multi=True,
        quantity=Decimal(10),  # the docs' example row: what the shop shows, so a full sync sees drift there
    )
    by_id = {item.id: item for item in everything}
    assert by_id[1275].has_offers and not by_id[1275].is_offer
    offer = by_id[1286]
    assert offer.is_offer and offer.parent_id == 1275 and offer.iblock_id == 24 and not offer.barcode_multi


def test_the_matching_key_can_be_an_article_property_of_its_own_on_offers(shop: Shop) -> None:
    gateway, script, _ = shop
    offer = {**OFFER, "property301": {"value": " ART-9 ", "valueId": "1"}}
    script.replies[:] = [rows("products", [PRODUCT]), rows("offers", [offer])]
    product, found = gateway.catalog_items(key="property259", offer_key="property301", catalogs=CATALOGS)
    # A multiple property: its first value is the key; surrounding blanks are not part of a key.
    assert product.key == "test1" and found.key == "ART-9"
    assert "property259" in script.bodies[0]["select"]
    assert "property301" in script.bodies[1]["select"] and "property259" not in script.bodies[1]["select"]


def test_a_targeted_read_filters_by_keys_fifty_at_a_time(shop: Shop) -> None:
    gateway, script, _ = shop
    keys = [f"SKU-{n}" for n in range(60)]
    script.replies[:] = [
        rows("products", [PRODUCT]),
        rows("products", []),
        rows("offers", []),
        rows("offers", []),
    ]
    found = list(gateway.catalog_items(keys=keys, catalogs=CATALOGS))
    assert [item.id for item in found] == [1243]
    filters = [body["filter"] for body in script.bodies]
    # "=" (the default) takes an array on catalog.product.list / offer.list; "@" is not documented there.
    assert filters[0] == {"iblockId": 23, "xmlId": keys[:50], ">id": 0}
    assert filters[1] == {"iblockId": 23, "xmlId": keys[50:], ">id": 0}
    assert filters[2] == {"iblockId": 24, "xmlId": keys[:50], ">id": 0}


def test_a_targeted_read_by_ids(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [rows("products", [PRODUCT]), rows("offers", [])]
    assert [i.id for i in gateway.catalog_items(product_ids=[1243, 1286, 1243], catalogs=CATALOGS)] == [1243]
    assert script.bodies[0]["filter"] == {"iblockId": 23, "id": [1243, 1286], ">id": 0}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"key": "name"}, "key"),
        ({"key": "property0"}, "key"),
        ({"offer_key": "PROPERTY_5"}, "offer_key"),
        ({"product_ids": [1], "keys": ["A"]}, "keys"),
        ({"product_ids": [0]}, "product_ids[0]"),
        ({"keys": "A-1"}, "keys"),
    ],
)
def test_bad_catalogue_arguments_are_refused_before_sending(
    shop: Shop, kwargs: dict[str, Any], field: str
) -> None:
    gateway, script, _ = shop
    with pytest.raises(ValidationError) as caught:
        gateway.catalog_items(**kwargs)
    assert caught.value.field == field
    assert script.seen == []


def test_a_server_ignoring_the_cursor_cannot_loop_forever(shop: Shop) -> None:
    gateway, script, _ = shop
    page = [{**PRODUCT, "id": 1000 + n} for n in range(50)]
    # The page chained after the first (a batch) repeats it.
    script.replies[:] = [rows("products", page), batch({f"p{n}": {"products": page} for n in range(2)})]
    with pytest.raises(PermanentError, match="cursor"):
        list(gateway.catalog_items(catalogs=CATALOGS[:1]))


def full_page(first_id: int) -> list[dict[str, Any]]:
    return [{**PRODUCT, "id": first_id + n, "xmlId": f"K-{first_id + n}"} for n in range(50)]


def test_a_long_list_grows_its_chain_of_pages_up_to_fifty_a_request(shop: Shop) -> None:
    gateway, script, _ = shop
    pages = [full_page(1 + 50 * n) for n in range(1 + 2 + 4 + 8)]
    script.replies[:] = [
        rows("products", pages[0]),
        batch({f"p{n}": {"products": pages[1 + n]} for n in range(2)}),
        batch({f"p{n}": {"products": pages[3 + n]} for n in range(4)}),
        batch({f"p{n}": {"products": pages[7 + n]} for n in range(8)}),
        batch({"p0": {"products": []}, **{f"p{n}": {"products": pages[0]} for n in range(1, 16)}}),
    ]
    items = list(gateway.catalog_items(catalogs=CATALOGS[:1]))
    assert [item.id for item in items] == list(range(1, 1 + 50 * 15)), "every row once, in order"
    assert [len(body["cmd"]) for body in script.bodies[1:]] == [2, 4, 8, 16]


def test_an_error_after_the_last_page_is_not_retried(shop: Shop) -> None:
    """The commands after a short page read junk; what they answer, failures included, means nothing."""
    gateway, script, clock = shop
    script.replies[:] = [
        rows("products", full_page(1)),
        batch({"p0": {"products": full_page(51)[:7]}}, {"p1": {"error": "INTERNAL_SERVER_ERROR"}}),
    ]
    items = list(gateway.catalog_items(catalogs=CATALOGS[:1]))
    assert len(items) == 57 and len(script.bodies) == 2 and clock.slept == []


def test_a_failed_page_in_a_chain_is_retried_from_the_last_page_read(shop: Shop) -> None:
    gateway, script, clock = shop
    script.replies[:] = [
        rows("products", full_page(1)),
        batch({"p0": {"products": full_page(51)}}, {"p1": {"error": "INTERNAL_SERVER_ERROR"}}),
        batch({"p0": {"products": full_page(101)[:3]}}),
    ]
    items = list(gateway.catalog_items(catalogs=CATALOGS[:1]))
    assert [item.id for item in items] == list(range(1, 104))
    assert len(clock.slept) == 1, "one backoff before the retry"
    retried = parse_qs(script.bodies[2]["cmd"]["p0"].partition("?")[2])
    assert retried["filter[>id]"] == ["100"], "resumed after the page that was read, not from the start"


def test_rows_out_of_id_order_are_refused(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [rows("products", list(reversed(full_page(1))))]
    with pytest.raises(PermanentError, match="ordered by id"):
        list(gateway.catalog_items(catalogs=CATALOGS[:1]))


# -- stock per store --------------------------------------------------------------------------------------


def test_store_amounts_of_a_product_set_are_read_fifty_products_at_a_time(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [rows("storeProducts", STORE_PRODUCTS), rows("storeProducts", [])]
    wanted = [6973, *range(1, 60)]
    amounts = list(gateway.store_amounts(wanted, store_ids=[1, 11]))
    assert [(a.product_id, a.store_id, a.amount, a.reserved) for a in amounts] == [
        (6973, 1, Decimal(54), Decimal(0)),
        (6973, 11, Decimal(14), Decimal(0)),
    ]
    first, second = script.bodies
    assert first["filter"] == {"@storeId": [1, 11], "@productId": wanted[:50], ">id": 0}
    assert second["filter"]["@productId"] == wanted[50:]
    assert set(first["select"]) == {"id", "productId", "storeId", "amount", "quantityReserved"}


def test_all_store_amounts_and_an_empty_set(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [rows("storeProducts", STORE_PRODUCTS)]
    assert len(list(gateway.store_amounts())) == 2
    assert script.bodies[0]["filter"] == {">id": 0}
    assert list(gateway.store_amounts(product_ids=[])) == []
    assert len(script.seen) == 1


# -- quantities (no inventory management) ---------------------------------------------------------------


def test_quantities_go_fifty_a_batch_and_offers_through_their_own_method(shop: Shop) -> None:
    gateway, script, _ = shop
    wanted = {1267: 10, **{2000 + n: 10 for n in range(58)}, 1286: 10}
    first = {f"p{pid}": {"element": {**UPDATED_PRODUCT, "id": pid}} for pid in list(wanted)[:50]}
    second = {f"p{pid}": {"element": {**UPDATED_PRODUCT, "id": pid}} for pid in list(wanted)[50:59]}
    second["p1286"] = {"offer": UPDATED_OFFER}
    script.replies[:] = [batch(first), batch(second)]
    result = gateway.set_product_quantities(wanted, offers={1286})
    assert methods(script) == ["batch", "batch"]
    sent = [commands(body) for body in script.bodies]
    assert [len(c) for c in sent] == [50, 10]
    assert sent[1]["p1286"][0] == "catalog.product.offer.update"
    assert sent[1]["p1286"][1] == {"id": ["1286"], "fields[quantity]": ["10"]}
    assert {m for m, _ in sent[0].values()} == {"catalog.product.update"}
    assert sorted(result.updated) == sorted(wanted) and result.failed == {} and result.missing == ()


def test_a_missing_product_and_a_kept_quantity_are_reported_apart(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [
        batch(
            {"p1267": {"element": UPDATED_PRODUCT}, "p1286": {"offer": UPDATED_OFFER}},
            {"p5": PRODUCT_MISSING},
        )
    ]
    result = gateway.set_product_quantities({1267: 11, 1286: 10, 5: 1}, offers=[1286])
    assert result.updated == (1286,)
    assert result.missing == (5,)
    assert set(result.failed) == {5, 1267}
    assert "inventory management" in result.failed[1267]


# -- stock documents ----------------------------------------------------------------------------------------


def _lines(count: int) -> list[StockLine]:
    return [StockLine(product_id=312 + n, amount=Decimal(15), store_to=2) for n in range(count)]


def _elements(start: int, count: int) -> dict[str, Any]:
    return {f"e{start + n}": {"documentElement": {**ELEMENT, "id": 148 + start + n}} for n in range(count)}


def test_a_draft_is_added_with_its_lines_in_batches_of_fifty(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [ok({"document": DOCUMENT}), batch(_elements(0, 50)), batch(_elements(50, 1))]
    doc_id = gateway.add_stock_document("S", _lines(51), title="Inflow stock sync run 42", currency="usd")
    assert doc_id == 11
    assert methods(script) == ["catalog.document.add", "batch", "batch"]
    assert script.bodies[0] == {
        "fields": {"docType": "S", "currency": "USD", "title": "Inflow stock sync run 42", "responsibleId": 7}
    }
    first = commands(script.bodies[1])
    assert len(first) == 50 and len(commands(script.bodies[2])) == 1
    assert first["e0"] == (
        "catalog.document.element.add",
        {
            "fields[docId]": ["11"],
            "fields[elementId]": ["312"],
            "fields[amount]": ["15"],
            "fields[storeTo]": ["2"],
        },
    )


def test_lines_a_limit_refused_are_sent_again_alone(shop: Shop) -> None:
    gateway, script, clock = shop
    limited = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    script.replies[:] = [
        ok({"document": DOCUMENT}),
        batch(_elements(0, 1) | _elements(2, 1), {"e1": limited}),
        batch(_elements(1, 1)),
    ]
    assert gateway.add_stock_document("S", _lines(3), title="run 43") == 11
    # Bitrix refuses a limited command before running it; the two that ran are not sent twice.
    assert list(commands(script.bodies[2])) == ["e1"]
    assert len(clock.slept) == 1


@pytest.mark.parametrize(
    ("refusal", "expected", "cause"),
    [
        (PRODUCT_MISSING, StockDocumentError, EntityNotFoundError),
        (
            {"error": "0", "error_description": "Error of adding new document element"},
            StockDocumentError,
            None,
        ),
        (CONDUCTED_DOCUMENT, DocumentStatusError, None),
        ({"error": "ERROR_DOCUMENT_RIGHTS", "error_description": "Access denied"}, AuthError, None),
    ],
)
def test_a_refused_line_deletes_the_half_filled_draft_and_names_it(
    shop: Shop, refusal: dict[str, Any], expected: type[Exception], cause: type[Exception] | None
) -> None:
    gateway, script, _ = shop
    script.replies[:] = [ok({"document": DOCUMENT}), batch(_elements(0, 1), {"e1": refusal}), ok(True)]
    with pytest.raises(expected, match=r"stock document 11 \(draft deleted\) line 1") as caught:
        gateway.add_stock_document("S", _lines(2), title="run 44")
    assert methods(script)[-1] == "catalog.document.delete" and script.bodies[-1] == {"id": 11}
    error = caught.value
    if isinstance(error, StockDocumentError):
        assert (error.document_id, error.line, error.conducted, error.draft_left) == (11, 1, False, False)
        if cause is not None:
            assert isinstance(error.cause, cause)
            assert (error.cause.entity, error.cause.entity_id) == ("product", 313)
    if isinstance(error, DocumentStatusError):
        assert error.document_id == 11


def test_a_draft_bitrix_will_not_delete_is_named_as_left(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [
        ok({"document": DOCUMENT}),
        batch({}, {"e0": PRODUCT_MISSING}),
        Reply(500, {"error": "INTERNAL_SERVER_ERROR", "error_description": "boom"}),
    ]
    with pytest.raises(StockDocumentError, match=r"draft left in Bitrix") as caught:
        gateway.add_stock_document("S", _lines(1), title="run 45")
    assert caught.value.draft_left
    assert methods(script) == ["catalog.document.add", "batch", "catalog.document.delete"]


def test_a_timed_out_line_batch_stays_transient_and_names_the_draft(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [
        ok({"document": DOCUMENT}),
        Reply(500, {"error": "INTERNAL_SERVER_ERROR", "error_description": "boom"}),
        ok(True),
    ]
    with pytest.raises(TransientError, match=r"stock document 11 \(draft deleted\)") as caught:
        gateway.add_stock_document("S", _lines(1), title="run 46")
    assert type(caught.value) is TransientError  # the job engine retries it, and the draft is gone
    # A creating batch is not repeated after a server error: its lines may have been added.
    assert methods(script) == ["catalog.document.add", "batch", "catalog.document.delete"]


@pytest.mark.parametrize(
    ("line", "doc_type", "field"),
    [
        (StockLine(product_id=1, amount=Decimal(0), store_to=1), "S", "lines[0].amount"),
        (StockLine(product_id=1, amount=Decimal(1), store_to=1), "D", "lines[0].store_from"),
    ],
)
def test_bad_lines_are_refused_before_a_draft_exists(
    shop: Shop, line: StockLine, doc_type: str, field: str
) -> None:
    gateway, script, _ = shop
    with pytest.raises(ValidationError) as caught:
        gateway.add_stock_document(doc_type, [line], title="run")
    assert caught.value.field == field and script.seen == []


def test_a_document_needs_a_responsible_user(server: tuple[str, Path, Script]) -> None:
    with gateway_on(server) as (gateway, script, _), pytest.raises(ValidationError) as caught:
        gateway.add_stock_document("S", _lines(1), title="run")
    assert caught.value.field == "responsible_id" and script.seen == []


def _diagnosis(status: str | None, mode: str = "Y") -> Reply:
    documents = [] if status is None else [{**DOCUMENT, "status": status}]
    return batch({"doc": {"documents": documents}, "mode": mode})


def test_conduct(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [ok(True)]  # catalog-document-conduct.md
    assert gateway.conduct_stock_document(11) is True
    assert methods(script) == ["catalog.document.conduct"] and script.bodies == [{"id": 11}]


def test_a_conduct_refused_for_inventory_management_off_is_typed(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [Reply(400, MUST_ENABLE), _diagnosis("N", mode="N")]
    with pytest.raises(InventoryManagementOffError, match="inventory management is off") as caught:
        gateway.conduct_stock_document(11)
    error = caught.value
    assert (error.document_id, error.conducted, error.draft_left) == (11, False, True)
    # The refusal is confirmed by reading back, not by its (translated) text: one batch request.
    sent = commands(script.bodies[1])
    assert sent["doc"][0] == "catalog.document.list" and sent["doc"][1]["filter[id]"] == ["11"]
    assert sent["mode"][0] == "catalog.document.mode.status"


def test_a_conduct_refused_for_a_line_keeps_the_draft_and_names_it(shop: Shop) -> None:
    gateway, script, _ = shop
    refusal = {"error": "0", "error_description": 'Document conducting error: "Supplier not specified"'}
    script.replies[:] = [Reply(400, refusal), _diagnosis("N")]
    with pytest.raises(StockDocumentError, match=r"stock document 11 \(draft, not conducted\)") as caught:
        gateway.conduct_stock_document(11)
    assert type(caught.value) is StockDocumentError
    assert not caught.value.conducted and caught.value.draft_left


def test_conducting_a_conducted_document_again_is_not_an_error(shop: Shop) -> None:
    gateway, script, _ = shop
    refusal = {"error": "0", "error_description": "Document conducting error: already conducted"}
    script.replies[:] = [Reply(400, refusal), _diagnosis("Y")]
    assert gateway.conduct_stock_document(11) is False


def test_conducting_a_missing_document(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [Reply(400, NOT_FOUND), _diagnosis(None)]
    with pytest.raises(EntityNotFoundError) as caught:
        gateway.conduct_stock_document(142)
    assert (caught.value.entity, caught.value.entity_id) == ("stock document", 142)


def test_a_conduct_that_timed_out_is_not_repeated(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [Reply(500, {"error": "INTERNAL_SERVER_ERROR", "error_description": "boom"})]
    with pytest.raises(TransientError, match=r"stock document 11 \(conduct\)"):
        gateway.conduct_stock_document(11)
    assert methods(script) == ["catalog.document.conduct"]


def test_a_conduct_refused_by_a_limit_is_sent_again(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [Reply(503, {"error": "QUERY_LIMIT_EXCEEDED"}), ok(True)]
    assert gateway.conduct_stock_document(11) is True
    assert methods(script) == ["catalog.document.conduct"] * 2


def test_cancel(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [ok(True), Reply(400, NOT_CONDUCTED), _diagnosis("C"), Reply(400, NOT_CONDUCTED)]
    script.replies.append(_diagnosis("N"))
    assert gateway.cancel_stock_document(11) is True
    assert gateway.cancel_stock_document(11) is False  # cancelled already
    with pytest.raises(DocumentStatusError, match="draft") as caught:
        gateway.cancel_stock_document(11)
    assert (caught.value.document_id, caught.value.status) == (11, "N")


def test_a_cancel_bitrix_refuses_leaves_the_document_conducted(shop: Shop) -> None:
    gateway, script, _ = shop
    refusal = {"error": "0", "error_description": "Error cancelling document conduct: not enough stock"}
    script.replies[:] = [Reply(400, refusal), _diagnosis("Y")]
    with pytest.raises(StockDocumentError) as caught:
        gateway.cancel_stock_document(11)
    assert caught.value.conducted and not caught.value.draft_left


def test_delete(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [ok(True), Reply(400, NOT_FOUND), _diagnosis(None), ok(None), _diagnosis("Y")]
    assert gateway.delete_stock_document(11) is True
    assert gateway.delete_stock_document(11) is False  # gone already: a cleanup may run twice
    # catalog-document-delete.md: null means it is conducted.
    with pytest.raises(DocumentStatusError, match="cancel it first") as caught:
        gateway.delete_stock_document(11)
    assert (caught.value.document_id, caught.value.status) == (11, "Y")


def test_the_lines_of_a_document(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [rows("documentElements", ELEMENTS)]
    lines = gateway.stock_document_lines(64)
    assert [(x.id, x.product_id, x.amount, x.store_from, x.store_to) for x in lines] == [
        (148, 312, Decimal(5), None, 2),
        (149, 420, Decimal(12), None, 2),
    ]
    assert lines[0].purchasing_price == Decimal(1180) and lines[0].document_id == 64
    assert script.bodies[0]["filter"] == {"docId": 64, ">id": 0} and script.bodies[0]["start"] == -1


def test_a_draft_is_found_again_by_the_exact_title(shop: Shop) -> None:
    gateway, script, _ = shop
    # The database compares without regard to case: "Receipt 10" also finds "receipt 10".
    script.replies[:] = [rows("documents", DOCUMENTS), rows("documents", DOCUMENTS[1:])]
    assert gateway.find_stock_documents(title="Receipt 10") == []
    assert script.bodies[0]["filter"] == {"=title": "Receipt 10", ">id": 0}
    found = gateway.find_stock_documents(title_contains="Rest", status=DocumentStatus.DRAFT, doc_type="A")
    assert [(d.id, d.status, d.doc_type) for d in found] == [(7, DocumentStatus.DRAFT, "A")]
    assert script.bodies[1]["filter"] == {"%title": "Rest", "status": "N", "docType": "A", ">id": 0}


def test_one_document_by_id(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [rows("documents", [DOCUMENT]), rows("documents", [])]
    header = gateway.stock_document(11)
    assert (header.id, header.status, header.title, header.doc_number) == (
        11,
        DocumentStatus.DRAFT,
        "Receipt from Supplier-1",
        "IN-00042",
    )
    assert script.bodies[0]["filter"] == {"@id": [11], ">id": 0}
    with pytest.raises(EntityNotFoundError):
        gateway.stock_document(12)


def test_post_stock_document_still_does_it_all(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [ok({"document": DOCUMENT}), batch(_elements(0, 2)), ok(True)]
    posted = gateway.post_stock_document("S", _lines(2))
    assert (posted.id, posted.element_ids, posted.conducted) == (11, (148, 149), True)
    assert methods(script) == ["catalog.document.add", "batch", "catalog.document.conduct"]


# -- start-up check ---------------------------------------------------------------------------------------


def test_the_access_check_asks_for_the_stock_methods(shop: Shop) -> None:
    gateway, script, _ = shop
    answer = {"isExisting": True, "isAvailable": True}
    script.replies[:] = [batch({"scope": ["catalog", "sale", "im"], **{f"m{i}": answer for i in range(49)}})]
    report = gateway.check_access()
    asked = {
        params["name"][0] for method, params in commands(script.bodies[0]).values() if method == "method.get"
    }
    assert {
        "catalog.document.mode.status",
        "catalog.catalog.list",
        "catalog.product.list",
        "catalog.product.offer.list",
        "catalog.product.offer.update",
        "catalog.storeproduct.list",
        "catalog.document.element.list",
        "catalog.document.conduct",
        "catalog.document.cancel",
        "catalog.document.delete",
        "catalog.document.list",
    } <= asked
    assert report.ok


def test_rate_limit_on_a_stream_is_ridden_out(shop: Shop) -> None:
    gateway, script, clock = shop
    script.replies[:] = [Reply(503, {"error": "QUERY_LIMIT_EXCEEDED"}), rows("storeProducts", STORE_PRODUCTS)]
    assert len(list(gateway.store_amounts([6973]))) == 2
    assert len(clock.slept) == 1


def test_a_persisting_limit_reaches_the_caller_of_a_stream(shop: Shop) -> None:
    gateway, script, _ = shop
    script.replies[:] = [Reply(503, {"error": "QUERY_LIMIT_EXCEEDED"}, {"Retry-After": "900"})]
    with pytest.raises(RateLimitedError):
        list(gateway.store_amounts([6973]))

"""Where stock touches the shop, the sandbox answers as the real API does (issue 8; shared/reference/
bitrix-rest-addendum.md, and the b24restdocs pages named per test). Raw requests shaped like the docs' examples,
not the service's gateway."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox

Rest = Any  # tests/sandboxes/bitrix/conftest.py's raw client

ELEMENT_FIELDS = {"amount", "docId", "elementId", "id", "purchasingPrice", "storeFrom", "storeTo"}


@pytest.fixture(scope="module")
def shop() -> Iterator[RunningSandbox]:
    """The shop of the sandbox catalogue (offers, barcodeMulti products), inventory management on."""
    with running_bitrix_sandbox(SandboxConfig(profile="site"), https=False) as running:
        yield running


@pytest.fixture(scope="module")
def rest(shop: RunningSandbox, rest_class: Any) -> Iterator[Rest]:
    client = rest_class(shop)
    yield client
    client.close()


@pytest.fixture
def inventory_off(shop: RunningSandbox) -> Iterator[None]:
    shop.control.settings(inventory_management=False)
    try:
        yield
    finally:
        shop.control.settings(inventory_management=True)


def product_id(shop: RunningSandbox, key: str) -> int:
    return int(shop.control.entities("products", xmlId=key)[0]["id"])


def stocked(shop: RunningSandbox, amounts: dict[str, float]) -> list[int]:
    """The ids of the products with these keys, each set to its amount in store 1."""
    ids = [product_id(shop, key) for key in amounts]
    for pid, units in zip(ids, amounts.values(), strict=True):
        shop.control.set_stock(pid, 1, units)
    return ids


def lines(store_field: str, amounts: dict[int, float]) -> list[dict[str, Any]]:
    return [{"elementId": pid, store_field: 1, "amount": units} for pid, units in amounts.items()]


def amount(rest: Rest, pid: int, store: int) -> float:
    rows = rest.ok("catalog.storeproduct.list", {"filter": {"productId": pid, "storeId": store}})
    cells = rows["result"]["storeProducts"]
    return float(cells[0]["amount"]) if cells else 0.0


def document(rest: Rest, doc_type: str, *lines: dict[str, Any], **header: Any) -> int:
    fields = {"docType": doc_type, "currency": "RUB", "responsibleId": 1, **header}
    doc = rest.ok("catalog.document.add", {"fields": fields})["result"]["document"]
    assert doc["status"] == "N"
    for line in lines:
        rest.ok("catalog.document.element.add", {"fields": {"docId": doc["id"], **line}})
    return int(doc["id"])


def status_of(shop: RunningSandbox, doc_id: int) -> str:
    return str(shop.control.entity("documents", doc_id)["status"])


def test_mode_status_answers_y_or_n(shop: RunningSandbox, rest: Rest, inventory_off: None) -> None:
    # catalog/document/catalog-document-mode-status.md: no parameters, {"result": "Y"|"N", "time": ...}.
    off = rest.ok("catalog.document.mode.status")
    assert off["result"] == "N" and "time" in off
    shop.control.settings(inventory_management=True)
    assert rest.ok("catalog.document.mode.status", {})["result"] == "Y"
    assert shop.control.settings()["inventory_management"] is True


def test_a_failed_conduct_applies_no_line(shop: RunningSandbox, rest: Rest) -> None:
    # Addendum [src]: every line is validated before any is applied, so a retry cannot write line 1 off twice.
    first, second = stocked(shop, {"SB-CAP-BLACK": 10, "SB-WALLET-SLIM": 2})
    doc_id = document(rest, "D", *lines("storeFrom", {first: 3, second: 5}))
    refused = rest.error("catalog.document.conduct", {"id": doc_id}, status=400)
    assert refused["error"] == 0
    assert f"Not enough stock of product {second} in store 1" in refused["error_description"]
    assert (amount(rest, first, 1), amount(rest, second, 1)) == (10, 2)
    assert status_of(shop, doc_id) == "N"
    shop.control.set_stock(second, 1, 5)
    assert rest.ok("catalog.document.conduct", {"id": doc_id})["result"] is True
    assert (amount(rest, first, 1), amount(rest, second, 1)) == (7, 0)


def test_lines_are_checked_together_and_amounts_must_be_positive(shop: RunningSandbox, rest: Rest) -> None:
    good, zero, parent = (
        product_id(shop, key) for key in ("SB-MUG-THERMO", "SB-LAMP-DESK", "SB-TEE-CLASSIC")
    )
    before = amount(rest, good, 2)
    doc_id = document(
        rest,
        "S",
        {"elementId": good, "storeTo": 2, "amount": 4},
        {"elementId": zero, "storeTo": 2, "amount": 0},
        {"elementId": good, "storeTo": 2, "amount": -1},
        {"elementId": parent, "storeTo": 2, "amount": 1},
    )
    refused = rest.error("catalog.document.conduct", {"id": doc_id}, status=400)
    text = refused["error_description"]
    assert text.startswith("Document conducting error: ")
    assert f"incorrect product quantity ID #{zero}" in text
    assert f"incorrect product quantity ID #{good}" in text
    # A product sold through its offers holds no stock: only products and offers can be in a document.
    assert f"incorrect product type ID #{parent}" in text
    assert amount(rest, good, 2) == before
    assert status_of(shop, doc_id) == "N"


def test_a_receipt_needs_a_supplier(shop: RunningSandbox, rest: Rest) -> None:
    # Addendum: A needs a contractor, else conduct fails "Supplier not specified"; S needs none.
    pid = product_id(shop, "SB-BELT-LEATHER")
    before = amount(rest, pid, 1)
    no_supplier = document(rest, "A", {"elementId": pid, "storeTo": 1, "amount": 2})
    refused = rest.error("catalog.document.conduct", {"id": no_supplier}, status=400)
    assert refused == {
        "error": 0,
        "error_description": "Document conducting error: Supplier is not specified.",
    }
    assert amount(rest, pid, 1) == before
    with_supplier = document(rest, "A", {"elementId": pid, "storeTo": 1, "amount": 2}, contractorId=7)
    assert rest.ok("catalog.document.conduct", {"id": with_supplier})["result"] is True
    acquisition = document(rest, "S", {"elementId": pid, "storeTo": 1, "amount": 1})
    assert rest.ok("catalog.document.conduct", {"id": acquisition})["result"] is True
    assert amount(rest, pid, 1) == before + 3


def test_barcode_multi_products_need_a_barcode_per_unit(shop: RunningSandbox, rest: Rest) -> None:
    # Addendum [src]: barcodeMulti=Y needs one barcode per unit; REST has no method to add them.
    pid = product_id(shop, "SB-PERFUME-NIGHT-50")
    assert rest.ok("catalog.product.get", {"id": pid})["result"]["product"]["barcodeMulti"] == "Y"
    doc_id = document(rest, "S", {"elementId": pid, "storeTo": 1, "amount": 2})
    refused = rest.error("catalog.document.conduct", {"id": doc_id}, status=400)
    assert f"Number of barcodes for product ID #{pid}" in refused["error_description"]


def test_a_conducted_document_takes_no_more_lines(shop: RunningSandbox, rest: Rest) -> None:
    # document-element/catalog-document-element-add.md: ERROR_DOCUMENT_STATUS, "Document not found /
    # Conducted document", HTTP 400.
    pid = product_id(shop, "SB-SCARF-WOOL")
    doc_id = document(rest, "S", {"elementId": pid, "storeTo": 1, "amount": 1})
    rest.ok("catalog.document.conduct", {"id": doc_id})
    line = {"fields": {"docId": doc_id, "elementId": pid, "storeTo": 1, "amount": 1}}
    conducted = rest.error("catalog.document.element.add", line, status=400)
    assert conducted == {"error": "ERROR_DOCUMENT_STATUS", "error_description": "Conducted document"}
    missing = rest.error(
        "catalog.document.element.add", {"fields": {"docId": 987654, "elementId": pid}}, status=400
    )
    assert missing == {"error": "ERROR_DOCUMENT_STATUS", "error_description": "Document not found"}
    again = rest.error("catalog.document.conduct", {"id": doc_id}, status=400)
    assert again["error"] == 0
    assert (
        len(
            rest.ok("catalog.document.element.list", {"filter": {"docId": doc_id}})["result"][
                "documentElements"
            ]
        )
        == 1
    )


def test_documents_are_added_without_inventory_management_but_not_conducted(
    shop: RunningSandbox, rest: Rest, inventory_off: None
) -> None:
    # Addendum: add is allowed when inventory management is off; conduct is refused (catalog-document-conduct.md:
    # code 0, "must be enabled to conduct the document").
    pid = product_id(shop, "SB-UMBRELLA-FOLD")
    before = amount(rest, pid, 1)
    doc_id = document(rest, "S", {"elementId": pid, "storeTo": 1, "amount": 3})
    refused = rest.error("catalog.document.conduct", {"id": doc_id}, status=400)
    assert refused["error"] == 0 and "enable inventory management" in refused["error_description"]
    assert status_of(shop, doc_id) == "N"
    assert amount(rest, pid, 1) == before
    shop.control.settings(inventory_management=True)
    assert rest.ok("catalog.document.conduct", {"id": doc_id})["result"] is True
    assert amount(rest, pid, 1) == before + 3


def test_delete_takes_a_draft_and_leaves_a_conducted_document(shop: RunningSandbox, rest: Rest) -> None:
    # catalog-document-delete.md: true when deleted; null when the document is conducted (cancel it first);
    # "Document not found" (code 0, HTTP 400) for an unknown id.
    pid = product_id(shop, "SB-BOTTLE-STEEL")
    draft = document(rest, "S", {"elementId": pid, "storeTo": 1, "amount": 1})
    deleted = rest.ok("catalog.document.delete", {"id": draft})
    assert deleted["result"] is True
    assert rest.ok("catalog.document.list", {"filter": {"id": draft}})["result"]["documents"] == []
    assert (
        rest.ok("catalog.document.element.list", {"filter": {"docId": draft}})["result"]["documentElements"]
        == []
    )
    conducted = document(rest, "S", {"elementId": pid, "storeTo": 1, "amount": 1})
    rest.ok("catalog.document.conduct", {"id": conducted})
    kept = rest.post("catalog.document.delete", {"id": conducted})
    assert kept.status_code == 200 and kept.json()["result"] is None
    assert status_of(shop, conducted) == "Y"
    missing = rest.error("catalog.document.delete", {"id": 987654}, status=400)
    assert missing == {"error": 0, "error_description": "Document not found"}


def test_cancel_reverses_the_stock(shop: RunningSandbox, rest: Rest) -> None:
    # catalog-document-cancel.md: status becomes C, stock is updated back; cancelling a document that is not
    # conducted: code 0 "Error cancelling document conduct: Document has not been conducted yet".
    pid = product_id(shop, "SB-TOWEL-BEACH")
    shop.control.set_stock(pid, 1, 4)
    shop.control.set_stock(pid, 2, 0)
    moved = document(rest, "M", {"elementId": pid, "storeFrom": 1, "storeTo": 2, "amount": 3})
    rest.ok("catalog.document.conduct", {"id": moved})
    assert (amount(rest, pid, 1), amount(rest, pid, 2)) == (1, 3)
    assert rest.ok("catalog.document.cancel", {"id": moved})["result"] is True
    assert (amount(rest, pid, 1), amount(rest, pid, 2)) == (4, 0)
    assert (
        rest.ok("catalog.document.list", {"filter": {"id": moved}})["result"]["documents"][0]["status"] == "C"
    )
    line = {"fields": {"docId": moved, "elementId": pid, "storeTo": 1, "amount": 1}}
    assert rest.error("catalog.document.element.add", line, status=400)["error"] == "ERROR_DOCUMENT_STATUS"
    not_conducted = rest.error("catalog.document.cancel", {"id": moved}, status=400)
    assert not_conducted == {
        "error": 0,
        "error_description": "Error cancelling document conduct: Document has not been conducted yet",
    }
    unknown = rest.error("catalog.document.cancel", {"id": 987654}, status=400)
    assert unknown["error"] == 0


def test_a_cancel_that_cannot_reverse_every_line_changes_nothing(shop: RunningSandbox, rest: Rest) -> None:
    first, second = stocked(shop, {"SB-TENT-2P": 0, "SB-SLEEPBAG-3S": 0})
    receipt = document(rest, "S", *lines("storeTo", {first: 2, second: 2}))
    rest.ok("catalog.document.conduct", {"id": receipt})
    shop.control.set_stock(second, 1, 1)  # one unit sold meanwhile: the receipt cannot be taken back whole
    refused = rest.error("catalog.document.cancel", {"id": receipt}, status=400)
    assert refused["error_description"].startswith("Error cancelling document conduct: ")
    assert (amount(rest, first, 1), amount(rest, second, 1)) == (2, 1)
    assert status_of(shop, receipt) == "Y"


def test_element_list_filters_by_document(shop: RunningSandbox, rest: Rest) -> None:
    # document-element/catalog-document-element-list.md: {"result": {"documentElements": [...]}, "total": N}.
    pid, other = product_id(shop, "SB-MOUSE-WIRELESS"), product_id(shop, "SB-KEYBOARD-COMPACT")
    doc_id = document(
        rest,
        "S",
        {"elementId": pid, "storeTo": 2, "amount": 5, "purchasingPrice": 1180},
        {"elementId": other, "storeTo": 2, "amount": 12, "purchasingPrice": 560},
    )
    document(rest, "S", {"elementId": pid, "storeTo": 1, "amount": 1})
    body = rest.ok("catalog.document.element.list", {"filter": {"docId": doc_id}, "order": {"id": "asc"}})
    rows = body["result"]["documentElements"]
    assert body["total"] == 2
    assert [(r["elementId"], r["amount"]) for r in rows] == [(pid, 5), (other, 12)]
    assert all(set(r) == ELEMENT_FIELDS and r["docId"] == doc_id and r["storeFrom"] is None for r in rows)
    picked = rest.ok(
        "catalog.document.element.list", {"select": ["id", "elementId"], "filter": {"docId": doc_id}}
    )
    assert all(set(r) == {"id", "elementId"} for r in picked["result"]["documentElements"])


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("catalog.product.get", {"id": 987654}),
        ("catalog.product.update", {"id": 987654, "fields": {"quantity": 1}}),
        ("catalog.product.offer.get", {"id": 987654}),
        ("catalog.product.offer.update", {"id": 987654, "fields": {"quantity": 1}}),
    ],
)
def test_a_missing_product_answers_code_zero(rest: Rest, method: str, params: dict[str, Any]) -> None:
    # catalog-product-get.md / -update.md and the offer pages: code 0 "does not exist", HTTP 400.
    assert rest.error(method, params, status=400) == {
        "error": 0,
        "error_description": "Product is not exists",
    }


def test_offers_carry_their_parent(shop: RunningSandbox, rest: Rest) -> None:
    # product/offer/catalog-product-offer-list.md: an offer carries "parentId": {"value": "1275", "valueId": "9867"}.
    parent = product_id(shop, "SB-SNEAKER-RUN")
    offers = rest.ok(
        "catalog.product.offer.list",
        {"select": ["id", "iblockId", "name", "parentId"], "filter": {"iblockId": 24, "parentId": parent}},
    )["result"]["offers"]
    assert [o["name"] for o in offers] == [f"Running sneakers, size {size}" for size in (41, 42, 43)]
    for offer in offers:
        assert set(offer["parentId"]) == {"value", "valueId"}
        assert offer["parentId"]["value"] == str(parent) and offer["parentId"]["valueId"].isdigit()
    one = rest.ok("catalog.product.offer.get", {"id": offers[0]["id"]})["result"]["offer"]
    assert one["parentId"] == offers[0]["parentId"] and one["type"] == 4
    assert rest.ok("catalog.product.get", {"id": parent})["result"]["product"]["type"] == 3
    # catalog.product.* is not the offer controller: no parentId there.
    assert "parentId" not in rest.ok("catalog.product.get", {"id": offers[0]["id"]})["result"]["product"]


def _keys(rest: Rest, iblock: int, condition: dict[str, str]) -> set[str]:
    params = {"select": ["id", "iblockId", "xmlId"], "filter": {"iblockId": iblock, **condition}, "start": 0}
    found: set[str] = set()
    while True:
        body = rest.ok("catalog.product.list", params)
        found |= {p["xmlId"] for p in body["result"]["products"]}
        if "next" not in body:
            return found
        params["start"] = body["next"]


def test_like_and_not_like_with_the_percent_in_the_value(rest: Rest) -> None:
    # catalog-product-list.md: =% / %= take the % in the value ("mol%" starts with); !=% / !%= negate them.
    everything = _keys(rest, 23, {})
    perfumes = _keys(rest, 23, {"=%xmlId": "SB-PERFUME%"})
    assert perfumes == {"SB-PERFUME-NIGHT-50", "SB-PERFUME-SEA-100"}
    assert _keys(rest, 23, {"%=xmlId": "sb-perfume%"}) == perfumes  # no case, as MySQL compares
    assert _keys(rest, 23, {"!=%xmlId": "SB-PERFUME%"}) == everything - perfumes
    assert _keys(rest, 23, {"!%=xmlId": "SB-PERFUME%"}) == everything - perfumes
    assert _keys(rest, 23, {"=%xmlId": "%-100"}) == {"SB-PERFUME-SEA-100"}
    assert _keys(rest, 23, {"=%xmlId": "PERFUME"}) == set()  # no % in the value: the whole value must match
    assert _keys(rest, 23, {"=%xmlId": "SB-CAP-BLAC_"}) == {"SB-CAP-BLACK"}
    # The article property filters on its plain value with the same operators.
    articles = _keys(rest, 23, {"!=%property101": "%-4_"})
    assert "SB-BOOTS-WINTER-42" not in articles and "SB-SLIPPERS-HOME-40" not in articles
    assert "SB-CAP-BLACK" in articles
    # % keeps its meaning: a substring, the % signs not needed.
    assert _keys(rest, 23, {"%xmlId": "perfume"}) == perfumes

"""The stock-sync methods against the sandbox shops over HTTPS.

The sandbox is being made faithful for these methods in parallel (issue 8): where it still lacks a method the
real API has (bitrix-rest-addendum.md), the test is an expected failure naming it, and passes by itself once the
sandbox has it. A method that exists and answers wrongly fails, as it should.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import TypeVar

import pytest

from bitrix_inflow.adapters.bitrix import (
    DocumentStatus,
    DocumentStatusError,
    MethodNotFoundError,
    StockLine,
)
from bitrix_inflow.sandboxes.bitrix import RunningSandbox

from .conftest import MakeGateway, product_ids

T = TypeVar("T")


class Pending:
    """Steps the sandbox cannot take yet: each is skipped where it stands, and the test, run to its end,
    becomes an expected failure naming them."""

    def __init__(self) -> None:
        self.missing: list[str] = []

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        try:
            yield
        except MethodNotFoundError as missing:
            self.missing.append(f"{missing.method} ({what})")

    def settle(self) -> None:
        if self.missing:
            pytest.xfail(f"the sandbox lacks {', '.join(self.missing)} until its stock-sync work lands")


def pending(what: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except MethodNotFoundError as missing:
        pytest.xfail(f"the sandbox lacks {missing.method} ({what}) until its stock-sync work lands")


def _amount(running: RunningSandbox, product_id: int, store_id: int) -> Decimal:
    rows = running.control.entities("storeProducts", productId=product_id, storeId=store_id)
    return sum((Decimal(str(r["amount"])) for r in rows), Decimal(0))


def test_the_inventory_mode_of_each_shop(
    site_shop: RunningSandbox, cloud_shop: RunningSandbox, gateway_for: MakeGateway
) -> None:
    assert pending("mode", gateway_for(cloud_shop).inventory_management_on) is True
    assert pending("mode", gateway_for(site_shop).inventory_management_on) is False


def test_the_catalogue_holds_every_product_of_the_shop(
    cloud_shop: RunningSandbox, gateway_for: MakeGateway
) -> None:
    gateway = gateway_for(cloud_shop)
    catalogs = gateway.trade_catalogs()
    assert any(not c.is_offers for c in catalogs)
    items = list(gateway.catalog_items(catalogs=catalogs))
    by_id = {item.id: item for item in items}
    assert len(by_id) == len(items)  # the cursor neither repeats nor skips
    assert set(product_ids(cloud_shop)) <= set(by_id)
    for row in cloud_shop.control.entities("products"):
        item = by_id[int(row["id"])]
        assert item.xml_id == (row.get("xmlId") or None)
        assert item.iblock_id == int(row["iblockId"])
    offers = [item for item in items if item.is_offer]
    if offers and all(o.parent_id is None for o in offers):
        pytest.xfail(
            "the sandbox's offers lack parentId (bitrix-rest-addendum.md) until its stock-sync work lands"
        )
    assert all(o.parent_id in by_id for o in offers if o.type.name == "OFFER")


def test_a_targeted_read_by_key(cloud_shop: RunningSandbox, gateway_for: MakeGateway) -> None:
    gateway = gateway_for(cloud_shop)
    everything = [item for item in gateway.catalog_items() if item.key]
    wanted = {item.key for item in everything[:3] if item.key}
    found = list(gateway.catalog_items(keys=sorted(wanted)))
    assert {item.key for item in found} == wanted


def test_store_amounts_are_the_shops(cloud_shop: RunningSandbox, gateway_for: MakeGateway) -> None:
    gateway = gateway_for(cloud_shop)
    first = product_ids(cloud_shop)[0]
    amounts = list(gateway.store_amounts([first]))
    assert amounts and all(a.product_id == first for a in amounts)
    for a in amounts:
        assert a.amount == _amount(cloud_shop, first, a.store_id)
    everything = list(gateway.store_amounts())
    assert (
        len({a.id for a in everything})
        == len(everything)
        == len(cloud_shop.control.entities("storeProducts"))
    )


def test_a_document_in_steps_found_again_by_its_title(
    cloud_shop: RunningSandbox, gateway_for: MakeGateway
) -> None:
    gateway = gateway_for(cloud_shop, profile="bitrix24")
    first, second = product_ids(cloud_shop)[:2]
    before = _amount(cloud_shop, first, 1), _amount(cloud_shop, second, 1)
    title = "Inflow stock sync run R-2026-12-01T10:00Z#1 S store 1"
    lines = [
        StockLine(product_id=first, amount=Decimal(4), store_to=1),
        StockLine(product_id=second, amount=Decimal("1.5"), store_to=1),
    ]
    doc_id = gateway.add_stock_document("S", lines, title=title)
    # After a crash here the run finds its draft by the reference in the title, and checks its lines.
    (found,) = gateway.find_stock_documents(title=title)
    assert (found.id, found.status, found.doc_type) == (doc_id, DocumentStatus.DRAFT, "S")
    assert gateway.find_stock_documents(title_contains="R-2026-12-01T10:00Z#1")[0].id == doc_id
    assert _amount(cloud_shop, first, 1) == before[0]  # a draft moves nothing
    later = Pending()
    with later.step("lines of a draft"):
        drawn = gateway.stock_document_lines(doc_id)
        assert [(x.product_id, x.amount, x.store_to) for x in drawn] == [
            (first, Decimal(4), 1),
            (second, Decimal("1.5"), 1),
        ]

    assert gateway.conduct_stock_document(doc_id) is True
    assert gateway.stock_document(doc_id).status is DocumentStatus.CONDUCTED
    assert (_amount(cloud_shop, first, 1), _amount(cloud_shop, second, 1)) == (
        before[0] + 4,
        before[1] + Decimal("1.5"),
    )
    with later.step("a conducted document is not deleted"), pytest.raises(DocumentStatusError):
        gateway.delete_stock_document(doc_id)
    with later.step("cancel"):
        assert gateway.cancel_stock_document(doc_id) is True
        assert gateway.stock_document(doc_id).status is DocumentStatus.CANCELLED
        assert (_amount(cloud_shop, first, 1), _amount(cloud_shop, second, 1)) == before
    later.settle()


def test_a_draft_is_deleted_and_deleting_it_again_is_no_error(
    cloud_shop: RunningSandbox, gateway_for: MakeGateway
) -> None:
    gateway = gateway_for(cloud_shop, profile="bitrix24")
    pid = product_ids(cloud_shop)[0]
    line = StockLine(product_id=pid, amount=Decimal(1), store_from=1)
    doc_id = gateway.add_stock_document("D", [line], title="a draft to delete")
    assert pending("delete", lambda: gateway.delete_stock_document(doc_id)) is True
    assert gateway.delete_stock_document(doc_id) is False
    assert gateway.find_stock_documents(document_ids=[doc_id]) == []

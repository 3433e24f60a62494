"""The stock flow's ``ShopStock`` over the Bitrix gateway: the flow's words in, REST's out."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from decimal import Decimal

from bitrix_inflow.adapters.bitrix import (
    BitrixGateway,
    CatalogItem,
    DocumentStatus,
    ProductType,
    StockLine,
    TradeCatalog,
)
from bitrix_inflow.domain.matching import ShopProduct
from bitrix_inflow.domain.stock import ShopKey
from bitrix_inflow.sync.stock.shop import CatalogueEntry, DocumentLine, FoundDocument, QuantityWrite

# Rows that never hold stock of their own: a parent sold through its offers, a service.
_STOCKLESS = {ProductType.WITH_OFFERS, ProductType.SERVICE}


class BitrixShopStock:
    """``offer_key``: the offers iblock's own field for the warehouse SKU, where it differs from the products' (an
    article property has an id per iblock); None: the same as the products'."""

    def __init__(self, gateway: BitrixGateway, *, offer_key: str | None = None) -> None:
        self.gateway = gateway
        self.offer_key = offer_key

    def inventory_management_on(self) -> bool:
        return self.gateway.inventory_management_on()

    def catalogue(
        self,
        *,
        key: str,
        group_key: str | None,
        keys: Collection[str] | None = None,
        product_ids: Collection[int] | None = None,
    ) -> Iterator[CatalogueEntry]:
        catalogs = self.gateway.trade_catalogs()
        if keys is None and product_ids is None:
            items: Iterable[CatalogItem] = self.gateway.catalog_items(
                key=key, offer_key=self.offer_key, catalogs=catalogs
            )
        else:
            items = self._narrowed(key, catalogs, keys or (), product_ids or ())
        if group_key is None:
            for item in items:
                yield _entry(item, None)
            return
        # The group is a property like the key; a second pass reads it (only when group buffers are used).
        found = list(items)
        narrowed = None if keys is None and product_ids is None else [item.id for item in found]
        groups = {
            item.id: item.key
            for item in self.gateway.catalog_items(key=group_key, catalogs=catalogs, product_ids=narrowed)
            if item.key is not None
        }
        for item in found:
            yield _entry(item, groups.get(item.id))

    def _narrowed(
        self, key: str, catalogs: list[TradeCatalog], keys: Collection[str], product_ids: Collection[int]
    ) -> Iterator[CatalogItem]:
        seen: set[int] = set()
        for wanted in (
            self.gateway.catalog_items(key=key, offer_key=self.offer_key, keys=keys, catalogs=catalogs)
            if keys
            else (),
            self.gateway.catalog_items(
                key=key, offer_key=self.offer_key, product_ids=product_ids, catalogs=catalogs
            )
            if product_ids
            else (),
        ):
            for item in wanted:
                if item.id not in seen:
                    seen.add(item.id)
                    yield item

    def set_quantities(self, quantities: Mapping[int, int], *, offers: Collection[int]) -> QuantityWrite:
        result = self.gateway.set_product_quantities(
            quantities, offers=[pid for pid in quantities if pid in offers]
        )
        return QuantityWrite(written=result.updated, refused=dict(result.failed))

    def store_amounts(self, product_ids: Collection[int], store_ids: Collection[int]) -> dict[ShopKey, int]:
        return {
            (row.product_id, row.store_id): int(row.amount)
            for row in self.gateway.store_amounts(product_ids, store_ids)
        }

    def add_document(self, doc_type: str, lines: Collection[DocumentLine], *, title: str) -> int:
        stock_lines = [
            StockLine(
                product_id=line.product_id,
                amount=Decimal(line.amount),
                store_to=line.store_id if doc_type == "S" else None,
                store_from=line.store_id if doc_type == "D" else None,
            )
            for line in lines
        ]
        return self.gateway.add_stock_document(doc_type, stock_lines, title=title)

    def conduct_document(self, document_id: int) -> None:
        self.gateway.conduct_stock_document(document_id)

    def delete_document(self, document_id: int) -> None:
        self.gateway.delete_stock_document(document_id)

    def find_documents(self, title: str) -> list[FoundDocument]:
        return [
            FoundDocument(doc.id, doc.status is DocumentStatus.CONDUCTED)
            for doc in self.gateway.find_stock_documents(title=title)
        ]


def _entry(item: CatalogItem, group: str | None) -> CatalogueEntry:
    return CatalogueEntry(_product(item), group, None if item.quantity is None else int(item.quantity))


def _product(item: CatalogItem) -> ShopProduct:
    return ShopProduct(
        id=item.id,
        key=item.key,
        parent_id=item.parent_id,
        holds_stock=item.type not in _STOCKLESS,
        barcode_multi=item.barcode_multi,
        name=item.name,
    )

"""The stock flow's ``ShopStock`` over the Bitrix gateway: the flow's words in, REST's out."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from decimal import Decimal

from bitrix_inflow.adapters.bitrix import BitrixGateway, CatalogItem, DocumentStatus, ProductType, StockLine
from bitrix_inflow.domain.matching import ShopProduct
from bitrix_inflow.domain.stock import ShopKey
from bitrix_inflow.sync.stock.shop import CatalogueEntry, DocumentLine, FoundDocument, QuantityWrite

# Rows that never hold stock of their own: a parent sold through its offers, a service.
_STOCKLESS = {ProductType.WITH_OFFERS, ProductType.SERVICE}


class BitrixShopStock:
    def __init__(self, gateway: BitrixGateway) -> None:
        self.gateway = gateway

    def inventory_management_on(self) -> bool:
        return self.gateway.inventory_management_on()

    def catalogue(self, *, key: str, group_key: str | None) -> Iterator[CatalogueEntry]:
        catalogs = self.gateway.trade_catalogs()
        groups: dict[int, str] = {}
        if group_key is not None:
            # The group is a property like the key; a second pass reads it (only when group buffers are used).
            groups = {
                item.id: item.key
                for item in self.gateway.catalog_items(key=group_key, catalogs=catalogs)
                if item.key is not None
            }
        for item in self.gateway.catalog_items(key=key, catalogs=catalogs):
            quantity = None if item.quantity is None else int(item.quantity)
            yield CatalogueEntry(_product(item), groups.get(item.id), quantity)

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


def _product(item: CatalogItem) -> ShopProduct:
    return ShopProduct(
        id=item.id,
        key=item.key,
        parent_id=item.parent_id,
        holds_stock=item.type not in _STOCKLESS,
        barcode_multi=item.barcode_multi,
        name=item.name,
    )

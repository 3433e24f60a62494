"""What the stock sync needs of the shop, as a protocol: the flow is written against this, not against REST."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from bitrix_inflow.domain.matching import ShopProduct
from bitrix_inflow.domain.stock import ShopKey


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    product: ShopProduct
    group: str | None = None  # the product group the group buffers apply to, when asked for
    quantity: int | None = None  # what the shop shows now (None: it did not say)


@dataclass(frozen=True)
class DocumentLine:
    product_id: int
    store_id: int
    amount: int  # > 0: S adds it to the store, D writes it off


@dataclass(frozen=True)
class FoundDocument:
    id: int
    conducted: bool


@dataclass(frozen=True)
class QuantityWrite:
    written: tuple[int, ...]
    refused: Mapping[int, str]  # product id → why the shop refused it


class ShopStock(Protocol):
    def inventory_management_on(self) -> bool: ...

    def catalogue(
        self,
        *,
        key: str,
        group_key: str | None,
        keys: Collection[str] | None = None,
        product_ids: Collection[int] | None = None,
    ) -> Iterable[CatalogueEntry]:
        """Every product and offer with its matching key's value, its group (when asked) and its quantity; with
        ``keys`` or ``product_ids``, only the products carrying one of the keys or having one of the ids."""
        ...

    def set_quantities(self, quantities: Mapping[int, int], *, offers: Collection[int]) -> QuantityWrite:
        """One request for up to 50 products (the caller batches), products and offers alike."""
        ...

    def store_amounts(
        self, product_ids: Collection[int], store_ids: Collection[int]
    ) -> dict[ShopKey, int]: ...

    def add_document(self, doc_type: str, lines: Collection[DocumentLine], *, title: str) -> int:
        """A draft stock document with its lines; its id."""
        ...

    def conduct_document(self, document_id: int) -> None: ...

    def delete_document(self, document_id: int) -> None: ...

    def find_documents(self, title: str) -> list[FoundDocument]: ...

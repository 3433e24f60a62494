"""In-memory stand-ins for the two sides of the stock flow, for the flow's own logic (the sandboxes test the wire).

``Crash`` lets a test stop a run at a named step, the way a killed process would stop there: nothing after the step
happens, and the next run must put things right.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from bitrix_inflow.adapters.inflow import AvailableStock, BinStock
from bitrix_inflow.domain.matching import ShopProduct
from bitrix_inflow.sync.stock.shop import CatalogueEntry, DocumentLine, FoundDocument, QuantityWrite

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


class Crash(Exception):
    """The process died here."""


@dataclass
class FakeWarehouse:
    available: dict[tuple[str, str], int] = field(default_factory=dict)
    stamps: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)
    tick: int = 0

    def set(self, sku: str, qty: int, warehouse: str = "MAIN") -> None:
        self.tick += 1
        self.available[(sku, warehouse)] = qty
        self.stamps[(sku, warehouse)] = T0 + dt.timedelta(seconds=self.tick)

    def iter_available_stock(
        self,
        *,
        warehouse: str | None = None,
        sku: str | None = None,
        updated_since: dt.datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[AvailableStock]:
        del limit
        for (s, wh), qty in sorted(self.available.items()):
            stamp = self.stamps[(s, wh)]
            wanted = (warehouse is None or wh == warehouse) and (sku is None or s == sku)
            if wanted and (updated_since is None or stamp >= updated_since):
                yield AvailableStock(s, wh, qty, stamp)

    def iter_bin_stock(
        self,
        *,
        warehouse: str | None = None,
        sku: str | None = None,
        updated_since: dt.datetime | None = None,
        limit: int | None = None,
    ) -> Iterable[BinStock]:
        for row in self.iter_available_stock(
            warehouse=warehouse, sku=sku, updated_since=updated_since, limit=limit
        ):
            yield BinStock(
                row.sku, row.warehouse, "A", "A-01-01-01", row.qty_available, 0, 0, True, row.updated_at
            )


@dataclass
class FakeDocument:
    doc_type: str
    title: str
    lines: list[DocumentLine]
    conducted: bool = False


@dataclass
class FakeShop:
    products: list[ShopProduct] = field(default_factory=list)
    inventory: bool = False
    quantities: dict[int, int] = field(default_factory=dict)
    amounts: dict[tuple[int, int], int] = field(default_factory=dict)
    documents: dict[int, FakeDocument] = field(default_factory=dict)
    write_requests: int = 0
    crash_at: str | None = None  # "add", "after-add", "conduct", "after-conduct", "write:<n>"
    refuse: set[int] = field(default_factory=set)
    groups: dict[int, str] = field(default_factory=dict)  # product → its group (the group_key's value)
    catalogue_reads: int = 0

    def _maybe_crash(self, step: str) -> None:
        if self.crash_at == step:
            self.crash_at = None
            raise Crash(step)

    def inventory_management_on(self) -> bool:
        return self.inventory

    def catalogue(
        self,
        *,
        key: str,
        group_key: str | None,
        keys: Collection[str] | None = None,
        product_ids: Collection[int] | None = None,
    ) -> Iterable[CatalogueEntry]:
        del key
        self.catalogue_reads += 1
        narrowed = keys is not None or product_ids is not None
        return [
            CatalogueEntry(
                product, self.groups.get(product.id) if group_key else None, self.quantities.get(product.id)
            )
            for product in self.products
            if not narrowed or product.key in (keys or ()) or product.id in (product_ids or ())
        ]

    def set_quantities(self, quantities: Mapping[int, int], *, offers: Collection[int]) -> QuantityWrite:
        del offers
        self.write_requests += 1
        self._maybe_crash(f"write:{self.write_requests}")
        written = tuple(pid for pid in quantities if pid not in self.refuse)
        for pid in written:
            self.quantities[pid] = quantities[pid]
        return QuantityWrite(written, {pid: "refused" for pid in quantities if pid in self.refuse})

    def store_amounts(
        self, product_ids: Collection[int], store_ids: Collection[int]
    ) -> dict[tuple[int, int], int]:
        return {k: v for k, v in self.amounts.items() if k[0] in product_ids and k[1] in store_ids}

    def add_document(self, doc_type: str, lines: Collection[DocumentLine], *, title: str) -> int:
        self._maybe_crash("add")
        document_id = len(self.documents) + 1
        self.documents[document_id] = FakeDocument(doc_type, title, list(lines))
        self._maybe_crash("after-add")
        return document_id

    def conduct_document(self, document_id: int) -> None:
        self._maybe_crash("conduct")
        document = self.documents[document_id]
        assert not document.conducted, "a document is conducted once"
        sign = 1 if document.doc_type == "S" else -1
        for line in document.lines:
            key = (line.product_id, line.store_id)
            self.amounts[key] = self.amounts.get(key, 0) + sign * line.amount
            assert self.amounts[key] >= 0, "a write-off beyond the stock"
        document.conducted = True
        self._maybe_crash("after-conduct")

    def delete_document(self, document_id: int) -> None:
        assert not self.documents[document_id].conducted, "only drafts are deleted"
        del self.documents[document_id]

    def find_documents(self, title: str) -> list[FoundDocument]:
        return [FoundDocument(i, d.conducted) for i, d in self.documents.items() if d.title == title]

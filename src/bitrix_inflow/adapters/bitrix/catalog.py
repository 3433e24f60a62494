"""The catalog (``catalog.*``): product quantities without inventory management, and the shop's stores."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from . import mappers, replies
from .arguments import positive_id, quantity
from .models import CatalogStore, QuantityUpdate
from .paging import BATCH, all_pages, chunks
from .transport import Transport


class Catalog:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._sdk = transport.token.get_client()

    def set_product_quantities(self, quantities: Mapping[int, Decimal | int]) -> QuantityUpdate:
        items = [
            (positive_id(pid, f"quantities[{pid}]"), quantity(qty, f"quantities[{pid}]"))
            for pid, qty in quantities.items()
        ]
        updated: list[int] = []
        failed: dict[int, str] = {}
        for chunk in chunks(items, BATCH):
            commands = {
                f"p{pid}": ("catalog.product.update", {"id": pid, "fields": {"quantity": qty}})
                for pid, qty in chunk
            }
            reply = self._transport.batch(commands)
            for pid, qty in chunk:
                key = f"p{pid}"
                error = reply.errors.get(key)
                if error is not None:
                    replies.raise_if_global(error)
                    failed[pid] = str(error)
                    continue
                echoed = _echoed_quantity(reply.results.get(key))
                if echoed is not None and echoed != Decimal(str(qty)):
                    failed[pid] = (
                        f"Bitrix kept quantity {echoed} instead of {qty}: quantity is read-only while "
                        "inventory management is on (use post_stock_document)"
                    )
                    continue
                updated.append(pid)
        return QuantityUpdate(updated=tuple(updated), failed=failed)

    def stores(self) -> list[CatalogStore]:
        rows = all_pages(
            self._transport,
            lambda start: (
                self._sdk.catalog.store.list(
                    select=["id", "title", "active", "code", "xmlId", "address"],
                    order={"id": "ASC"},
                    start=start,
                ).response
            ),
            "stores",
            "catalog.store.list",
        )
        return replies.mapped("catalog.store.list", mappers.catalog_store, rows)


def _echoed_quantity(result: object) -> Decimal | None:
    """The quantity ``catalog.product.update`` answers with (``{"element": {...}}``), if it says one."""
    element = result.get("element") if isinstance(result, Mapping) else None
    value = element.get("quantity") if isinstance(element, Mapping) else None
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None

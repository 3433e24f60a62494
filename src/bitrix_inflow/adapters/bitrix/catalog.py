"""The catalog (``catalog.*``): the trade catalogs, their products and trade offers for matching, stock per store,
product quantities without inventory management, and the shop's stores."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from decimal import Decimal
from functools import partial

from bitrix_inflow.errors import NotFoundError, ValidationError

from . import mappers, replies
from .arguments import ids, matching_key, positive_id, quantity, texts
from .models import CatalogItem, CatalogStore, QuantityUpdate, StoreAmount, TradeCatalog
from .paging import BATCH, FILTER_VALUES, all_pages, chunks, models_by_id
from .transport import JSON, Transport

_ITEM_SELECT = ("id", "iblockId", "name", "xmlId", "type", "barcodeMulti", "quantity")
_STORE_AMOUNT_SELECT = ("id", "productId", "storeId", "amount", "quantityReserved")


class Catalog:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._sdk = transport.token.get_client()

    def set_product_quantities(
        self, quantities: Mapping[int, Decimal | int], *, offers: Collection[int] = ()
    ) -> QuantityUpdate:
        items = [
            (positive_id(pid, f"quantities[{pid}]"), quantity(qty, f"quantities[{pid}]"))
            for pid, qty in quantities.items()
        ]
        offer_ids = set(ids(offers, "offers"))
        updated: list[int] = []
        failed: dict[int, str] = {}
        missing: list[int] = []
        for chunk in chunks(items, BATCH):
            # Offers have their own method (catalog-product-offer-update.md), which answers {"offer": …}.
            commands = {
                f"p{pid}": (
                    "catalog.product.offer.update" if pid in offer_ids else "catalog.product.update",
                    {"id": pid, "fields": {"quantity": qty}},
                )
                for pid, qty in chunk
            }
            reply = self._transport.batch(commands)
            for pid, qty in chunk:
                key = f"p{pid}"
                error = reply.errors.get(key)
                if error is not None:
                    replies.raise_if_global(error)
                    failed[pid] = str(error)
                    if isinstance(error, NotFoundError):
                        missing.append(pid)
                    continue
                echoed = _echoed_quantity(reply.results.get(key), "offer" if pid in offer_ids else "element")
                if echoed is not None and echoed != Decimal(str(qty)):
                    failed[pid] = (
                        f"Bitrix kept quantity {echoed} instead of {qty}: quantity is read-only while "
                        "inventory management is on (use stock documents)"
                    )
                    continue
                updated.append(pid)
        return QuantityUpdate(updated=tuple(updated), failed=failed, missing=tuple(missing))

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

    def trade_catalogs(self) -> list[TradeCatalog]:
        params: JSON = {"select": ["id", "iblockId", "name", "productIblockId", "skuPropertyId"]}
        return list(
            models_by_id(self._transport, "catalog.catalog.list", params, "catalogs", mappers.trade_catalog)
        )

    def catalog_items(
        self,
        *,
        key: str,
        offer_key: str | None,
        product_ids: Collection[int] | None,
        keys: Collection[str] | None,
        catalogs: Sequence[TradeCatalog] | None,
    ) -> Iterator[CatalogItem]:
        # Checked now, not at the first next(): a bad argument is the caller's bug, not a failed read.
        product_key = matching_key(key, "key")
        offers_key = matching_key(offer_key if offer_key is not None else key, "offer_key")
        if product_ids is not None and keys is not None:
            raise ValidationError(
                "keys", "give product_ids or keys, not both", "read the two sets in two calls"
            )
        wanted_ids = None if product_ids is None else ids(product_ids, "product_ids")
        wanted_keys = None if keys is None else [k for k in texts(keys, "keys") if k.strip()]
        return self._items(product_key, offers_key, wanted_ids, wanted_keys, catalogs)

    def _items(
        self,
        product_key: str,
        offers_key: str,
        wanted_ids: list[int] | None,
        wanted_keys: list[str] | None,
        catalogs: Sequence[TradeCatalog] | None,
    ) -> Iterator[CatalogItem]:
        for catalog in self.trade_catalogs() if catalogs is None else catalogs:
            # Products and offers live in iblocks of their own. catalog.product.list lists every row of a
            # product iblock (simple, with offers, services); offers come from catalog.product.offer.list,
            # whose rows carry parentId (catalog-product-offer-list.md).
            if catalog.is_offers:
                method, rows_key, field = "catalog.product.offer.list", "offers", offers_key
                extra: tuple[str, ...] = ("parentId",)
            else:
                method, rows_key, field = "catalog.product.list", "products", product_key
                extra = ()
            select = list(dict.fromkeys((*_ITEM_SELECT, field, *extra)))
            base: JSON = {"iblockId": catalog.iblock_id}
            # "=" (the default) takes an array for IN on these two methods; they document no "@".
            if wanted_ids is not None:
                filters = [{**base, "id": list(c)} for c in chunks(wanted_ids, FILTER_VALUES)]
            elif wanted_keys is not None:
                filters = [{**base, field: list(c)} for c in chunks(wanted_keys, FILTER_VALUES)]
            else:
                filters = [base]
            convert = partial(mappers.catalog_item, key=field)
            for filter_ in filters:
                params: JSON = {"select": select, "filter": filter_}
                yield from models_by_id(self._transport, method, params, rows_key, convert)

    def store_amounts(
        self, product_ids: Collection[int] | None, store_ids: Collection[int] | None
    ) -> Iterator[StoreAmount]:
        wanted_products = None if product_ids is None else ids(product_ids, "product_ids")
        wanted_stores = None if store_ids is None else ids(store_ids, "store_ids")
        return self._amounts(wanted_products, wanted_stores)

    def _amounts(
        self, wanted_products: list[int] | None, wanted_stores: list[int] | None
    ) -> Iterator[StoreAmount]:
        if wanted_stores == [] or wanted_products == []:
            return
        base: JSON = {} if wanted_stores is None else {"@storeId": wanted_stores}
        if wanted_products is None:
            filters = [base]
        else:
            filters = [{**base, "@productId": list(c)} for c in chunks(wanted_products, FILTER_VALUES)]
        for filter_ in filters:
            params: JSON = {"select": list(_STORE_AMOUNT_SELECT), "filter": filter_}
            yield from models_by_id(
                self._transport, "catalog.storeproduct.list", params, "storeProducts", mappers.store_amount
            )


def _echoed_quantity(result: object, key: str) -> Decimal | None:
    """The quantity an update answers with (``{"element": {...}}``, ``{"offer": {...}}``), if it says one."""
    element = result.get(key) if isinstance(result, Mapping) else None
    value = element.get("quantity") if isinstance(element, Mapping) else None
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None

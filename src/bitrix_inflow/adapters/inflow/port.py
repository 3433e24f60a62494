"""The port the sync flows depend on; ``InflowClient`` is its only production implementation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Protocol

from bitrix_inflow.adapters.inflow.models import (
    AvailableStock,
    BinStock,
    ChangesPage,
    NewPickingOrder,
    PickingOrder,
    ReturnsPage,
    StockPage,
)
from bitrix_inflow.domain.vocabulary import InflowStatus


class InflowPort(Protocol):
    """Everything bitrix-inflow asks of an Inflow WMS installation.

    Methods raise the taxonomy of ``bitrix_inflow.errors`` (and the subclasses in
    ``adapters.inflow.problems``); transient failures have already been retried within the retry budget.
    """

    def available_stock_page(
        self,
        *,
        warehouse: str | None = None,
        sku: str | None = None,
        updated_since: dt.datetime | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> StockPage[AvailableStock]: ...

    def bin_stock_page(
        self,
        *,
        warehouse: str | None = None,
        sku: str | None = None,
        updated_since: dt.datetime | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> StockPage[BinStock]: ...

    def iter_available_stock(
        self,
        *,
        warehouse: str | None = None,
        sku: str | None = None,
        updated_since: dt.datetime | None = None,
    ) -> Iterator[AvailableStock]: ...

    def iter_bin_stock(
        self,
        *,
        warehouse: str | None = None,
        sku: str | None = None,
        updated_since: dt.datetime | None = None,
    ) -> Iterator[BinStock]: ...

    def create_picking_order(
        self, order: NewPickingOrder, *, idempotency_key: str | None = None
    ) -> PickingOrder: ...

    def iter_orders(
        self, *, warehouse: str | None = None, status: InflowStatus | None = None
    ) -> Iterator[PickingOrder]: ...

    def get_order(self, order_id: str) -> PickingOrder: ...

    def find_by_external_ref(
        self, external_ref: str, warehouse: str | None = None
    ) -> PickingOrder | None: ...

    def changes_page(self, cursor: str | None = None, *, limit: int | None = None) -> ChangesPage: ...

    def iter_changes(
        self, cursor: str | None = None, *, limit: int | None = None
    ) -> Iterator[ChangesPage]: ...

    def returns_page(self, cursor: str | None = None, *, limit: int | None = None) -> ReturnsPage: ...

    def cancel(
        self, order_id: str, *, reason: str | None = None, if_match_version: int | None = None
    ) -> PickingOrder: ...

    def close(self) -> None: ...

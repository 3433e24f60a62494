"""``InflowClient``: the one place bitrix-inflow talks to an Inflow WMS installation (REST or SOAP).

Reads (stock, orders, changes) and cancels are idempotent by nature and retried on transient errors. A create
is retried only with the same Idempotency-Key, chosen once before the first attempt, and every retry first
looks the order up by its external reference: a create whose response was lost is adopted, never duplicated.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from bitrix_inflow.adapters.inflow import mappers
from bitrix_inflow.adapters.inflow.http import (
    ApiKeyCredentials,
    Credentials,
    HttpSession,
    OAuth2ClientCredentials,
)
from bitrix_inflow.adapters.inflow.models import (
    AvailableStock,
    BinStock,
    ChangesPage,
    NewPickingOrder,
    PickingOrder,
    ReturnsPage,
    RowT,
    StockPage,
)
from bitrix_inflow.adapters.inflow.problems import DuplicateExternalRefError, VersionMismatchError
from bitrix_inflow.adapters.inflow.profile import InstallationProfile, load_profile
from bitrix_inflow.adapters.inflow.rest import RestWire
from bitrix_inflow.adapters.inflow.retry import Backoff
from bitrix_inflow.adapters.inflow.settings import InflowSettings
from bitrix_inflow.adapters.inflow.soap import SoapWire
from bitrix_inflow.adapters.inflow.wire import Wire
from bitrix_inflow.domain.vocabulary import InflowStatus
from bitrix_inflow.errors import TransientError, ValidationError
from bitrix_inflow.timing import Clock, SystemClock

_KEY_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))
# The warehouse argument of a stock read that asks for every warehouse (the query leaves it out): onboarding
# learns the installation's warehouses so, since the contract lists none.
EVERY_WAREHOUSE = "\x00every"


def credentials_for(settings: InflowSettings, profile: InstallationProfile, clock: Clock) -> Credentials:
    if settings.auth == "oauth2":
        assert (
            settings.client_id is not None and settings.client_secret is not None
        )  # checked by InflowSettings
        return OAuth2ClientCredentials(
            settings.client_id,
            settings.client_secret.get_secret_value(),
            profile.rest.token_path,
            settings.token_refresh_margin,
            clock=clock,
        )
    assert settings.api_key is not None  # checked by InflowSettings
    return ApiKeyCredentials(settings.api_key.get_secret_value())


class InflowClient:
    """Implements ``InflowPort``. Thread-safe for concurrent calls (httpx pool, locked token cache)."""

    def __init__(
        self,
        settings: InflowSettings,
        *,
        profile: InstallationProfile | None = None,
        http_transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.profile = profile or load_profile(settings.profile)
        clock = clock or SystemClock()
        self.credentials = credentials_for(settings, self.profile, clock)
        http = HttpSession(
            settings,
            self.credentials,
            transport=http_transport,
            # SOAP faults are never renamed; REST problem documents are (contract §10).
            problem_names=self.profile.from_wire if settings.transport == "rest" else (lambda value: value),
            field_path=self.profile.canonical_field_path
            if settings.transport == "rest"
            else (lambda path: path),
        )
        self._wire: Wire = (
            RestWire(http, self.profile)
            if settings.transport == "rest"
            else SoapWire(http, self.profile, settings.base_url)
        )
        self._backoff = Backoff(settings.retry, clock=clock, rng=rng)

    def close(self) -> None:
        self._wire.close()

    def __enter__(self) -> InflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers
    def _limit(self, limit: int | None) -> int:
        paging = self.profile.paging
        if limit is None:
            return paging.page_size
        if not 1 <= limit <= paging.max_page_size:
            raise ValidationError(
                field="limit",
                problem=f"{limit} is outside 1..{paging.max_page_size} (cap of profile {self.profile.name})",
                fix=f"ask for at most {paging.max_page_size} rows per page, or leave limit unset",
            )
        return limit

    def _stock_query(
        self,
        *,
        available_only: bool,
        warehouse: str | None,
        sku: str | None,
        updated_since: dt.datetime | None,
        cursor: str | None,
        limit: int | None,
    ) -> dict[str, Any]:
        if updated_since is not None and updated_since.tzinfo is None:
            raise ValidationError(
                field="updated_since",
                problem="a naive datetime is ambiguous",
                fix="pass an aware datetime, e.g. datetime.now(UTC)",
            )
        return {
            "warehouse": None if warehouse == EVERY_WAREHOUSE else (warehouse or self.settings.warehouse),
            "sku": sku,
            "available_only": available_only,
            "updated_since": updated_since,
            "cursor": cursor,
            "limit": self._limit(limit),
        }

    # ------------------------------------------------------------------ stock
    def available_stock_page(
        self,
        *,
        warehouse: str | None = None,
        sku: str | None = None,
        updated_since: dt.datetime | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> StockPage[AvailableStock]:
        query = self._stock_query(
            available_only=True,
            warehouse=warehouse,
            sku=sku,
            updated_since=updated_since,
            cursor=cursor,
            limit=limit,
        )
        return mappers.available_page(self._backoff.run(lambda: self._wire.stock_page(query)))

    def bin_stock_page(
        self,
        *,
        warehouse: str | None = None,
        sku: str | None = None,
        updated_since: dt.datetime | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> StockPage[BinStock]:
        query = self._stock_query(
            available_only=False,
            warehouse=warehouse,
            sku=sku,
            updated_since=updated_since,
            cursor=cursor,
            limit=limit,
        )
        return mappers.bin_page(self._backoff.run(lambda: self._wire.stock_page(query)))

    def iter_available_stock(
        self,
        *,
        warehouse: str | None = None,
        sku: str | None = None,
        updated_since: dt.datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[AvailableStock]:
        """Every aggregated row, one page in memory at a time (a page may be empty while more follow)."""
        return _rows_of_every_page(
            lambda cursor: self.available_stock_page(
                warehouse=warehouse, sku=sku, updated_since=updated_since, cursor=cursor, limit=limit
            )
        )

    def iter_bin_stock(
        self,
        *,
        warehouse: str | None = None,
        sku: str | None = None,
        updated_since: dt.datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[BinStock]:
        """Every stock slot, one page in memory at a time."""
        return _rows_of_every_page(
            lambda cursor: self.bin_stock_page(
                warehouse=warehouse, sku=sku, updated_since=updated_since, cursor=cursor, limit=limit
            )
        )

    # ------------------------------------------------------------------ orders
    def create_picking_order(
        self, order: NewPickingOrder, *, idempotency_key: str | None = None
    ) -> PickingOrder:
        """Create (and reserve) a picking order, exactly once however the network behaves.

        Pass ``idempotency_key`` when it was persisted with the job, so that a retry after a crash reuses it;
        otherwise one is chosen here, once, before the first attempt.
        """
        key = idempotency_key or str(uuid.uuid4())
        if not 1 <= len(key) <= 255 or not set(key) <= _KEY_CHARS:
            raise ValidationError(
                field="idempotency_key", problem="must be 1..255 printable ASCII characters", fix="use a UUID"
            )
        warehouse = order.warehouse or self.settings.warehouse
        body = mappers.order_body(order, warehouse)
        attempt = 1
        while True:
            try:
                if attempt > 1 and self._wire.supports_lookup:
                    # The previous attempt may have created the order before its answer was lost.
                    existing = self._find_once(order.external_ref, warehouse)
                    if existing is not None:
                        return existing
                return mappers.order(self._wire.create_order(body, key))
            except DuplicateExternalRefError as exc:
                # external_ref is unique per warehouse: the order exists (ours, from a lost answer): adopt it.
                if exc.existing_order_id:
                    return self.get_order(exc.existing_order_id)
                if not self._wire.supports_lookup:
                    raise
                found = self.find_by_external_ref(order.external_ref, warehouse)
                if found is None:
                    raise
                return found
            except TransientError as exc:
                if attempt >= self.settings.retry.attempts:
                    raise
                self._backoff.wait_before_retry(attempt, exc)
                attempt += 1

    def _find_once(self, external_ref: str, warehouse: str) -> PickingOrder | None:
        rows = self._wire.find_orders(external_ref, warehouse)
        matches = [mappers.order(row) for row in rows]
        matches = [o for o in matches if o.external_ref == external_ref and o.warehouse == warehouse]
        return matches[0] if matches else None

    def find_by_external_ref(self, external_ref: str, warehouse: str | None = None) -> PickingOrder | None:
        """The picking order with this reference in the warehouse, or None (REST only)."""
        target = warehouse or self.settings.warehouse
        return self._backoff.run(lambda: self._find_once(external_ref, target))

    def iter_orders(
        self, *, warehouse: str | None = None, status: InflowStatus | None = None
    ) -> Iterator[PickingOrder]:
        """The picking orders of a warehouse (in one status), oldest first, a page at a time (REST only)."""
        query: dict[str, Any] = {
            "warehouse": warehouse or self.settings.warehouse,
            "status": self.profile.wire_status(status) if status is not None else None,
            "limit": self._limit(None),
        }
        while True:
            page = self._backoff.run(lambda: self._wire.list_orders(dict(query)))
            yield from (mappers.order(row) for row in page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor

    def get_order(self, order_id: str) -> PickingOrder:
        """The order with its execution status (lines picked, picking error, packages, tracking)."""
        return mappers.order(self._backoff.run(lambda: self._wire.get_order(order_id)))

    def changes_page(self, cursor: str | None = None, *, limit: int | None = None) -> ChangesPage:
        size = self._limit(limit)
        return mappers.changes_page(self._backoff.run(lambda: self._wire.changes(cursor, size)))

    def iter_changes(self, cursor: str | None = None, *, limit: int | None = None) -> Iterator[ChangesPage]:
        """Pages of changed orders after ``cursor``; persist ``page.next_cursor`` after handling a page."""
        while True:
            page = self.changes_page(cursor, limit=limit)
            yield page
            if not page.has_more:
                return
            cursor = page.next_cursor

    def returns_page(self, cursor: str | None = None, *, limit: int | None = None) -> ReturnsPage:
        """One page of returns received after ``cursor``; persist ``page.next_cursor`` after handling it."""
        size = self._limit(limit)
        return mappers.returns_page(self._backoff.run(lambda: self._wire.returns(cursor, size)))

    def cancel(
        self, order_id: str, *, reason: str | None = None, if_match_version: int | None = None
    ) -> PickingOrder:
        """Cancel per the contract's matrix; CancelRejectedError when the goods already left their bins."""
        lost_answer = False

        def attempt() -> dict[str, Any]:
            nonlocal lost_answer
            try:
                return self._wire.cancel(order_id, reason, if_match_version)
            except TransientError:
                lost_answer = True
                raise

        try:
            return mappers.order(self._backoff.run(attempt))
        except VersionMismatchError:
            # After a lost answer the stale version may be our own successful cancel: check before failing.
            if lost_answer:
                current = self.get_order(order_id)
                if current.status is InflowStatus.CANCELLED:
                    return current
            raise


def _rows_of_every_page(fetch: Callable[[str | None], StockPage[RowT]]) -> Iterator[RowT]:
    """Follow the cursor from the first page to the last, yielding rows; one page in memory at a time."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


if TYPE_CHECKING:
    # mypy proves the client implements the port the sync flows depend on.
    from bitrix_inflow.adapters.inflow.port import InflowPort

    def _implements_the_port(client: InflowClient) -> InflowPort:
        return client

"""The warehouse behind both front ends (REST and SOAP): canonical names in, canonical documents out."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bitrix_inflow.sandboxes import catalogue
from bitrix_inflow.sandboxes.bugs import BugLog
from bitrix_inflow.sandboxes.catalogue import CatalogueError
from bitrix_inflow.sandboxes.wms import cursors
from bitrix_inflow.sandboxes.wms.assortment import warehouse_skus
from bitrix_inflow.sandboxes.wms.auth import Authenticator, AuthSettings
from bitrix_inflow.sandboxes.wms.clock import Timestamps, parse_rfc3339_us
from bitrix_inflow.sandboxes.wms.dialect import Dialect
from bitrix_inflow.sandboxes.wms.faults import Faults, FaultSettings
from bitrix_inflow.sandboxes.wms.idempotency import IdempotencyStore, StoredResponse, check_key, fingerprint
from bitrix_inflow.sandboxes.wms.models import CancelIn, CreateOrderIn, parse_body
from bitrix_inflow.sandboxes.wms.order_model import STATUSES, Order
from bitrix_inflow.sandboxes.wms.orders import OrderBook
from bitrix_inflow.sandboxes.wms.problems import Problem, field_error, invalid
from bitrix_inflow.sandboxes.wms.returns import ReturnsBook
from bitrix_inflow.sandboxes.wms.stock import StockStore, generated_skus
from bitrix_inflow.sandboxes.wms.webhooks import WebhookHub, WebhookSettings


@dataclass
class SandboxSettings:
    seed: int = 0
    warehouses: list[str] = field(default_factory=lambda: ["MAIN"])
    # Which SKUs: ``skus=N`` generated ones of its own (they match no shop); else the shared catalogue: the file
    # at ``catalogue_path``, a generated one of ``catalogue_size`` rows (seeded with ``seed``), or by default
    # the sandbox catalogue the sandbox shop loads too.
    skus: int | None = None
    catalogue_path: str | None = None
    catalogue_size: int | None = None
    bins: int = 500
    qty_min: int = 0
    qty_max: int = 50
    pace: float = 0.0
    dialect: Dialect = field(default_factory=Dialect)
    auth: AuthSettings = field(default_factory=AuthSettings)
    faults: FaultSettings = field(default_factory=FaultSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    state_path: str | None = None
    # Which transports the installation serves: "rest", "soap" or "both". The token endpoint stays with either:
    # a SOAP-only installation issues OAuth2 tokens too (contract §2).
    transports: str = "both"


class WmsService:
    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.dialect = settings.dialect
        self.clock = Timestamps()
        self.faults = Faults(settings.faults)
        self.auth = Authenticator(settings.auth)
        # Survives a reseed: a reset between two tests must not wipe what the first one broke.
        self.bugs = BugLog("wms")
        self.idempotency = IdempotencyStore()
        self.stock = StockStore()
        self.hub = WebhookHub(self.faults, self.clock, settings.webhooks, self.dialect.outbound, self.bugs)
        self.book = OrderBook(self.stock, self.clock, self.faults, self, settings.seed)
        self.returns = ReturnsBook(self.stock)
        self.dirty = False

    # ----------------------------------------------------------------- events (OrderEvents)
    def order_status_changed(self, order: Order, previous: str) -> None:
        self.dirty = True
        self.hub.publish(
            "order.status_changed",
            {
                "order_id": order.id,
                "external_ref": order.external_ref,
                "warehouse": order.warehouse,
                "status": order.status,
                "previous_status": previous,
                "version": order.version,
            },
        )

    def stock_changed(self, warehouse: str, skus: list[str]) -> None:
        self.dirty = True
        self.hub.publish("stock.changed", {"warehouse": warehouse, "skus": skus})

    # ----------------------------------------------------------------- seeding
    def seed(
        self,
        warehouses: list[str],
        *,
        skus: int | None,
        bins: int,
        seed: int,
        qty_min: int,
        qty_max: int,
        catalogue_csv: str | None = None,
        catalogue_size: int | None = None,
    ) -> str:
        """Replace stock and orders (subscriptions stay) with a deterministic warehouse; returns where the SKUs
        came from. A catalogue that cannot be used raises ``CatalogueError`` before anything changes."""
        zones: list[str] | None = None
        if skus is not None:
            if catalogue_csv is not None or catalogue_size is not None:
                raise CatalogueError("give either skus or a catalogue, not both")
            source, chosen = "generated SKUs", generated_skus(skus)
        else:
            source, items = catalogue.resolve(csv_text=catalogue_csv, size=catalogue_size, seed=seed)
            chosen, zones = warehouse_skus(items)
        self.stock.seed_skus(
            warehouses,
            chosen,
            zones,
            n_bins=bins,
            seed=seed,
            qty_min=qty_min,
            qty_max=qty_max,
            now_us=self.clock.now_us(),
        )
        self.book = OrderBook(self.stock, self.clock, self.faults, self, seed)
        self.returns = ReturnsBook(self.stock)
        # Cleared, not replaced: a request in flight checks its claim against this very store.
        self.idempotency.clear()
        self.hub.forget_deliveries()
        self.dirty = True
        return source

    # ----------------------------------------------------------------- stock
    def get_stock(self, query: dict[str, Any]) -> dict[str, Any]:
        """``query`` holds canonical names with raw string values."""
        available_only = parse_bool(query.get("available_only"), "available_only")
        limit = self.parse_limit(query.get("limit"))
        since = query.get("updated_since")
        since_us = None
        if since is not None:
            try:
                since_us = parse_rfc3339_us(since)
            except ValueError:
                raise invalid(
                    "updated_since", "use an RFC 3339 date-time, e.g. 2026-11-27T01:02:03Z"
                ) from None
        warehouse = non_empty(query.get("warehouse"), "warehouse")
        if warehouse is not None and warehouse not in self.stock.warehouses:
            # An empty answer would read as "everything sold out" to a misconfigured client.
            known = ", ".join(sorted(self.stock.warehouses))
            raise Problem(
                "unknown-warehouse",
                f"warehouse {warehouse!r} does not exist (known: {known})",
                errors=[field_error("warehouse", "unknown warehouse code")],
            )
        sku = non_empty(query.get("sku"), "sku")
        filters = {"w": warehouse, "s": sku, "a": available_only, "u": since_us}
        cursor = query.get("cursor")
        if available_only:
            after = None
            if cursor is not None:
                pos = cursors.decode(cursor, filters)
                if not (isinstance(pos, list) and len(pos) == 2 and all(isinstance(p, str) for p in pos)):
                    raise invalid("cursor", "not a cursor issued by this server")
                after = (pos[0], pos[1])
            rows, last = self.stock.page_available(warehouse, sku, since_us, after, limit)
            next_cursor = cursors.encode(list(last), filters) if last is not None else None
        else:
            after_slot = -1
            if cursor is not None:
                pos = cursors.decode(cursor, filters)
                if not isinstance(pos, int) or isinstance(pos, bool):
                    raise invalid("cursor", "not a cursor issued by this server")
                after_slot = pos
            bin_rows, next_slot = self.stock.page_bins(warehouse, sku, since_us, after_slot, limit)
            rows = bin_rows
            next_cursor = cursors.encode(next_slot, filters) if next_slot is not None else None
        return {"items": rows, "next_cursor": next_cursor}

    def parse_limit(self, raw: str | None) -> int:
        if raw is None:
            return self.dialect.default_page_size
        cap = self.dialect.max_page_size
        try:
            value = int(raw)
        except ValueError:
            raise invalid("limit", f"must be an integer between 1 and {cap}") from None
        if not 1 <= value <= cap:
            raise invalid("limit", f"must be between 1 and {cap}")
        return value

    # ----------------------------------------------------------------- orders
    async def create_order(
        self, principal: str, body: Any, idempotency_key: str | None
    ) -> tuple[StoredResponse, bool]:
        """The response and whether it is a replay."""
        claim = None
        if idempotency_key is not None:
            check_key(idempotency_key)
            outcome = self.idempotency.begin(principal, idempotency_key, fingerprint(body))
            if isinstance(outcome, StoredResponse):
                return outcome, True
            claim = outcome
        result: StoredResponse | None = None
        try:
            await self.processing_delay()
            if claim is not None and not self.idempotency.holds(claim):
                # A reseed during the delay forgot the key with every order: the request takes effect in the
                # new state, so it meets that state's keys as if it had just arrived (a twin sent after the
                # reset may hold or have answered the key by now).
                outcome = self.idempotency.begin(principal, claim.key, claim.fingerprint)
                if isinstance(outcome, StoredResponse):
                    return outcome, True
                claim = outcome
            request = parse_body(CreateOrderIn, body)
            order = self.book.create(request.model_dump(exclude_none=True))
            self.dirty = True
            result = StoredResponse(
                201, order.document(), f"{self.dialect.base_path}/{self.dialect.segment('orders')}/{order.id}"
            )
            return result, False
        finally:
            if claim is not None:
                self.idempotency.finish(claim, result)

    async def processing_delay(self) -> None:
        """The time the warehouse takes over an order (the ``processing_delay_ms`` fault); its key is in flight."""
        if self.faults.settings.processing_delay_ms:
            await asyncio.sleep(self.faults.settings.processing_delay_ms / 1000)

    def list_orders(self, query: dict[str, Any]) -> dict[str, Any]:
        limit = self.parse_limit(query.get("limit"))
        ref = non_empty(query.get("external_ref"), "external_ref")
        warehouse = non_empty(query.get("warehouse"), "warehouse")
        status = query.get("status")
        if status is not None and status not in STATUSES:
            raise invalid(
                "status", "unknown status; use one of " + ", ".join(map(self.dialect.status_out, STATUSES))
            )
        filters = {"r": ref, "w": warehouse, "s": status}
        after = 0
        if query.get("cursor") is not None:
            pos = cursors.decode(query["cursor"], filters)
            if not isinstance(pos, int) or isinstance(pos, bool):
                raise invalid("cursor", "not a cursor issued by this server")
            after = pos
        if ref is not None:
            # A reference is unique per warehouse: one look-up per warehouse, not a scan of every order.
            places = [warehouse] if warehouse is not None else list(self.stock.warehouses)
            ids = [oid for wh in places if (oid := self.book.by_ref.get((wh, ref))) is not None]
            candidates = [self.book.orders[oid] for oid in sorted(ids)]
        else:
            candidates = list(self.book.orders.values())
        items: list[dict[str, Any]] = []
        last = None
        more = False
        for order in candidates:
            number = int(order.id.removeprefix("PO-"))
            if (
                number <= after
                or (warehouse and order.warehouse != warehouse)
                or (status and order.status != status)
            ):
                continue
            if len(items) >= limit:
                more = True
                break
            items.append(order.document())
            last = number
        return {"items": items, "next_cursor": cursors.encode(last, filters) if more else None}

    def get_order(self, order_id: str) -> Order:
        return self.book.get(order_id)

    def changes(self, cursor: str | None, limit_raw: str | None) -> dict[str, Any]:
        limit = self.parse_limit(limit_raw)
        after = 0
        if cursor is not None:
            pos = cursors.decode(cursor, {"feed": "changes"})
            if not isinstance(pos, int) or isinstance(pos, bool) or pos < 0:
                raise invalid("cursor", "not a cursor issued by this server")
            after = pos
        orders, last, has_more = self.book.changes(after, limit)
        return {
            "items": [o.document() for o in orders],
            "next_cursor": cursors.encode(last, {"feed": "changes"}),
            "has_more": has_more,
        }

    def returns_page(self, cursor: str | None, limit_raw: str | None) -> dict[str, Any]:
        return self.returns.page(cursor, self.parse_limit(limit_raw))

    def receive_return(self, order_id: str, body: Any) -> dict[str, Any]:
        """Goods came back for a shipped order: on a bin again (restock: sellable) and in the returns feed."""
        order = self.book.get(order_id)
        received = self.returns.receive(order, body, self.clock.now_us())
        self.stock_changed(order.warehouse, sorted({line.sku for line in received.lines}))
        self.dirty = True
        return received.document()

    def cancel(self, order_id: str, body: Any, if_match: str | None) -> Order:
        request = parse_body(CancelIn, body if body is not None else {})
        version = None
        if if_match is not None:
            text = if_match.strip().removeprefix("W/").strip('"')
            if not text.isdigit():
                raise invalid("If-Match", 'send the order version as an entity tag, e.g. "3"')
            version = int(text)
        order = self.book.cancel(order_id, request.reason, version)
        self.dirty = True
        return order


def parse_bool(raw: str | None, name: str) -> bool:
    if raw is None:
        return False
    value = raw.lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise invalid(name, "must be true or false")


def non_empty(raw: str | None, name: str) -> str | None:
    if raw is None:
        return None
    if not raw or len(raw) > 64:
        raise invalid(name, "must be 1..64 characters")
    return raw

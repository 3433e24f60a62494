"""What a transport (REST or SOAP) offers the client: one exchange per call, canonical JSON values in and out.

Transports do not retry; they raise the typed errors and the client decides what is safe to repeat.
"""

from __future__ import annotations

from typing import Any, Protocol


class Wire(Protocol):
    supports_lookup: bool  # can orders be found by external_ref?

    def stock_page(self, query: dict[str, Any]) -> dict[str, Any]: ...

    def create_order(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]: ...

    def get_order(self, order_id: str) -> dict[str, Any]: ...

    def find_orders(self, external_ref: str, warehouse: str) -> list[dict[str, Any]]: ...

    def list_orders(self, query: dict[str, Any]) -> dict[str, Any]: ...

    def changes(self, cursor: str | None, limit: int) -> dict[str, Any]: ...

    def returns(self, cursor: str | None, limit: int) -> dict[str, Any]: ...

    def cancel(self, order_id: str, reason: str | None, if_match_version: int | None) -> dict[str, Any]: ...

    def close(self) -> None: ...

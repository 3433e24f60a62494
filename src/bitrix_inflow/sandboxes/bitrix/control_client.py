"""A small synchronous client for the ``/_sandbox/`` control API (tests and demos use it)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx


class ControlError(RuntimeError):
    """The control API refused a request; the message names the field and the fix."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ControlClient:
    def __init__(self, base_url: str, *, verify: str | Path | bool = True, timeout: float = 10.0) -> None:
        trust: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(verify)) if isinstance(verify, str | Path) else verify
        )
        self._http = httpx.Client(base_url=base_url.rstrip("/") + "/_sandbox", verify=trust, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, **query: Any) -> Any:
        response = self._http.request(method, path, json=body, params=query or None)
        if response.status_code >= 400:
            raise ControlError(
                f"{method} {path}: {response.status_code} {response.text}", response.status_code
            )
        return response.json()

    def info(self) -> dict[str, Any]:
        return dict(self._call("GET", "/"))

    def seed(self, **options: Any) -> dict[str, Any]:
        """Without ``products`` the shop loads the shared catalogue (``catalogue_csv`` text, ``catalogue_size``
        generated rows, or the sandbox catalogue file)."""
        return dict(self._call("POST", "/seed", options))

    def settings(self, **changes: Any) -> dict[str, Any]:
        """Shop settings; ``inventory_management=False`` switches store documents' conduct off."""
        if changes:
            return dict(self._call("POST", "/settings", changes))
        return dict(self._call("GET", "/settings"))

    def place_order(self, **order: Any) -> dict[str, Any]:
        """``lines=[{"productId": 1, "quantity": 2}]``, ``shipments=[{"deliveryId": 2, "lines": [0]}]``;
        without lines a random order is placed (``shipments=<n>`` then says how many)."""
        return dict(self._call("POST", "/orders", order))

    def stream_orders(
        self, *, count: int, rate_per_s: float, shipments: int = 1, seed: int = 1
    ) -> dict[str, Any]:
        body = {"count": count, "rate_per_s": rate_per_s, "shipments": shipments, "seed": seed}
        return dict(self._call("POST", "/orders/stream", body))

    def stream_status(self, stream_id: int) -> dict[str, Any]:
        return dict(self._call("GET", f"/orders/stream/{stream_id}"))

    def unreserve(self, order_id: int) -> dict[str, Any]:
        return dict(self._call("POST", f"/orders/{order_id}/unreserve"))

    def edit_line(self, order_id: int, basket_id: int, quantity: float) -> dict[str, Any]:
        """As a manager in the admin panel: the line's quantity changes, the order is saved."""
        return dict(
            self._call("POST", f"/orders/{order_id}/edit-line", {"basketId": basket_id, "quantity": quantity})
        )

    def entities(self, table: str, **match: Any) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/entities/{table}", **match))

    def entity(self, table: str, entity_id: Any) -> dict[str, Any]:
        return dict(self._call("GET", f"/entities/{table}/{entity_id}"))

    def add_status(self, status_id: str, name: str, *, kind: str = "O", sort: int = 100) -> dict[str, Any]:
        return dict(
            self._call("POST", "/statuses", {"id": status_id, "name": name, "type": kind, "sort": sort})
        )

    def add_delivery(self, name: str, xml_id: str = "") -> dict[str, Any]:
        return dict(self._call("POST", "/deliveries", {"name": name, "xmlId": xml_id}))

    def set_stock(self, product_id: int, store_id: int, amount: float) -> dict[str, Any]:
        body = {"productId": product_id, "storeId": store_id, "amount": amount}
        return dict(self._call("POST", "/stock", body))

    def faults(self, **changes: Any) -> dict[str, Any]:
        if changes:
            return dict(self._call("POST", "/faults", changes))
        return dict(self._call("GET", "/faults"))

    def holds(self) -> list[dict[str, Any]]:
        """The requests held by the ``hold_methods`` fault: ``id, method, commands, stage, state, finished``."""
        return list(self._call("GET", "/holds")["held"])

    def release_holds(self, *, drop: bool = False) -> int:
        """Let the held requests go on and switch holding off; ``drop``: those not run yet answer 500 unrun."""
        return int(self._call("POST", "/holds/release", {"drop": drop})["released"])

    def reset_limits(self) -> None:
        self._call("POST", "/limits/reset")

    def configure_events(
        self, *, handler_url: str | None, application_token: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"handler_url": handler_url}
        if application_token is not None:
            body["application_token"] = application_token
        return dict(self._call("POST", "/events", body))

    def event_log(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/events"))

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return dict(self._call("POST", "/clock/advance", {"seconds": seconds}))

    def issue_token(self, *, user_id: int | None = None, scopes: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if user_id is not None:
            body["userId"] = user_id
        if scopes is not None:
            body["scopes"] = scopes
        return dict(self._call("POST", "/oauth/tokens", body))

    def errors(self) -> list[dict[str, Any]]:
        """Unexpected exceptions the sandbox recorded (each answered 500): sandbox bugs, never client mistakes."""
        return list(self._call("GET", "/errors"))

    def clear_errors(self) -> list[dict[str, Any]]:
        """The recorded unexpected exceptions, forgotten by the sandbox."""
        return list(self._call("DELETE", "/errors"))

    def add_webhook(
        self, *, user_id: int, code: str, scopes: list[str], sale_access: str = "W"
    ) -> dict[str, Any]:
        """Another inbound webhook; ``sale_access`` is the user's sale-module right (D, R or W)."""
        body = {"userId": user_id, "code": code, "scopes": scopes, "saleAccess": sale_access}
        return dict(self._call("POST", "/webhooks", body))

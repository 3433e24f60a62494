"""REST transport (httpx): canonical values are renamed through the installation profile, out and in."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import httpx

from bitrix_inflow.adapters.inflow.http import HttpSession
from bitrix_inflow.adapters.inflow.mappers import wire_timestamp
from bitrix_inflow.adapters.inflow.problems import ContractViolationError, UnavailableError
from bitrix_inflow.adapters.inflow.profile import InstallationProfile

JSON_HEADERS = {"Accept": "application/json, application/problem+json"}


class RestWire:
    supports_lookup = True

    def __init__(self, http: HttpSession, profile: InstallationProfile) -> None:
        self._http = http
        self._profile = profile
        self._base = profile.rest.base_path
        self._paths = profile.rest.endpoints

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ plumbing
    def _url(self, template: str, order_id: str | None = None) -> str:
        path = template if order_id is None else template.replace("{id}", quote(order_id, safe=""))
        return self._base + path

    def _params(self, query: dict[str, Any]) -> dict[str, str]:
        params: dict[str, str] = {}
        for name, value in query.items():
            if value is None:
                continue
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, dt.datetime):
                text = wire_timestamp(value)
            else:
                text = str(value)
            params[self._profile.wire_name(name)] = text
        return params

    def _json(self, response: httpx.Response) -> Any:
        if not response.is_success:
            raise self._http.error_from(response)
        try:
            body = response.json()
        except ValueError as exc:
            # A 2xx with a body that does not parse was most likely cut off on the way: worth another try.
            raise UnavailableError(f"Inflow WMS sent an unreadable JSON body ({exc})") from None
        return self._profile.from_wire(body)

    def _object(self, response: httpx.Response) -> dict[str, Any]:
        body = self._json(response)
        if not isinstance(body, dict):
            raise ContractViolationError(
                f"Inflow WMS sent {type(body).__name__} where an object was expected"
            )
        return body

    # ------------------------------------------------------------------ operations
    def stock_page(self, query: dict[str, Any]) -> dict[str, Any]:
        response = self._http.send(
            "GET", self._url(self._paths.stock), params=self._params(query), headers=JSON_HEADERS
        )
        return self._object(response)

    def create_order(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        response = self._http.send(
            "POST",
            self._url(self._paths.orders),
            json=self._profile.to_wire(body),
            headers={**JSON_HEADERS, "Idempotency-Key": idempotency_key},
        )
        return self._object(response)

    def get_order(self, order_id: str) -> dict[str, Any]:
        response = self._http.send("GET", self._url(self._paths.order_status, order_id), headers=JSON_HEADERS)
        return self._object(response)

    def find_orders(self, external_ref: str, warehouse: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.list_orders(
            {"external_ref": external_ref, "warehouse": warehouse}
        )["items"]
        return items

    def list_orders(self, query: dict[str, Any]) -> dict[str, Any]:
        response = self._http.send(
            "GET", self._url(self._paths.orders), params=self._params(query), headers=JSON_HEADERS
        )
        page = self._object(response)
        if not isinstance(page.get("items"), list):
            raise ContractViolationError("Inflow WMS sent an order list without 'items'")
        return page

    def changes(self, cursor: str | None, limit: int) -> dict[str, Any]:
        response = self._http.send(
            "GET",
            self._url(self._paths.order_changes),
            params=self._params({"cursor": cursor, "limit": limit}),
            headers=JSON_HEADERS,
        )
        return self._object(response)

    def returns(self, cursor: str | None, limit: int) -> dict[str, Any]:
        response = self._http.send(
            "GET",
            self._url(self._paths.returns),
            params=self._params({"cursor": cursor, "limit": limit}),
            headers=JSON_HEADERS,
        )
        return self._object(response)

    def cancel(self, order_id: str, reason: str | None, if_match_version: int | None) -> dict[str, Any]:
        headers = dict(JSON_HEADERS)
        if if_match_version is not None:
            headers["If-Match"] = f'"{if_match_version}"'
        body = self._profile.to_wire({"reason": reason}) if reason is not None else None
        response = self._http.send(
            "PUT", self._url(self._paths.order_cancel, order_id), json=body, headers=headers
        )
        return self._object(response)

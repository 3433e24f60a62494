"""SOAP 1.1 transport: zeep reads the installation's WSDL and (de)serialises; httpx carries the bytes.

Sending through the shared ``HttpSession`` gives SOAP the same timeouts, credentials, 401 renewal and typed
network errors as REST. The SOAP interface is never renamed by a dialect (contract §10), so no profile mapping
applies here except the endpoint path. Marking codes travel as base64 of their UTF-8 bytes (GS is not XML).
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import zeep
import zeep.helpers
from lxml import etree

from bitrix_inflow.adapters.inflow.http import HttpSession
from bitrix_inflow.adapters.inflow.problems import (
    ContractViolationError,
    UnavailableError,
    UnsupportedOperationError,
    error_for_problem,
    error_for_status,
    parse_retry_after,
)
from bitrix_inflow.adapters.inflow.profile import InstallationProfile

NS = "urn:inflow:wms:v1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_INT_MEMBERS = {"status", "current_version"}
# Repeated XML elements carry singular names; the canonical JSON values use the plural.
_PLURALS = {
    "line": "lines",
    "package": "packages",
    "marking_code": "marking_codes",
    "item": "items",
}


class _WsdlLoader(zeep.Transport):
    """zeep fetches the WSDL through our httpx session instead of its own requests session."""

    def __init__(self, http: HttpSession) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._http = http

    def load(self, url: str) -> bytes:
        response = self._http.raw("GET", url)
        if response.status_code != 200:
            raise self._http.error_from(response)
        return response.content


def _canonical(value: Any) -> Any:
    """zeep's plain values -> canonical JSON shapes (plural names, codes as text, null for absent)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = _PLURALS.get(str(key), str(key))
            if key == "marking_code":
                out[name] = [
                    code.decode("utf-8") if isinstance(code, bytes) else str(code) for code in item or ()
                ]
            elif name != key and item is None:
                out[name] = []
            else:
                out[name] = _canonical(item)
        return out
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def _problem(element: etree._Element) -> dict[str, Any]:
    problem: dict[str, Any] = {"errors": [], "shortages": []}
    for child in element:
        name = str(etree.QName(child).localname)
        if name in ("error", "shortage"):
            entry = {str(etree.QName(part).localname): part.text or "" for part in child}
            problem["errors" if name == "error" else "shortages"].append(entry)
        elif name in _INT_MEMBERS:
            problem[name] = int(child.text or 0)
        else:
            problem[name] = child.text or ""
    return problem


class SoapWire:
    supports_lookup = False  # the SOAP interface has no lookup by external_ref (contract §11)

    def __init__(self, http: HttpSession, profile: InstallationProfile, base_url: str) -> None:
        self._http = http
        self._path = profile.soap.path
        self._wsdl_url = f"{base_url}{profile.soap.path}?wsdl"
        self._client: zeep.Client | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def _zeep(self) -> zeep.Client:
        # Loaded on first use, inside the caller's retry loop: a WSDL fetch that fails is retried like a call.
        with self._lock:
            if self._client is None:
                self._client = zeep.Client(wsdl=self._wsdl_url, transport=_WsdlLoader(self._http))  # type: ignore[no-untyped-call]
            return self._client

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        client = self._zeep()
        envelope = client.create_message(client.service, operation, **arguments)  # type: ignore[no-untyped-call]
        payload = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{NS}#{operation}"'}
        response = self._http.send("POST", self._path, content=payload, headers=headers)
        reply = self._envelope(response)
        fault = reply.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
        if fault is not None:
            raise self._fault_error(response, fault)
        if not response.is_success:
            raise self._http.error_from(response)
        binding = client.service._binding  # zeep offers no public handle for an operation's reply parser
        try:
            result = binding.get(operation).process_reply(reply)
        except (zeep.exceptions.Error, ValueError) as exc:
            raise ContractViolationError(
                f"Inflow WMS sent a {operation} reply the WSDL does not allow: {exc}"
            ) from None
        plain = zeep.helpers.serialize_object(result, target_cls=dict)  # type: ignore[no-untyped-call]
        if not isinstance(plain, dict):
            raise ContractViolationError(f"Inflow WMS sent an empty {operation} reply")
        return dict(_canonical(plain))

    def _envelope(self, response: httpx.Response) -> etree._Element:
        if "xml" not in response.headers.get("Content-Type", "xml"):
            # Not SOAP at all (a proxy page, a JSON problem from a gateway): judge by the HTTP status.
            raise (
                self._http.error_from(response)
                if not response.is_success
                else ContractViolationError("Inflow WMS answered a SOAP call without XML")
            )
        try:
            parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
            return etree.fromstring(response.content, parser=parser)
        except etree.XMLSyntaxError as exc:
            if not response.is_success:
                raise self._http.error_from(response) from None
            raise UnavailableError(f"Inflow WMS sent unreadable XML (cut off?): {exc}") from None

    def _fault_error(self, response: httpx.Response, fault: etree._Element) -> Exception:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        problem_element = fault.find(f"detail/{{{NS}}}problem")
        if problem_element is not None:
            problem = _problem(problem_element)
            return error_for_problem(int(problem.get("status") or response.status_code), problem, retry_after)
        code = fault.findtext("faultcode") or ""
        text = fault.findtext("faultstring") or ""
        status = response.status_code if response.status_code >= 400 else 500
        if code.endswith("Client") and status == 500:
            status = 400
        return error_for_status(status, f"SOAP fault {code}: {text}", retry_after)

    @staticmethod
    def _order(reply: dict[str, Any]) -> dict[str, Any]:
        # zeep unwraps a response element with a single child, so {order: {...}} arrives as the order itself.
        inner = reply.get("order") if "id" not in reply else None
        return dict(inner) if isinstance(inner, dict) else reply

    # ------------------------------------------------------------------ operations
    def stock_page(self, query: dict[str, Any]) -> dict[str, Any]:
        return self._call("GetStock", **{k: v for k, v in query.items() if v is not None})

    def create_order(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        lines = [
            {
                "line_no": line["line_no"],
                "sku": line["sku"],
                "qty": line["qty"],
                "marking_code": [code.encode("utf-8") for code in line.get("marking_codes", ())],
            }
            for line in body["lines"]
        ]
        fields = {k: v for k, v in body.items() if k != "lines"}
        return self._order(self._call("CreateOrder", idempotency_key=idempotency_key, line=lines, **fields))

    def get_order(self, order_id: str) -> dict[str, Any]:
        return self._order(self._call("GetOrderStatus", order_id=order_id))

    def find_orders(self, external_ref: str, warehouse: str) -> list[dict[str, Any]]:
        raise UnsupportedOperationError(
            "the Inflow SOAP interface has no lookup by external_ref; a repeated create is answered with the "
            "existing order instead (duplicate-external-ref)"
        )

    def list_orders(self, query: dict[str, Any]) -> dict[str, Any]:
        raise UnsupportedOperationError("the Inflow SOAP interface has no list of picking orders")

    def changes(self, cursor: str | None, limit: int) -> dict[str, Any]:
        page = self._call("GetChanges", cursor=cursor, limit=limit)
        page["items"] = page.pop("order", None) or []
        return page

    def returns(self, cursor: str | None, limit: int) -> dict[str, Any]:
        raise UnsupportedOperationError(
            "the Inflow SOAP interface has no returns feed: read returns over REST ([inflow] transport = rest)"
        )

    def cancel(self, order_id: str, reason: str | None, if_match_version: int | None) -> dict[str, Any]:
        return self._order(
            self._call("CancelOrder", order_id=order_id, reason=reason, if_match_version=if_match_version)
        )

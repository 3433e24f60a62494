"""SOAP 1.1 document/literal front end (``/soap/v1``, WSDL at ``?wsdl``), built on lxml by hand.

Element names equal the canonical JSON names; marking codes travel base64-encoded because XML 1.0 cannot carry
the GS character they contain.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from fastapi import FastAPI, Request, Response
from lxml import etree

from bitrix_inflow.sandboxes.wms.contract import contract_dir
from bitrix_inflow.sandboxes.wms.problems import Problem, invalid
from bitrix_inflow.sandboxes.wms.service import WmsService

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "urn:inflow:wms:v1"
WSDL_PLACEHOLDER = "http://localhost:8080/soap/v1"
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_STOCK_FIELDS = (
    "sku",
    "warehouse",
    "zone",
    "bin",
    "qty_available",
    "qty_on_hand",
    "qty_reserved",
    "qty_in_picking",
    "sellable",
    "updated_at",
)


def register_soap(app: FastAPI, service: WmsService) -> None:
    @app.get("/soap/v1")
    async def wsdl(request: Request) -> Response:
        if "wsdl" not in {k.lower() for k in request.query_params}:
            return fault_response(
                invalid("wsdl", "GET /soap/v1?wsdl returns the WSDL; operations are POSTed")
            )
        text = (contract_dir() / "inflow.wsdl").read_text(encoding="utf-8")
        return Response(text.replace(WSDL_PLACEHOLDER, f"{request.base_url}soap/v1"), media_type="text/xml")

    @app.post("/soap/v1")
    async def endpoint(request: Request) -> Response:
        try:
            operation = _operation(await request.body())
            name = etree.QName(operation).localname
            handler = _HANDLERS.get(name)
            if handler is None:
                raise invalid("Body", f"unknown operation {name}; use one of " + ", ".join(sorted(_HANDLERS)))
            principal = service.auth.authenticate(
                request.headers.get("authorization"), request.headers.get("x-api-key")
            )
            response = await handler(service, operation, principal, request)
            return _envelope_response(response, 200)
        except Problem as problem:
            return fault_response(problem)


def _operation(raw: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        raise invalid("Envelope", f"malformed XML: {exc}") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise invalid("Envelope", "expected a SOAP 1.1 Envelope")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    children = [c for c in body if isinstance(c.tag, str)] if body is not None else []
    if len(children) != 1 or etree.QName(children[0]).namespace != NS:
        raise invalid("Body", f"the Body must hold exactly one request element of namespace {NS}")
    return children[0]


# ----------------------------------------------------------------- reading requests
def _text(parent: etree._Element, name: str) -> str | None:
    child = parent.find(f"{{{NS}}}{name}")
    return child.text or "" if child is not None else None


def _int(parent: etree._Element, name: str, where: str) -> int | None:
    raw = _text(parent, name)
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        raise invalid(where, "must be an integer") from None


def _codes(parent: etree._Element, where: str) -> list[str]:
    codes = []
    for j, child in enumerate(parent.findall(f"{{{NS}}}marking_code")):
        try:
            codes.append(base64.b64decode(child.text or "", validate=True).decode())
        except (binascii.Error, UnicodeDecodeError):
            raise invalid(f"{where}.marking_codes[{j}]", "must be base64 of the code's UTF-8 bytes") from None
    return codes


async def _get_stock(
    service: WmsService, op: etree._Element, principal: str, request: Request
) -> etree._Element:
    query = {
        n: _text(op, n) for n in ("warehouse", "sku", "available_only", "updated_since", "cursor", "limit")
    }
    page = service.get_stock({k: v for k, v in query.items() if v is not None})
    out = etree.Element(f"{{{NS}}}GetStockResponse", nsmap={"inf": NS})
    for row in page["items"]:
        item = _sub(out, "item")
        for name in _STOCK_FIELDS:
            if name in row:
                _sub(item, name, row[name])
    if page["next_cursor"] is not None:
        _sub(out, "next_cursor", page["next_cursor"])
    return out


async def _create_order(
    service: WmsService, op: etree._Element, principal: str, request: Request
) -> etree._Element:
    body: dict[str, Any] = {}
    for name in ("external_ref", "customer_order_ref", "warehouse", "zone", "carrier"):
        value = _text(op, name)
        if value is not None:
            body[name] = value
    lines = []
    for i, el in enumerate(op.findall(f"{{{NS}}}line")):
        line: dict[str, Any] = {
            "line_no": _int(el, "line_no", f"lines[{i}].line_no"),
            "sku": _text(el, "sku"),
            "qty": _int(el, "qty", f"lines[{i}].qty"),
        }
        codes = _codes(el, f"lines[{i}]")
        if codes:
            line["marking_codes"] = codes
        lines.append({k: v for k, v in line.items() if v is not None})
    body["lines"] = lines
    key = _text(op, "idempotency_key") or request.headers.get("idempotency-key")
    stored, _ = await service.create_order(principal, body, key)
    out = etree.Element(f"{{{NS}}}CreateOrderResponse", nsmap={"inf": NS})
    _order(out, stored.document)
    return out


async def _get_order_status(
    service: WmsService, op: etree._Element, principal: str, request: Request
) -> etree._Element:
    order_id = _text(op, "order_id")
    if not order_id:
        raise invalid("order_id", "required")
    out = etree.Element(f"{{{NS}}}GetOrderStatusResponse", nsmap={"inf": NS})
    _order(out, service.get_order(order_id).document())
    return out


async def _get_changes(
    service: WmsService, op: etree._Element, principal: str, request: Request
) -> etree._Element:
    page = service.changes(_text(op, "cursor"), _text(op, "limit"))
    out = etree.Element(f"{{{NS}}}GetChangesResponse", nsmap={"inf": NS})
    for doc in page["items"]:
        _order(out, doc)
    _sub(out, "next_cursor", page["next_cursor"])
    _sub(out, "has_more", page["has_more"])
    return out


async def _cancel_order(
    service: WmsService, op: etree._Element, principal: str, request: Request
) -> etree._Element:
    order_id = _text(op, "order_id")
    if not order_id:
        raise invalid("order_id", "required")
    reason = _text(op, "reason")
    version = _int(op, "if_match_version", "if_match_version")
    order = service.cancel(
        order_id,
        {"reason": reason} if reason is not None else None,
        str(version) if version is not None else None,
    )
    out = etree.Element(f"{{{NS}}}CancelOrderResponse", nsmap={"inf": NS})
    _order(out, order.document())
    return out


_HANDLERS = {
    "GetStockRequest": _get_stock,
    "CreateOrderRequest": _create_order,
    "GetOrderStatusRequest": _get_order_status,
    "GetChangesRequest": _get_changes,
    "CancelOrderRequest": _cancel_order,
}


# ----------------------------------------------------------------- writing responses
def _sub(parent: etree._Element, name: str, value: Any = None) -> etree._Element:
    child = etree.SubElement(parent, f"{{{NS}}}{name}")
    if isinstance(value, bool):
        child.text = "true" if value else "false"
    elif value is not None:
        child.text = _NOT_XML.sub("\ufffd", str(value))
    return child


def _b64(code: str) -> str:
    return base64.b64encode(code.encode()).decode()


def _order(parent: etree._Element, doc: dict[str, Any]) -> None:
    el = _sub(parent, "order")
    for name in (
        "id",
        "external_ref",
        "customer_order_ref",
        "warehouse",
        "zone",
        "carrier",
        "status",
        "version",
        "change_seq",
        "created_at",
        "updated_at",
    ):
        if doc[name] is not None:
            _sub(el, name, doc[name])
    for line in doc["lines"]:
        line_el = _sub(el, "line")
        for name in ("line_no", "sku", "qty", "qty_picked", "marked"):
            _sub(line_el, name, line[name])
        for pick in line["picked_from"]:
            pick_el = _sub(line_el, "picked_from")
            for name in ("bin", "zone", "qty"):
                _sub(pick_el, name, pick[name])
        for code in line["marking_codes"]:
            _sub(line_el, "marking_code", _b64(code))
    if doc["error"]:
        err = _sub(el, "error")
        for name in ("code", "sku", "bin", "line_no", "reason"):
            if doc["error"][name] is not None:
                _sub(err, name, doc["error"][name])
    for package in doc["packages"]:
        pkg = _sub(el, "package")
        _sub(pkg, "sscc", package["sscc"])
        for pline in package["lines"]:
            pl = _sub(pkg, "line")
            _sub(pl, "line_no", pline["line_no"])
            _sub(pl, "qty", pline["qty"])
            for code in pline["marking_codes"]:
                _sub(pl, "marking_code", _b64(code))
    if doc["tracking"]:
        tr = _sub(el, "tracking")
        _sub(tr, "carrier", doc["tracking"]["carrier"])
        _sub(tr, "number", doc["tracking"]["number"])
    if doc.get("cancel_reason") is not None:
        _sub(el, "cancel_reason", doc["cancel_reason"])


def _envelope(payload: etree._Element) -> bytes:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "inf": NS})
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    body.append(payload)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def _envelope_response(
    payload: etree._Element, status: int, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        _envelope(payload), status_code=status, media_type="text/xml; charset=utf-8", headers=headers
    )


def fault_response(problem: Problem) -> Response:
    fault = etree.Element(f"{{{SOAP_ENV}}}Fault", nsmap={"soap": SOAP_ENV})
    code = etree.SubElement(fault, "faultcode")
    code.text = "soap:Client" if problem.status < 500 else "soap:Server"
    string = etree.SubElement(fault, "faultstring")
    string.text = _NOT_XML.sub("\ufffd", f"{problem.title}: {problem.detail}")
    detail = etree.SubElement(fault, "detail")
    doc = problem.document()
    prob = etree.SubElement(detail, f"{{{NS}}}problem", nsmap={"inf": NS})
    for name in ("type", "title", "status", "detail"):
        _sub(prob, name, doc[name])
    for err in doc["errors"]:
        err_el = _sub(prob, "error")
        _sub(err_el, "field", err["field"])
        _sub(err_el, "problem", err["problem"])
    for name in ("existing_order_id", "order_status", "current_version"):
        if name in doc:
            _sub(prob, name, doc[name])
    for shortage in doc.get("shortages", []):
        sh = _sub(prob, "shortage")
        for name in ("sku", "requested", "available"):
            _sub(sh, name, shortage[name])
    status = problem.status if problem.status in (401, 429) else 500
    return _envelope_response(fault, status, dict(problem.headers))

"""Answers a real installation (or a proxy in front of it) may give that the sandbox never does.

A scripted HTTP server on loopback plays the installation; the client must map every answer to the right
typed error, ignore unknown response fields, and never crash with a raw KeyError or JSONDecodeError.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bitrix_inflow.adapters.inflow.models import NewOrderLine, NewPickingOrder
from bitrix_inflow.adapters.inflow.problems import ContractViolationError, DuplicateExternalRefError
from bitrix_inflow.errors import PermanentError, RateLimitedError, TransientError

STAMP = "2026-11-27T01:02:03.123456Z"
ORDER = {
    "id": "PO-1", "external_ref": "B-1-1", "customer_order_ref": "1", "warehouse": "MAIN", "zone": None,
    "carrier": None, "status": "NEW", "version": 1, "change_seq": 1, "created_at": STAMP, "updated_at": STAMP,
    "lines": [], "error": None, "packages": [], "tracking": None,
}  # fmt: skip


class Scripted:
    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], bytes]] = []
        self.requests: list[str] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                scripted.requests.append(f"{self.command} {self.path}")
                status, headers, body = scripted.script.pop(0) if scripted.script else (500, {}, b"")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def json(self, status: int, body: Any, **headers: str) -> None:
        ctype = "application/problem+json" if status >= 400 else "application/json"
        self.script.append((status, {"Content-Type": ctype, **headers}, json.dumps(body).encode()))

    def raw(self, status: int, body: bytes, ctype: str = "text/html", **headers: str) -> None:
        self.script.append((status, {"Content-Type": ctype, **headers}, body))


class _Running:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url


@pytest.fixture
def wms() -> Iterator[Scripted]:
    scripted = Scripted()
    yield scripted
    scripted.server.shutdown()
    scripted.server.server_close()


@pytest.fixture
def client(wms, make_client):
    return make_client(
        _Running(wms.base_url), retry={"attempts": 2, "base_delay": 0.01, "max_retry_after": 5}
    )


def test_unknown_response_fields_are_ignored(wms, client):
    wms.json(200, {**ORDER, "priority": "high", "lines": [], "future_field": {"a": 1}})
    assert client.get_order("PO-1").id == "PO-1"


def test_proxy_html_502_is_transient(wms, client):
    wms.raw(502, b"<html>Bad Gateway</html>")
    wms.raw(502, b"<html>Bad Gateway</html>")
    with pytest.raises(TransientError, match="502"):
        client.get_order("PO-1")
    assert len(wms.requests) == 2


def test_cut_off_json_is_transient_and_retried(wms, client):
    wms.raw(200, b'{"items": [{"sku": "A", "wareh', ctype="application/json")
    wms.json(200, {"items": [], "next_cursor": None})
    assert client.available_stock_page().items == ()
    assert len(wms.requests) == 2


def test_row_missing_a_required_field_is_a_contract_violation(wms, client):
    wms.json(
        200,
        {
            "items": [{"sku": "A", "warehouse": "MAIN", "updated_at": "2026-11-27T00:00:00Z"}],
            "next_cursor": None,
        },
    )
    with pytest.raises(ContractViolationError, match="qty_available"):
        client.available_stock_page()


@pytest.mark.parametrize("sku", [12345, None, ""])
def test_a_sku_that_is_not_text_is_a_contract_violation(wms, client, sku):
    row = {"sku": sku, "warehouse": "MAIN", "qty_available": 3, "updated_at": "2026-11-27T00:00:00Z"}
    wms.json(200, {"items": [row], "next_cursor": None})
    with pytest.raises(ContractViolationError, match="sku must be a non-empty string"):
        client.available_stock_page()


def test_unknown_status_is_a_contract_violation(wms, client):
    wms.json(200, {**ORDER, "status": "ON_HOLD"})
    with pytest.raises(ContractViolationError, match="ON_HOLD"):
        client.get_order("PO-1")


def test_unknown_problem_type_falls_back_on_the_status(wms, client):
    wms.json(
        418, {"type": "urn:other:teapot", "title": "Teapot", "status": 418, "detail": "no", "errors": []}
    )
    with pytest.raises(PermanentError, match="418"):
        client.get_order("PO-1")


def test_503_retry_after_is_honoured(wms, client, sleeps):
    problem = {
        "type": "urn:inflow:problem:unavailable",
        "title": "x",
        "status": 503,
        "detail": "x",
        "errors": [],
    }
    wms.json(503, problem, **{"Retry-After": "2"})
    wms.json(200, ORDER)
    assert client.get_order("PO-1").id == "PO-1"
    assert sleeps.waits and sleeps.waits[0] >= 2


def test_429_without_retry_after_backs_off(wms, client, sleeps):
    problem = {
        "type": "urn:inflow:problem:rate-limited",
        "title": "x",
        "status": 429,
        "detail": "x",
        "errors": [],
    }
    wms.json(429, problem)
    wms.json(429, problem)
    with pytest.raises(RateLimitedError) as raised:
        client.get_order("PO-1")
    assert raised.value.retry_after is None and len(sleeps.waits) == 1


def test_order_ids_are_escaped_in_paths(wms, client):
    wms.json(200, {**ORDER, "id": "PO/1?x"})
    assert client.get_order("PO/1?x").id == "PO/1?x"
    assert wms.requests == ["GET /api/v1/orders/PO%2F1%3Fx/status"]


def test_soap_fault_without_problem_detail(wms, make_client):
    wsdl = (Path(__file__).resolve().parents[3] / "contracts" / "inflow-v1" / "inflow.wsdl").read_bytes()
    soap = make_client(_Running(wms.base_url), transport="soap", retry={"attempts": 1})
    fault = (
        b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b"<soap:Fault><faultcode>soap:Client</faultcode><faultstring>bad thing</faultstring></soap:Fault>"
        b"</soap:Body></soap:Envelope>"
    )
    wms.raw(200, wsdl, ctype="text/xml")
    wms.raw(500, fault, ctype="text/xml")
    with pytest.raises(PermanentError, match="bad thing"):
        soap.get_order("PO-1")
    wms.raw(500, fault.replace(b"soap:Client", b"soap:Server"), ctype="text/xml")
    with pytest.raises(TransientError, match="bad thing"):
        soap.get_order("PO-1")


@pytest.mark.parametrize("value", ["inf", "1e400", "nan", "-5"])
def test_a_retry_after_that_is_not_a_finite_wait_is_ignored(wms, client, sleeps, value):
    problem = {
        "type": "urn:inflow:problem:rate-limited",
        "title": "x",
        "status": 429,
        "detail": "x",
        "errors": [],
    }
    wms.json(429, problem, **{"Retry-After": value})
    wms.json(429, problem, **{"Retry-After": value})
    with pytest.raises(RateLimitedError) as raised:
        client.get_order("PO-1")
    assert raised.value.retry_after is None and len(sleeps.waits) == 1


# ---------------------------------------------------------------------- a lookup that ignores its filter

OTHER_REF = {**ORDER, "id": "PO-7", "external_ref": "B-7-1"}  # another order of the shop
OTHER_WAREHOUSE = {**ORDER, "id": "PO-8", "warehouse": "SPB"}  # the same reference, unique per warehouse only
OURS = {**ORDER, "id": "PO-9"}
DUPLICATE = {
    "type": "urn:inflow:problem:duplicate-external-ref",
    "title": "x",
    "status": 409,
    "detail": "external_ref 'B-1-1' is already used",
    "errors": [],
}  # no existing_order_id: the client has to look the order up
UNAVAILABLE = {
    "type": "urn:inflow:problem:unavailable",
    "title": "x",
    "status": 503,
    "detail": "x",
    "errors": [],
}


def new_order() -> NewPickingOrder:
    return NewPickingOrder(
        external_ref="B-1-1", customer_order_ref="1", lines=(NewOrderLine(line_no=1, sku="A", qty=1),)
    )


def test_a_lookup_that_ignores_its_filter_finds_only_our_order(wms, client):
    """An installation (or a proxy) that drops the query string answers with every order: the client must not
    take someone else's order, or ours from another warehouse, for the one it asked for."""
    wms.json(200, {"items": [OTHER_REF, OTHER_WAREHOUSE]})
    assert client.find_by_external_ref("B-1-1") is None
    wms.json(200, {"items": [OTHER_REF, OTHER_WAREHOUSE, OURS]})
    found = client.find_by_external_ref("B-1-1")
    assert found is not None and found.id == "PO-9"
    assert wms.requests == ["GET /api/v1/orders?external_ref=B-1-1&warehouse=MAIN"] * 2


def test_a_retried_create_adopts_no_order_that_the_lookup_let_through(wms, client):
    """The first create failed; before repeating it the client looks for an order its first attempt may have
    created. Orders that are not ours must not stop the repeat, or the picking order would never exist."""
    wms.json(503, UNAVAILABLE)
    wms.json(200, {"items": [OTHER_REF, OTHER_WAREHOUSE]})
    wms.json(201, OURS)
    created = client.create_picking_order(new_order())
    assert (created.id, created.external_ref, created.warehouse) == ("PO-9", "B-1-1", "MAIN")
    assert [r.split("?")[0] for r in wms.requests] == [
        "POST /api/v1/orders",
        "GET /api/v1/orders",
        "POST /api/v1/orders",
    ]


def test_a_duplicate_create_adopts_only_its_own_order(wms, client):
    wms.json(409, DUPLICATE)
    wms.json(200, {"items": [OTHER_REF, OTHER_WAREHOUSE, OURS]})
    assert client.create_picking_order(new_order()).id == "PO-9"
    # The WMS says the reference is taken but the lookup shows only other orders: raise, adopt nothing.
    wms.json(409, DUPLICATE)
    wms.json(200, {"items": [OTHER_REF, OTHER_WAREHOUSE]})
    with pytest.raises(DuplicateExternalRefError):
        client.create_picking_order(new_order())

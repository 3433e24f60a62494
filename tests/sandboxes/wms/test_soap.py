"""The SOAP interface, exercised with zeep loading the served WSDL: every operation and the faults."""

from __future__ import annotations

import base64

import httpx
import pytest
import requests
import zeep
from biip.gs1_messages import GS1Message
from zeep.exceptions import Fault
from zeep.transports import Transport

NS = "{urn:inflow:wms:v1}"


@pytest.fixture
def soap(wms):
    session = requests.Session()
    session.headers["X-API-Key"] = "sandbox-key"
    client = zeep.Client(wms.running.base_url + "/soap/v1?wsdl", transport=Transport(session=session))
    yield client.service
    session.close()


def problem_of(fault):
    detail = fault.detail.find(f"{NS}problem")
    return {
        "type": detail.findtext(f"{NS}type"),
        "status": int(detail.findtext(f"{NS}status")),
        "fields": [e.findtext(f"{NS}field") for e in detail.findall(f"{NS}error")],
        "existing_order_id": detail.findtext(f"{NS}existing_order_id"),
        "order_status": detail.findtext(f"{NS}order_status"),
        "shortages": [
            (s.findtext(f"{NS}sku"), int(s.findtext(f"{NS}requested")))
            for s in detail.findall(f"{NS}shortage")
        ],
    }


def test_wsdl_is_served_with_the_real_address(wms):
    text = httpx.get(wms.running.base_url + "/soap/v1?wsdl").text
    assert f'location="{wms.running.base_url}/soap/v1"' in text


def test_get_stock_pages_like_rest(wms, soap):
    first = soap.GetStock(warehouse="MAIN", available_only=True, limit=7)
    assert len(first.item) == 7 and first.next_cursor
    rest = wms.api.get("/stock", params={"warehouse": "MAIN", "available_only": "true", "limit": 7}).json()
    assert [(i.sku, i.qty_available) for i in first.item] == [
        (r["sku"], r["qty_available"]) for r in rest["items"]
    ]
    seen = [i.sku for i in first.item]
    cursor = first.next_cursor
    while cursor:
        page = soap.GetStock(warehouse="MAIN", available_only=True, limit=7, cursor=cursor)
        seen += [i.sku for i in page.item]
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == 20
    bins = soap.GetStock(limit=2)
    assert bins.item[0].bin and bins.item[0].qty_on_hand is not None and bins.item[0].qty_available is None


def test_create_status_changes_cancel(wms, soap):
    marked = wms.sku(marked=True)
    given = f"01{marked['gtin']}215SoapCode0001\x1d91EE07\x1d92" + "B" * 44
    order = soap.CreateOrder(
        idempotency_key="soap-key-1",
        external_ref="S-1-1",
        customer_order_ref="1",
        warehouse="MAIN",
        line=[{"line_no": 1, "sku": marked["sku"], "qty": 2, "marking_code": [given.encode()]}],
    )
    assert order.status == "NEW" and order.version == 1 and order.line[0].qty == 2
    replay = soap.CreateOrder(
        idempotency_key="soap-key-1",
        external_ref="S-1-1",
        customer_order_ref="1",
        warehouse="MAIN",
        line=[{"line_no": 1, "sku": marked["sku"], "qty": 2, "marking_code": [given.encode()]}],
    )
    assert replay.id == order.id

    wms.advance(order.id, "PACKING")
    status = soap.GetOrderStatus(order_id=order.id)
    assert status.status == "PACKING"
    codes = [c.decode() for c in status.line[0].marking_code]
    assert codes[0] == given and len(codes) == 2
    assert {e.ai.ai for e in GS1Message.parse(codes[1]).element_strings} == {"01", "21", "91", "92"}
    assert len(status.package) == 1 and len(status.package[0].sscc) == 18
    assert status.line[0].picked_from[0].qty >= 1

    changes = soap.GetChanges(limit=10)
    assert [o.id for o in changes.order] == [order.id] and changes.has_more is False
    again = soap.GetChanges(cursor=changes.next_cursor)
    assert again.order == [] and again.next_cursor == changes.next_cursor

    other = soap.CreateOrder(
        external_ref="S-2-1",
        customer_order_ref="2",
        warehouse="MAIN",
        line=[{"line_no": 1, "sku": wms.sku(marked=False)["sku"], "qty": 1}],
    )
    cancelled = soap.CancelOrder(order_id=other.id, reason="soap test", if_match_version=1)
    assert cancelled.status == "CANCELLED" and cancelled.cancel_reason == "soap test"
    assert base64.b64encode(given.encode())  # codes travel base64-encoded on the wire


def test_faults_carry_the_same_error_kinds(wms, soap):
    plain = wms.sku(marked=False)["sku"]
    order = soap.CreateOrder(
        external_ref="S-1-1",
        customer_order_ref="1",
        warehouse="MAIN",
        line=[{"line_no": 1, "sku": plain, "qty": 1}],
    )
    with pytest.raises(Fault) as dup:
        soap.CreateOrder(
            external_ref="S-1-1",
            customer_order_ref="1",
            warehouse="MAIN",
            line=[{"line_no": 1, "sku": plain, "qty": 1}],
        )
    assert problem_of(dup.value)["type"].endswith("duplicate-external-ref")
    assert problem_of(dup.value)["existing_order_id"] == order.id
    assert dup.value.code.endswith("Client")

    with pytest.raises(Fault) as short:
        soap.CreateOrder(
            external_ref="S-2-1",
            customer_order_ref="2",
            warehouse="MAIN",
            line=[{"line_no": 1, "sku": plain, "qty": 99999}],
        )
    assert problem_of(short.value)["shortages"] == [(plain, 99999)]

    with pytest.raises(Fault) as negative:
        soap.CreateOrder(
            external_ref="S-3-1",
            customer_order_ref="3",
            warehouse="MAIN",
            line=[{"line_no": 1, "sku": plain, "qty": -1}],
        )
    assert problem_of(negative.value)["fields"] == ["lines[0].qty"]

    with pytest.raises(Fault) as missing:
        soap.GetOrderStatus(order_id="PO-404")
    assert problem_of(missing.value)["type"].endswith("not-found")

    wms.advance(order.id, "PICKED")
    with pytest.raises(Fault) as rejected:
        soap.CancelOrder(order_id=order.id)
    assert problem_of(rejected.value)["order_status"] == "PICKED"

    with pytest.raises(Fault) as bad_cursor:
        soap.GetChanges(cursor="garbage")
    assert problem_of(bad_cursor.value)["fields"] == ["cursor"]
    assert len(wms.orders()) == 1


def test_soap_needs_credentials_and_well_formed_xml(wms):
    envelope = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:i="urn:inflow:wms:v1">'
        "<soap:Body><i:GetChangesRequest/></soap:Body></soap:Envelope>"
    )
    anonymous = httpx.post(
        wms.running.base_url + "/soap/v1", content=envelope, headers={"Content-Type": "text/xml"}
    )
    assert anonymous.status_code == 401 and b"urn:inflow:problem:unauthorized" in anonymous.content
    broken = httpx.post(
        wms.running.base_url + "/soap/v1", content=b"<soap:Envelope", headers={"X-API-Key": "sandbox-key"}
    )
    assert broken.status_code == 500 and b"soap:Client" in broken.content
    unknown = envelope.replace("GetChangesRequest", "DropTablesRequest")
    response = httpx.post(
        wms.running.base_url + "/soap/v1", content=unknown, headers={"X-API-Key": "sandbox-key"}
    )
    assert b"unknown operation DropTablesRequest" in response.content
    entity = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + envelope.replace(
        "<i:GetChangesRequest/>",
        "<i:GetOrderStatusRequest><i:order_id>&e;</i:order_id></i:GetOrderStatusRequest>",
    )
    xxe = httpx.post(wms.running.base_url + "/soap/v1", content=entity, headers={"X-API-Key": "sandbox-key"})
    assert b"root:" not in xxe.content

"""The marking ledger page: units found by code (as scanned), package or order, exported as CSV and JSON; a filter
that is not what it says is a 400 naming the field."""

from __future__ import annotations

import csv
import io
import json

from bitrix_inflow.store import marking as ledger

from .conftest import CLOCK, Site

GS = "\x1d"
GTIN = "04620070000043"
SSCC = "346200700000000013"


def code(serial: str) -> str:
    return f"01{GTIN}21{serial}{GS}91EE06{GS}92" + "B" * 88


def plant(site: Site) -> None:
    units = [
        ledger.Unit(
            identity=f"01{GTIN}21{serial}",
            code=code(serial),
            gtin=GTIN,
            bitrix_order_id=order_id,
            picking_ref=f"B-{order_id}-1",
            shipment_id=order_id * 10,
            basket_id=order_id * 100,
            sscc=SSCC if order_id == 501 else None,
        )
        for order_id, serial in ((501, "5AbCdEfGh0001"), (501, "5AbCdEfGh0002"), (502, "5AbCdEfGh0003"))
    ]
    with site.engine.begin() as conn:
        assert not ledger.record_shipped(conn, "default", units, now=CLOCK.now()).sold_elsewhere


def test_units_are_found_by_code_package_and_order_and_exported(site: Site) -> None:
    plant(site)
    with site.signed_in() as client:
        scanned = "]d2" + code("5AbCdEfGh0003")  # as a scanner with an AIM prefix types it
        by_code = client.get("/console/marking", params={"code": scanned}).text
        assert by_code.count("<code>01") == 1 and "5AbCdEfGh0003" in by_code
        by_sscc = client.get("/console/marking", params={"sscc": f"(00){SSCC}"}).text
        assert by_sscc.count("<code>01") == 2
        by_order = client.get("/console/marking", params={"order": "502"}).text
        assert by_order.count("<code>01") == 1
        exported = client.get("/console/marking/export", params={"format": "csv", "order": "501"})
        assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert len(rows) == 2 and {r["code"] for r in rows} == {code("5AbCdEfGh0001"), code("5AbCdEfGh0002")}
        as_json = client.get("/console/marking/export", params={"format": "json"})
        assert json.loads(as_json.text)["count"] == 3


def test_a_filter_that_is_not_what_it_says_names_the_field(site: Site) -> None:
    with site.signed_in() as client:
        page = client.get("/console/marking", params={"gtin": "12ab"})
        assert page.status_code == 400 and "gtin: &#39;12ab&#39; is not a GTIN" in page.text
        export = client.get("/console/marking/export", params={"format": "xml"})
        assert export.status_code == 400

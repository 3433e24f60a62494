"""Bad input gets a precise 4xx problem naming the field, never a 500, and changes no state."""

from __future__ import annotations

import pytest

GOOD_LINE = {"line_no": 1, "sku": "SKU-000002", "qty": 1}


def order_body(**overrides):
    body = {
        "external_ref": "B-1-1",
        "customer_order_ref": "1",
        "warehouse": "MAIN",
        "lines": [dict(GOOD_LINE)],
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (order_body(lines=[{**GOOD_LINE, "qty": -3}]), "lines[0].qty", "greater than or equal to 1"),
        (order_body(lines=[{**GOOD_LINE, "qty": 0}]), "lines[0].qty", "greater than or equal to 1"),
        (order_body(lines=[{**GOOD_LINE, "qty": "2"}]), "lines[0].qty", "valid integer"),
        (order_body(lines=[{**GOOD_LINE, "qty": 1.5}]), "lines[0].qty", "valid integer"),
        (order_body(lines=[]), "lines", "at least 1"),
        (order_body(lines=[GOOD_LINE, GOOD_LINE]), "lines[1].line_no", "unique"),
        (order_body(external_ref="has space"), "external_ref", "pattern"),
        (order_body(warehouse=""), "warehouse", "at least 1"),
        (order_body(colour="red"), "colour", "unknown field"),
        ({k: v for k, v in order_body().items() if k != "lines"}, "lines", "required field is missing"),
        ([1, 2], "body", "JSON object"),
    ],
)
def test_invalid_order_bodies(wms, body, field, words):
    before = wms.snapshot()
    response = wms.api.post("/orders", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:inflow:problem:validation"
    assert problem["status"] == 400
    assert any(e["field"] == field and words in e["problem"] for e in problem["errors"]), problem
    assert wms.snapshot() == before


def test_malformed_json_names_the_position(wms):
    before = wms.snapshot()
    response = wms.api.post(
        "/orders", content=b'{"external_ref": "B-1-1",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "body" and "malformed JSON at line 1 column" in error["problem"]
    assert wms.snapshot() == before


def test_wrong_media_type_is_415(wms):
    response = wms.api.post("/orders", content=b"external_ref=B-1-1", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["errors"] == [
        {"field": "Content-Type", "problem": "send the body as application/json"}
    ]


def test_unknown_order_and_unknown_path(wms):
    before = wms.snapshot()
    cancel = wms.api.put("/orders/PO-99999999/cancel")
    assert cancel.status_code == 404 and cancel.json()["type"] == "urn:inflow:problem:not-found"
    assert wms.api.get("/orders/PO-99999999/status").status_code == 404
    nowhere = wms.api.get("/nowhere")
    assert nowhere.status_code == 404 and nowhere.headers["content-type"] == "application/problem+json"
    wrong_method = wms.api.delete("/stock")
    assert (
        wrong_method.status_code == 405
        and wrong_method.json()["type"] == "urn:inflow:problem:method-not-allowed"
    )
    assert wms.snapshot() == before


def test_bad_cancel_bodies_and_headers(wms):
    order = wms.create_ok([GOOD_LINE])
    extra = wms.api.put(f"/orders/{order['id']}/cancel", json={"reason": "x", "force": True})
    assert extra.status_code == 400 and extra.json()["errors"][0]["field"] == "force"
    bad_if_match = wms.api.put(f"/orders/{order['id']}/cancel", headers={"If-Match": "yesterday"})
    assert bad_if_match.status_code == 400 and bad_if_match.json()["errors"][0]["field"] == "If-Match"
    assert wms.api.get(f"/orders/{order['id']}").json()["status"] == "NEW"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"available_only": "maybe"}, "available_only"),
        ({"warehouse": ""}, "warehouse"),
    ],
)
def test_bad_stock_queries(wms, params, field):
    response = wms.api.get("/stock", params=params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_bad_order_queries(wms):
    assert wms.api.get("/orders", params={"status": "LOST"}).json()["errors"][0]["field"] == "status"
    assert wms.api.get("/orders/changes", params={"cursor": "%%%"}).status_code == 400
    assert wms.api.get("/orders/changes", params={"limit": "5000"}).status_code == 400


def test_control_api_rejects_bad_input_too(wms):
    assert wms.ctl.post("/seed", json={"skus": -1, "bins": 10}).status_code == 400
    assert (
        wms.ctl.post(
            "/stock", json={"warehouse": "MAIN", "sku": "SKU-000002", "bin": "??", "delta": 1}
        ).status_code
        == 400
    )
    removal = wms.ctl.post("/stock", json={"warehouse": "MAIN", "sku": "SKU-000002", "delta": -100000})
    assert removal.status_code == 400 and removal.json()["errors"][0]["field"] == "delta"
    order = wms.create_ok([GOOD_LINE])
    assert wms.ctl.post(f"/orders/{order['id']}/advance", json={"to": "FLYING"}).status_code == 400
    wms.api.put(f"/orders/{order['id']}/cancel").raise_for_status()
    stuck = wms.ctl.post(f"/orders/{order['id']}/advance", json={"to": "SHIPPED"})
    assert stuck.status_code == 400 and "CANCELLED" in stuck.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        # A new SKU is not created when the rest of the request is refused.
        ({"sku": "NEW-1", "gtin": "04600000000015", "bin": "??", "delta": 1}, "bin"),
        # Marking codes are built from the GTIN and the group, so both must be real.
        ({"sku": "NEW-2", "gtin": "abc", "delta": 1}, "gtin"),
        ({"sku": "NEW-3", "gtin": "04600000000011", "delta": 1}, "gtin"),
        ({"sku": "NEW-4", "gtin": "04600000000015", "marking_group": "0000", "delta": 1}, "marking_group"),
        # Removing from a bin or SKU that holds nothing does not leave an empty slot behind.
        ({"sku": "NEW-5", "gtin": "04600000000015", "delta": -1}, "delta"),
        ({"sku": "SKU-000002", "bin": "B-0999-999", "delta": -1}, "delta"),
        # A typo in the warehouse does not conjure up a new warehouse.
        ({"warehouse": "MIAN", "sku": "SKU-000002", "delta": 1}, "warehouse"),
    ],
)
def test_refused_stock_adjustments_change_nothing(wms, body, field):
    before = {**wms.snapshot(), "skus": wms.skus()}
    response = wms.ctl.post("/stock", json={"warehouse": "MAIN", **body})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field, response.text
    assert {**wms.snapshot(), "skus": wms.skus()} == before


def test_a_new_sku_with_a_valid_gtin_is_added(wms):
    response = wms.ctl.post(
        "/stock",
        json={
            "warehouse": "MAIN",
            "sku": "NEW-9",
            "gtin": "04600000000015",
            "marking_group": "5408",
            "delta": 3,
        },
    )
    assert response.status_code == 200, response.text
    assert {"sku": "NEW-9", "gtin": "04600000000015", "marked": True, "marking_group": "5408"} in wms.skus()
    assert wms.stock_of("NEW-9")["qty_available"] == 3


@pytest.mark.parametrize("setting", ["seed", "latency_ms", "hang_seconds", "error_rate", "retry_after"])
@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity"])
def test_fault_settings_refuse_numbers_that_are_not_finite(wms, setting, number):
    # 1e400 is valid JSON and decodes to INF; Python's decoder also takes NaN and Infinity.
    before = wms.ctl.get("/faults").json()
    response = wms.ctl.put(
        "/faults", content=f'{{"{setting}": {number}}}'.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == setting
    assert wms.ctl.get("/faults").json() == before

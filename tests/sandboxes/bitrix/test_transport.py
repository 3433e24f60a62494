"""URL forms, parameter transport and the success envelope (reference §1.1-1.3)."""

from __future__ import annotations

import ssl
from datetime import datetime
from typing import Any

import httpx

from bitrix_inflow.sandboxes.bitrix import RunningSandbox


def test_envelope_has_result_total_and_a_realistic_time_object(rest: Any) -> None:
    body = rest.ok("sale.status.list", {"select": ["id", "type"]})
    assert set(body) == {"result", "total", "time"}
    time = body["time"]
    assert set(time) == {"start", "finish", "duration", "processing", "date_start", "date_finish"}
    assert time["finish"] >= time["start"]
    assert time["duration"] >= 0
    for key in ("date_start", "date_finish"):
        moment = datetime.fromisoformat(time[key])
        assert moment.utcoffset() is not None
        assert moment.microsecond == 0
    assert abs(datetime.fromisoformat(time["date_start"]).timestamp() - time["start"]) < 1.5


def test_operating_keys_only_in_cloud_mode(rest: Any, cloud_rest: Any) -> None:
    assert "operating" not in rest.ok("sale.status.list")["time"]
    cloud_time = cloud_rest.ok("sale.status.list")["time"]
    assert cloud_time["operating"] >= 0
    assert cloud_time["operating_reset_at"] > cloud_time["start"]


def test_headers_and_php_style_json(shop: RunningSandbox, rest: Any, place: Any) -> None:
    order = place(shop, (1, 1))
    response = rest.post("sale.payment.list", {"filter": {"orderId": order["id"]}})
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["access-control-allow-origin"] == "*"
    assert f'"{order["id"]}\\/1"' in response.text  # json_encode escapes slashes: "392\/1"
    assert response.json()["result"]["payments"][0]["accountNumber"] == f"{order['id']}/1"


def test_url_forms_are_equivalent(shop: RunningSandbox, rest: Any, place: Any) -> None:
    base = shop.webhook_url
    expected = rest.ok("sale.status.list")["result"]
    for suffix in (
        "sale.status.list.json",
        "sale.status.list/",
        "SALE.Status.LIST",
        "sale.status.list.json/",
    ):
        response = rest.http.post(base + suffix, json={})
        assert response.status_code == 200, suffix
        assert response.json()["result"] == expected


def test_get_form_multipart_and_json_transport_are_equivalent(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    placed = place(shop, (2, 1))
    place(shop, (3, 1))
    url = shop.webhook_url + "sale.order.list"
    query = f"filter[%3Eid]={placed['id'] - 1}&filter[%3C%3Did]={placed['id']}&select[]=id&select[]=statusId"
    by_get = rest.http.get(f"{url}?{query}").json()["result"]
    by_form = rest.http.post(
        url, content=query, headers={"Content-Type": "application/x-www-form-urlencoded"}
    ).json()["result"]
    by_multipart = rest.http.post(
        url,
        files={
            "filter[>id]": (None, str(placed["id"] - 1)),
            "filter[<=id]": (None, str(placed["id"])),
            "select[]": (None, "id"),
        },
    ).json()["result"]
    by_json = rest.http.post(
        url, json={"filter": {">id": placed["id"] - 1, "<=id": placed["id"]}, "select": ["id", "statusId"]}
    ).json()["result"]
    assert by_get == by_form == by_json == {"orders": [{"id": placed["id"], "statusId": "N"}]}
    assert by_multipart == {"orders": [{"id": placed["id"]}]}


def test_body_overrides_query_and_plus_is_a_space(shop: RunningSandbox, rest: Any, place: Any) -> None:
    order = place(shop, (4, 1))
    url = shop.webhook_url + "sale.order.update?id=999999"
    response = rest.http.post(
        url,
        content=f"id={order['id']}&fields[comments]=picked+by+WMS%20now",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["order"]["comments"] == "picked by WMS now"


def test_json_body_is_only_read_with_the_json_content_type(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    url = shop.webhook_url + "sale.order.get"
    as_text = rest.http.post(url, content=b'{"id": 1}', headers={"Content-Type": "text/plain"})
    assert as_text.status_code == 400
    assert as_text.json()["error"] == 100  # the body was read as a query string, so there is no id
    broken = rest.http.post(url, content=b'{"id": 1', headers={"Content-Type": "application/json"})
    assert broken.json() == {"error": 100, "error_description": "Could not find value for parameter {id}"}


def test_oauth_url_form_with_auth_parameter(shop: RunningSandbox) -> None:
    token = shop.control.issue_token()
    with httpx.Client(verify=ssl.create_default_context(cafile=str(shop.ca_file))) as http:
        by_query = http.get(f"{shop.base_url}/rest/sale.status.list.json?auth={token['access_token']}")
        by_json = http.post(f"{shop.base_url}/rest/sale.status.list", json={"auth": token["access_token"]})
    assert by_query.status_code == by_json.status_code == 200
    assert by_query.json()["result"] == by_json.json()["result"]
    assert token["expires_in"] == 3600


def test_probe_methods(rest: Any) -> None:
    # An on-premise shop with the companion module (bitrix-module/) has its scope too.
    assert rest.ok("scope")["result"] == ["sale", "catalog", "im", "bitrixinflow"]
    assert rest.ok("method.get", {"name": "sale.order.list"})["result"] == {
        "isExisting": True,
        "isAvailable": True,
    }
    assert rest.ok("method.get", {"name": "tasks.task.add"})["result"] == {
        "isExisting": False,
        "isAvailable": False,
    }
    methods = rest.ok("methods", {"scope": "sale"})["result"]
    assert "sale.shipment.update" in methods
    assert "catalog.product.list" not in methods
    assert datetime.fromisoformat(rest.ok("server.time")["result"]).utcoffset() is not None
    assert rest.ok("profile")["result"]["ADMIN"] is True

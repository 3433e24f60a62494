"""Bad requests get the documented error, never a 500 (reference §1.4, §1.9)."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox


def test_unknown_method(rest: Any) -> None:
    body = rest.error("sale.order.lst", status=404)
    assert body == {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}


def test_bitrix24_only_methods_are_missing_on_site_management(rest: Any) -> None:
    assert (
        rest.error("tasks.task.add", {"fields": {"TITLE": "x"}}, status=404)["error"]
        == "ERROR_METHOD_NOT_FOUND"
    )
    assert rest.error("crm.timeline.comment.add", status=404)["error"] == "ERROR_METHOD_NOT_FOUND"


def test_bad_webhook_code_and_user(shop: RunningSandbox, rest: Any) -> None:
    wrong_code = shop.webhook_url.replace(shop.webhook.split("/")[1], "wrongcode")
    response = rest.post("sale.order.list", base=wrong_code)
    assert response.status_code == 403  # the docs' status; auth_error_statuses="source" sends 401
    assert response.json() == {
        "error": "INVALID_CREDENTIALS",
        "error_description": "Invalid request credentials",
    }
    wrong_user = f"{shop.base_url}/rest/7/{shop.webhook.split('/')[1]}/"
    assert rest.post("sale.order.list", base=wrong_user).json()["error"] == "INVALID_CREDENTIALS"


def test_oauth_without_auth_and_with_unknown_token(shop: RunningSandbox, rest: Any) -> None:
    response = rest.post("sale.order.list", base=f"{shop.base_url}/rest/")
    assert response.status_code == 401
    assert response.json() == {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}
    response = rest.post("sale.order.list", {"auth": "0" * 64}, base=f"{shop.base_url}/rest/")
    assert response.json()["error"] == "INVALID_CREDENTIALS"


def test_missing_scope(shop: RunningSandbox, rest: Any) -> None:
    hook = shop.control.add_webhook(user_id=3, code="catalogonly1", scopes=["catalog"])
    base = shop.base_url + hook["path"]
    response = rest.post("sale.order.list", base=base)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert rest.post("catalog.store.list", base=base).status_code == 200
    in_batch = rest.post("batch", {"cmd": {"o": "sale.order.list"}}, base=base).json()
    assert in_batch["result"]["result_error"]["o"]["error"] == "insufficient_scope"


def test_sale_module_rights_are_checked_by_the_controller(
    shop: RunningSandbox, rest: Any, place: Any
) -> None:
    order = place(shop, (1, 1))
    reader = (
        shop.base_url
        + shop.control.add_webhook(user_id=8, code="readeronly8", scopes=["sale"], sale_access="R")["path"]
    )
    assert rest.post("sale.order.get", {"id": order["id"]}, base=reader).status_code == 200
    denied = rest.post("sale.order.update", {"id": order["id"], "fields": {"statusId": "P"}}, base=reader)
    assert denied.status_code == 400
    assert denied.json() == {"error": 200040300020, "error_description": "Access denied"}
    nobody = (
        shop.base_url
        + shop.control.add_webhook(user_id=9, code="norights9", scopes=["sale"], sale_access="D")["path"]
    )
    assert rest.post("sale.order.list", base=nobody).json()["error"] == 200040300010
    assert rest.post("server.time", base=nobody).status_code == 200


def test_expired_token_then_refresh(shop: RunningSandbox, rest: Any) -> None:
    oauth_base = f"{shop.base_url}/rest/"
    token = shop.control.issue_token()
    assert rest.post("sale.status.list", {"auth": token["access_token"]}, base=oauth_base).status_code == 200
    shop.control.advance_clock(3601)
    try:
        expired = rest.post("sale.status.list", {"auth": token["access_token"]}, base=oauth_base)
        assert expired.status_code == 401
        assert expired.json() == {
            "error": "expired_token",
            "error_description": "The access token provided has expired.",
        }
        config = shop.sandbox.config
        refreshed = rest.http.get(
            f"{shop.base_url}/oauth/token/",
            params={
                "grant_type": "refresh_token",
                "client_id": config.oauth_client_id,
                "client_secret": config.oauth_client_secret,
                "refresh_token": token["refresh_token"],
            },
        )
        assert refreshed.status_code == 200
        fresh = refreshed.json()
        assert fresh["expires_in"] == 3600
        assert fresh["refresh_token"] != token["refresh_token"]
        again = rest.post("sale.status.list", {"auth": fresh["access_token"]}, base=oauth_base)
        assert again.status_code == 200
        reused = rest.http.get(
            f"{shop.base_url}/oauth/token/",
            params={
                "grant_type": "refresh_token",
                "client_id": config.oauth_client_id,
                "client_secret": config.oauth_client_secret,
                "refresh_token": token["refresh_token"],
            },
        )
        assert reused.status_code == 400
        assert reused.json()["error"] == "invalid_grant"
        wrong_secret = rest.http.get(
            f"{shop.base_url}/oauth/token/",
            params={"grant_type": "refresh_token", "client_id": config.oauth_client_id, "client_secret": "x"},
        )
        assert wrong_secret.json()["error"] == "invalid_client"
    finally:
        shop.control.advance_clock(-3601)


def test_https_required_for_webhooks_when_configured() -> None:
    with running_bitrix_sandbox(SandboxConfig(require_https=True), https=False, products=2) as shop:
        response = httpx.post(shop.webhook_url + "sale.status.list", json={})
    assert response.status_code == 400
    assert response.json() == {"error": "INVALID_REQUEST", "error_description": "Https required."}


def test_source_statuses_for_auth_errors() -> None:
    config = SandboxConfig(require_https=True, auth_error_statuses="source")
    with running_bitrix_sandbox(config, https=False, products=2) as shop:
        https_required = httpx.post(shop.webhook_url + "server.time", json={})
        bad_token = httpx.post(f"{shop.base_url}/rest/server.time", json={"auth": "nope"})
    assert https_required.status_code == 401
    assert https_required.json()["error"] == "INVALID_REQUEST"
    assert bad_token.status_code == 401
    assert bad_token.json()["error"] == "INVALID_CREDENTIALS"


def test_config_refuses_bad_values() -> None:
    for bad in ({"profile": "crm"}, {"mode": "hybrid"}, {"no_count_total": "none"}, {"token_ttl_s": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SandboxConfig(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "params", "expected"),
    [
        (
            "sale.order.get",
            {},
            {"error": 100, "error_description": "Could not find value for parameter {id}"},
        ),
        (
            "sale.order.update",
            {"id": 1},
            {"error": 100, "error_description": "Could not find value for parameter {fields}"},
        ),
        (
            "sale.order.get",
            {"id": 987654},
            {"error": 200540400001, "error_description": "order is not exists"},
        ),
        (
            "sale.shipment.get",
            {"id": 987654},
            {"error": 201140400001, "error_description": "shipment is not exists"},
        ),
        (
            "sale.shipmentitem.get",
            {"id": 987654},
            {"error": 201240400001, "error_description": "shipment item is not exists"},
        ),
        (
            "sale.shipment.update",
            {"id": 1, "fields": {"trackingNumber": "RU1"}},
            {"error": 0, "error_description": "Required fields: allowDelivery, deducted, deliveryId"},
        ),
        (
            "sale.shipmentitem.update",
            {"id": 1, "fields": {"xmlId": "x"}},
            {"error": 0, "error_description": "Required fields: quantity"},
        ),
        (
            "sale.shipmentpropertyvalue.modify",
            {},
            {"error": 100, "error_description": "Could not find value for parameter {fields}"},
        ),
        (
            "catalog.product.list",
            {"select": ["id", "iblockId"]},
            {"error": 0, "error_description": "Required filter fields: iblockId"},
        ),
        (
            "catalog.product.list",
            {"filter": {"iblockId": 23}, "select": ["name"]},
            {"error": 0, "error_description": "Required select fields: id, iblockId"},
        ),
        (
            "im.notify.system.add",
            {"MESSAGE": "hi"},
            {"error": "USER_ID_EMPTY", "error_description": "User ID can't be empty"},
        ),
        (
            "im.notify.system.add",
            {"USER_ID": 1},
            {"error": "MESSAGE_EMPTY", "error_description": "Message can't be empty"},
        ),
    ],
)
def test_documented_method_errors(
    rest: Any, method: str, params: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert rest.error(method, params, status=400) == expected


GARBAGE: list[Any] = [
    None,
    "",
    "x",
    -1,
    1.5,
    [],
    {},
    [1, 2],
    {"a": {"b": [None]}},
    "$result[x]",
    "ID",
    True,
]


@pytest.mark.parametrize("value", GARBAGE, ids=repr)
def test_garbage_parameters_never_give_a_500(shop: RunningSandbox, rest: Any, value: Any) -> None:
    methods = [*rest.ok("methods", {"full": "true"})["result"], "batch"]
    assert len(methods) > 40
    for method in methods:
        for params in (
            {"id": value, "fields": value},
            {"filter": value, "select": value, "order": value, "start": value},
            {
                "id": 1,
                "fields": {"statusId": value, "quantity": value, "deducted": value, "allowDelivery": value},
            },
            {"cmd": value, "halt": value},
            {"fields": {"shipment": {"id": value, "propertyValues": value}}},
        ):
            response = rest.post(method, params)
            assert response.status_code < 500, (method, params, response.text)
            body = response.json()
            assert ("error" in body) != ("result" in body), body


def test_odd_paths_never_give_a_500(shop: RunningSandbox, rest: Any) -> None:
    code = shop.webhook.split("/")[1]
    for path in (
        "/rest/",
        "/rest/1/",
        f"/rest/1/{code}/",
        f"/rest/1/{code}/%00",
        f"/rest/1/{code}/..",
        f"/rest/1/{code}/" + "x" * 5000,
        f"/rest/1/{code}/sale.order.list/extra",
        "/rest/%ff/%fe/sale.order.list",
        "/rest/sale.order.list.json?auth[]=1",
        "/oauth/token/?grant_type[]=x",
    ):
        response = rest.http.get(shop.base_url + path)
        assert response.status_code < 500, (path, response.text)
        assert "error" in response.json()


def test_unparseable_bodies_never_give_a_500(shop: RunningSandbox, rest: Any) -> None:
    url = shop.webhook_url + "sale.order.list"
    for content, kind in (
        (b"\xff\xfe\x00", "application/json"),
        (b"[1,2,3]", "application/json"),
        (b"a[b]]=1&[]=2&c[=3&%zz=4", "application/x-www-form-urlencoded"),
        (b"\x00\x01", "application/octet-stream"),
    ):
        response = rest.http.post(url, content=content, headers={"Content-Type": kind})
        assert response.status_code == 200, response.text


def test_control_api_rejects_bad_input_with_field_and_fix(shop: RunningSandbox) -> None:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(shop.ca_file))) as http:
        cases = [
            ("/_sandbox/orders", {"lines": [{"productId": 99999, "quantity": 1}]}, "lines[0].productId"),
            ("/_sandbox/orders", {"lines": [{"productId": 1, "quantity": -2}]}, "lines[0].quantity"),
            ("/_sandbox/orders", {"lines": "nope"}, "lines"),
            ("/_sandbox/seed", {"products": "many"}, "products"),
            ("/_sandbox/seed", {"products": 10**7}, "products"),
            # bool("false") is True: a string here would silently switch inventory management on.
            ("/_sandbox/seed", {"inventory_management": "false"}, "inventory_management"),
            ("/_sandbox/orders/stream", {"count": 0}, "count"),
            ("/_sandbox/faults", {"limiterr": True}, "limiterr"),
            ("/_sandbox/faults", {"error_500_rate": 2}, "error_500_rate"),
            ("/_sandbox/faults", {"limiter": "yes"}, "limiter"),
            ("/_sandbox/faults", {"bucket_size": 0}, "bucket_size"),
            ("/_sandbox/statuses", {"id": "TOOLONG"}, "id"),
            ("/_sandbox/stock", {"productId": 1, "storeId": 99, "amount": 1}, "storeId"),
            ("/_sandbox/webhooks", {"code": "abc1", "saleAccess": "X"}, "saleAccess"),
        ]
        for path, body, field in cases:
            response = http.post(shop.base_url + path, json=body)
            assert response.status_code == 400, (path, response.text)
            answer = response.json()
            assert answer["field"] == field
            assert answer["fix"]
        broken = http.post(
            shop.base_url + "/_sandbox/orders", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert broken.status_code == 400
        assert http.get(shop.base_url + "/_sandbox/entities/nope").json()["field"] == "table"


def test_a_bad_order_placement_is_refused_whole_and_leaves_the_shop_intact(
    shop: RunningSandbox, rest: Any
) -> None:
    line = [{"productId": 1, "quantity": 1}]
    shop.control.place_order(lines=line)  # the shop holds an order, whichever tests ran before on this worker
    cases = [
        ({"lines": [{"productId": 1, "quantity": "nan"}]}, "lines[0].quantity"),
        ({"lines": [{"productId": 1, "quantity": "inf"}]}, "lines[0].quantity"),
        ({"lines": line, "shipments": [{"lines": None}]}, "shipments[0].lines"),
        ({"lines": line, "shipments": [{"lines": 1}]}, "shipments[0].lines"),
        ({"lines": line, "shipments": [{"lines": [None]}]}, "shipments[0].lines[0]"),
        ({"lines": line, "shipments": [{"lines": [1.5]}]}, "shipments[0].lines[0]"),
        ({"lines": line, "shipments": [{"lines": [5]}]}, "shipments[0].lines[0]"),
        ({"lines": line, "shipments": [{"deliveryId": "nan"}]}, "shipments[0].deliveryId"),
        ({"lines": line, "shipments": [{"deliveryId": [1]}]}, "shipments[0].deliveryId"),
        ({"lines": line, "storeId": -1}, "storeId"),
        ({"lines": line, "storeId": "nan"}, "storeId"),
        ({"lines": line, "xmlId": ["x"]}, "xmlId"),
    ]
    before = {table: len(shop.control.entities(table)) for table in ("orders", "basketItems", "shipments")}
    reserved = rest.ok("catalog.storeproduct.list", {"filter": {"productId": 1}})["result"]
    with httpx.Client(verify=ssl.create_default_context(cafile=str(shop.ca_file))) as http:
        for body, field in cases:
            response = http.post(shop.base_url + "/_sandbox/orders", json=body)
            assert response.status_code == 400, (body, response.text)
            assert response.json()["field"] == field, (body, response.text)
            assert response.json()["fix"]
    after = {table: len(shop.control.entities(table)) for table in ("orders", "basketItems", "shipments")}
    assert after == before
    assert rest.ok("catalog.storeproduct.list", {"filter": {"productId": 1}})["result"] == reserved
    listed = rest.ok("sale.order.list", {"select": ["id"], "order": {"id": "desc"}, "start": -1})
    newest = max(row["id"] for row in shop.control.entities("orders"))
    assert listed["result"]["orders"][0]["id"] == newest


def test_non_finite_numbers_are_refused_by_the_control_api(shop: RunningSandbox) -> None:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(shop.ca_file))) as http:
        for path, body, field in (
            ("/_sandbox/stock", {"productId": 1, "storeId": 1, "amount": "nan"}, "amount"),
            ("/_sandbox/clock/advance", {"seconds": "inf"}, "seconds"),
            ("/_sandbox/orders/stream", {"count": 1, "rate_per_s": "nan"}, "rate_per_s"),
        ):
            response = http.post(shop.base_url + path, json=body)
            assert response.status_code == 400, (path, response.text)
            assert response.json()["field"] == field
    assert abs(shop.control.advance_clock(0)["offset_s"]) < 10**6


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/_sandbox/orders", b'{"lines": [{"productId": 1e400}]}', "lines[0].productId"),
        ("/_sandbox/orders/stream", b'{"count": 1e400}', "count"),
        ("/_sandbox/faults", b'{"slow_ms": 1e400}', "slow_ms"),
        ("/_sandbox/faults", b'{"drain_per_s": 1e400}', "drain_per_s"),
    ],
)
def test_json_numbers_beyond_a_double_are_refused_by_the_control_api(
    shop: RunningSandbox, path: str, body: bytes, field: str
) -> None:
    # 1e400 is valid JSON and decodes to INF; int(INF) raises OverflowError.
    before = shop.control.faults()
    with httpx.Client(verify=ssl.create_default_context(cafile=str(shop.ca_file))) as http:
        response = http.post(shop.base_url + path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert shop.control.faults() == before


def test_a_bad_event_handler_setting_is_refused_and_events_keep_flowing(shop: RunningSandbox) -> None:
    # A handler URL that is not a string used to be stored and then killed the delivery thread, so every
    # later event was silently lost.
    before = shop.control.info()["application_token"]
    with httpx.Client(verify=ssl.create_default_context(cafile=str(shop.ca_file))) as http:
        for body, field in (
            ({"handler_url": 5}, "handler_url"),
            ({"handler_url": ["https://h.example/"]}, "handler_url"),
            ({"handler_url": "handler.example/bitrix"}, "handler_url"),
            ({"handler_url": "http://[::1/bitrix"}, "handler_url"),
            ({"application_token": None}, "application_token"),
            ({"application_token": ""}, "application_token"),
        ):
            response = http.post(shop.base_url + "/_sandbox/events", json=body)
            assert response.status_code == 400, (body, response.text)
            assert response.json()["field"] == field
    assert shop.control.info()["application_token"] == before
    order = shop.control.place_order(lines=[{"productId": 1, "quantity": 1}])
    logged = {(d["event"], d["order_id"]) for d in shop.control.event_log()}
    assert ("ONSALEORDERSAVED", order["id"]) in logged

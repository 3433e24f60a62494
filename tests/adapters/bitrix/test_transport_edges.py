"""Transport edge cases the sandbox shop does not produce (it is a faithful Bitrix, not a broken proxy):
``Retry-After`` headers, waits beyond the cap, HTML error pages, redirects, a closed port.

A scripted HTTPS server on loopback answers each request with the next canned reply.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from bitrix_inflow.adapters.bitrix import (
    BitrixGateway,
    BitrixSettings,
    EntityNotFoundError,
    MethodNotFoundError,
    NoticeKind,
    OrderWatermark,
    StatusChange,
    StatusOutcome,
    StatusOverruledError,
    StatusRequest,
    error_map,
)
from bitrix_inflow.errors import (
    AuthError,
    IntegrationError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    TransientError,
    ValidationError,
)

from .scripted import STATUSES, TIME, FakeClock, Reply, Script, scripted, server

__all__ = ["scripted", "server"]  # fixtures, used by name


def test_retry_after_header_is_honoured(scripted: tuple[BitrixGateway, Script, FakeClock]) -> None:
    gateway, script, clock = scripted
    script.replies[:] = [Reply(429, {"error": "OPERATION_TIME_LIMIT"}, {"Retry-After": "12"})]
    assert gateway.statuses()[0].id == "N"
    assert len(clock.slept) == 1
    assert 12.0 <= clock.slept[0] <= 12.5
    assert script.seen == ["/rest/1/code/sale.status.list.json"] * 2


def test_a_wait_beyond_the_cap_goes_to_the_job_engine(
    scripted: tuple[BitrixGateway, Script, FakeClock],
) -> None:
    gateway, script, clock = scripted
    script.replies[:] = [Reply(503, {"error": "QUERY_LIMIT_EXCEEDED"}, {"Retry-After": "600"})]
    with pytest.raises(RateLimitedError) as caught:
        gateway.statuses()
    assert caught.value.retry_after == 600.0
    assert clock.slept == [] and len(script.seen) == 1


def test_exponential_back_off_without_a_server_wait(
    scripted: tuple[BitrixGateway, Script, FakeClock],
) -> None:
    gateway, script, clock = scripted
    script.replies[:] = [Reply(503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many"})] * 4
    with pytest.raises(RateLimitedError):
        gateway.statuses()
    assert len(script.seen) == 4
    steps = [0.5, 1.0, 2.0]
    assert all(step / 2 <= slept <= step for slept, step in zip(clock.slept, steps, strict=True))


def test_html_error_page_from_a_proxy_is_transient(scripted: tuple[BitrixGateway, Script, FakeClock]) -> None:
    gateway, script, _ = scripted
    script.replies[:] = [Reply(502, "<html><body>Bad Gateway</body></html>")]
    assert gateway.statuses()
    script.replies[:] = [Reply(502, "<html>Bad Gateway</html>")] * 4
    with pytest.raises(TransientError, match="502"):
        gateway.statuses()


def test_a_web_page_instead_of_rest_names_the_url(scripted: tuple[BitrixGateway, Script, FakeClock]) -> None:
    gateway, script, _ = scripted
    script.replies[:] = [Reply(200, "<html>Welcome to our shop</html>")]
    with pytest.raises(PermanentError, match="URL"):
        gateway.statuses()
    assert len(script.seen) == 1


def test_a_redirect_is_an_auth_error_naming_the_host(
    scripted: tuple[BitrixGateway, Script, FakeClock],
) -> None:
    gateway, script, _ = scripted
    script.replies[:] = [Reply(302, "", {"Location": "https://elsewhere.example/rest/1/code/"})] * 3
    with pytest.raises(AuthError, match="host"):
        gateway.statuses()


def test_malformed_rows_are_permanent_errors_naming_the_method(
    scripted: tuple[BitrixGateway, Script, FakeClock],
) -> None:
    gateway, script, _ = scripted
    script.replies[:] = [Reply(200, {"result": {"statuses": [{"id": 5}]}, "time": TIME})]
    with pytest.raises(PermanentError, match=r"sale\.status\.list"):
        gateway.statuses()
    script.replies[:] = [Reply(200, {"result": {"orders": "nope"}, "time": TIME})]
    with pytest.raises(PermanentError):
        gateway.set_order_status(1, "P", allowed_from={"N"})


def test_closed_port_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = FakeClock()
    settings = BitrixSettings(
        webhook_url=f"https://127.0.0.1:{port}/rest/1/topsecret42/", max_attempts=2, connect_timeout=2
    )
    gateway = BitrixGateway(settings, clock=clock)
    with gateway, pytest.raises(TransientError, match="network") as caught:
        gateway.statuses()
    assert len(clock.slept) == 1
    # requests quotes the URL, which holds the webhook code: it must not reach logs or job records.
    assert "topsecret42" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_basket_and_shipment_lines_are_listed_when_a_server_does_not_nest_them(
    scripted: tuple[BitrixGateway, Script, FakeClock],
) -> None:
    gateway, script, _ = scripted
    # An older server's sale.order.get: no basketItems, shipments without their lines.
    order = {"id": 9, "statusId": "N", "propertyValues": [], "shipments": [{"id": "3", "system": "N"}]}
    got = {
        "result": {
            "result": {"o9": {"order": order}},
            "result_error": [],
            "result_total": [],
            "result_next": [],
        },
        "time": TIME,
    }
    lists = {
        "result": {
            "result": {
                "basket": {"basketItems": [{"id": "2", "orderId": "9", "productId": "4", "quantity": "1"}]},
                "shipments": {
                    "shipments": [
                        {"id": "3", "orderId": "9", "allowDelivery": "N", "deducted": "N", "deliveryId": "1"}
                    ]
                },
            },
            "result_error": [],
            "result_total": {"basket": 1, "shipments": 1},
            "result_next": [],
        },
        "time": TIME,
    }
    items = {
        "result": {"shipmentItems": [{"id": "7", "orderDeliveryId": "3", "basketId": "2", "quantity": "1"}]},
        "total": 1,
        "time": TIME,
    }
    script.replies[:] = [Reply(200, got), Reply(200, lists), Reply(200, items)]
    bundle = gateway.get_order(9)
    assert script.seen == [
        "/rest/1/code/batch.json",
        "/rest/1/code/batch.json",
        "/rest/1/code/sale.shipmentitem.list.json",
    ]
    assert [line.product_id for line in bundle.basket] == [4]
    assert [(line.id, line.basket_id) for line in bundle.shipments[0].lines] == [(7, 2)]


@pytest.mark.parametrize(
    ("watermark", "max_pages", "field"),
    [
        (OrderWatermark(), 0, "max_pages"),
        (OrderWatermark(last_id=-1), 5, "watermark.last_id"),
        (OrderWatermark(updated_at=datetime(2024, 1, 1)), 5, "watermark.updated_at"),
    ],
)
def test_poll_refuses_bad_watermarks(
    scripted: tuple[BitrixGateway, Script, FakeClock], watermark: OrderWatermark, max_pages: int, field: str
) -> None:
    gateway, script, _ = scripted
    with pytest.raises(ValidationError) as caught:
        gateway.orders_changed_since(watermark, max_pages=max_pages)
    assert caught.value.field == field
    assert script.seen == []


SHIPMENT_338 = {
    "id": 338,
    "orderId": 236,
    "allowDelivery": "Y",
    "deducted": "N",
    "deliveryId": "7",
    "statusId": "DT",
    "basePriceDelivery": 350.5,
    "priceDelivery": 300,
}


def test_shipment_update_sends_y_n_strings_and_echoes_the_required_fields(
    scripted: tuple[BitrixGateway, Script, FakeClock],
) -> None:
    gateway, script, _ = scripted
    current = SHIPMENT_338
    updated = {**current, "deducted": "Y", "trackingNumber": "RU1"}
    script.replies[:] = [
        Reply(200, {"result": {"shipment": current}, "time": TIME}),
        Reply(200, {"result": {"shipment": updated}, "time": TIME}),
    ]
    shipment = gateway.update_shipment(338, tracking_number="RU1", deducted=True)
    # The status and both prices echoed as they were: the real update resets what it is not sent.
    assert script.bodies[1] == {
        "id": 338,
        "fields": {
            "allowDelivery": "Y",
            "deducted": "Y",
            "deliveryId": 7,
            "statusId": "DT",
            "basePriceDelivery": 350.5,
            "priceDelivery": 300,
            "trackingNumber": "RU1",
        },
    }
    assert shipment.deducted is True and shipment.delivery_id == 7


def test_a_shipment_answer_without_its_prices_is_not_written_back(
    scripted: tuple[BitrixGateway, Script, FakeClock],
) -> None:
    gateway, script, _ = scripted
    current = {k: v for k, v in SHIPMENT_338.items() if k not in ("basePriceDelivery", "priceDelivery")}
    script.replies[:] = [Reply(200, {"result": {"shipment": current}, "time": TIME})]
    with pytest.raises(PermanentError, match="basePriceDelivery"):
        gateway.update_shipment(338, tracking_number="RU1")
    assert len(script.seen) == 1, "no update was sent"


def test_a_404_page_without_a_rest_answer_is_not_a_missing_entity(
    scripted: tuple[BitrixGateway, Script, FakeClock],
) -> None:
    # A web server's own 404 (REST path wrong, module behind a proxy) says nothing about the order asked
    # for; reading it as NotFoundError would let a flow conclude the order was deleted.
    gateway, script, _ = scripted
    script.replies[:] = [Reply(404, "<html>404 Not Found</html>")] * 2
    with pytest.raises(PermanentError, match="URL") as caught:
        gateway.get_order(5)
    assert not isinstance(caught.value, NotFoundError)
    assert len(script.seen) == 1


def test_retry_after_on_an_html_429_is_honoured(scripted: tuple[BitrixGateway, Script, FakeClock]) -> None:
    gateway, script, clock = scripted
    script.replies[:] = [Reply(429, "<html>Too Many Requests</html>", {"Retry-After": "7"})]
    assert gateway.statuses()[0].id == "N"
    assert len(clock.slept) == 1
    assert 7.0 <= clock.slept[0] <= 7.5


def test_operating_reset_is_read_on_our_clock_not_the_shops(
    scripted: tuple[BitrixGateway, Script, FakeClock],
) -> None:
    # The shop's clock is days off ours; only "300 s after its finish" matters.
    gateway, script, clock = scripted
    skewed = {**TIME, "finish": 1000.0, "operating_reset_at": 1300, "operating": 470.0}
    script.replies[:] = [
        Reply(200, {**STATUSES, "time": skewed}),
        Reply(429, {"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked"}),
    ]
    gateway.statuses()
    clock.t += 100.0
    with pytest.raises(RateLimitedError) as caught:
        gateway.statuses()
    assert caught.value.retry_after == pytest.approx(200.0)
    assert clock.slept == [] and len(script.seen) == 2  # beyond the 30 s cap: no pointless retries


# -- typed errors: callers decide on the type, never on the text ------------------------------------------------


@pytest.fixture
def scripted_cloud(
    scripted: tuple[BitrixGateway, Script, FakeClock],
) -> Iterator[tuple[BitrixGateway, Script]]:
    """A Bitrix24 gateway (tasks are tried first) with a manager to tell, on the same scripted server."""
    gateway, script, clock = scripted
    settings = gateway.settings.model_copy(
        update={"profile": "bitrix24", "manager_user_id": 1, "rate_limit": False}
    )
    cloud = BitrixGateway(settings, clock=clock)
    yield cloud, script
    cloud.close()


METHOD_NOT_FOUND = Reply(404, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"})
NOTIFIED = Reply(200, {"result": 77, "time": TIME})
SEEN_TASK_THEN_NOTICE = ["/rest/1/code/tasks.task.add.json", "/rest/1/code/im.notify.system.add.json"]


def test_a_missing_tasks_module_is_a_method_not_found_error(
    scripted_cloud: tuple[BitrixGateway, Script],
) -> None:
    gateway, script = scripted_cloud
    script.replies[:] = [METHOD_NOT_FOUND]
    with pytest.raises(MethodNotFoundError) as caught:
        gateway.transport.call("tasks.task.add", {"fields": {"TITLE": "T"}}, idempotent=False)
    assert caught.value.method == "tasks.task.add"


def test_create_task_falls_back_on_the_error_type_not_its_text(
    scripted_cloud: tuple[BitrixGateway, Script], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway, script = scripted_cloud
    real = error_map.translate

    def without_the_code(*args: Any, **kwargs: Any) -> IntegrationError:
        error = real(*args, **kwargs)
        if isinstance(error, MethodNotFoundError):
            return MethodNotFoundError("no tasks module on this portal", method=error.method)
        return error

    monkeypatch.setattr(error_map, "translate", without_the_code)
    script.replies[:] = [METHOD_NOT_FOUND, NOTIFIED]
    notice = gateway.create_task("Check order 42", "Picking error")
    assert (notice.kind, notice.id) == (NoticeKind.NOTIFICATION, 77)
    assert script.seen == SEEN_TASK_THEN_NOTICE
    assert script.bodies[1] == {"USER_ID": 1, "MESSAGE": "[b]Check order 42[/b]\nPicking error"}


def test_create_task_does_not_swallow_another_error_that_quotes_the_code(
    scripted_cloud: tuple[BitrixGateway, Script],
) -> None:
    # A task handler's own failure may quote ERROR_METHOD_NOT_FOUND; only the type says the method is missing.
    gateway, script = scripted_cloud
    script.replies[:] = [
        Reply(400, {"error": "ERROR_CORE", "error_description": "handler said ERROR_METHOD_NOT_FOUND"}),
        NOTIFIED,
    ]
    with pytest.raises(PermanentError, match="ERROR_METHOD_NOT_FOUND") as caught:
        gateway.create_task("Check order 42", "Picking error")
    assert not isinstance(caught.value, MethodNotFoundError)
    assert script.seen == ["/rest/1/code/tasks.task.add.json"]


@pytest.mark.parametrize(
    ("written", "expected", "attributes"),
    [
        pytest.param(
            Reply(200, {"result": {"order": {"id": 5, "statusId": "W"}}, "time": TIME}),
            StatusOverruledError,
            {"order_id": 5, "requested": "P", "kept": "W"},
            id="a shop rule kept another status",
        ),
        pytest.param(
            Reply(400, {"error": 200540400001, "error_description": "order is not exists"}),
            EntityNotFoundError,
            {"entity": "order", "entity_id": 5},
            id="deleted between read and write",
        ),
    ],
)
def test_the_write_of_a_status_change_raises_typed_errors(
    scripted: tuple[BitrixGateway, Script, FakeClock],
    written: Reply,
    expected: type[IntegrationError],
    attributes: dict[str, object],
) -> None:
    gateway, script, _ = scripted
    listed = Reply(200, {"result": {"orders": [{"id": 5, "statusId": "N"}]}, "time": TIME})
    script.replies[:] = [listed, written]
    with pytest.raises(expected) as caught:
        gateway.set_order_status(5, "P", allowed_from={"N"})
    assert {name: getattr(caught.value, name) for name in attributes} == attributes


def test_a_not_found_naming_no_entity_is_about_the_order_asked_for(
    scripted: tuple[BitrixGateway, Script, FakeClock],
) -> None:
    # The reply's text holds the order id's digit; the error must name the order by its attributes anyway.
    gateway, script, _ = scripted
    script.replies[:] = [Reply(404, {"error": "NOT_FOUND", "error_description": "Not found (request 4711)"})]
    with pytest.raises(EntityNotFoundError) as caught:
        gateway.set_order_status(4, "P", allowed_from={"N"})
    assert (caught.value.entity, caught.value.entity_id) == ("order", 4)
    assert str(caught.value).startswith("order 4: ")


def test_a_batch_of_status_writes_is_never_sent_again(
    scripted: tuple[BitrixGateway, Script, FakeClock],
) -> None:
    """One write of the batch refused by a limit: it is that order's error (its next run checks afresh), and the
    batch is not repeated after a wait, which would write over a status a person set in between."""
    gateway, script, clock = scripted

    def batch(result: dict[str, Any], errors: dict[str, Any] | list[Any]) -> Reply:
        body = {"result": result, "result_error": errors, "result_total": [], "result_next": []}
        return Reply(200, {"result": body, "time": TIME})

    checked = batch({"check": {"orders": [{"id": 5, "statusId": "N"}, {"id": 6, "statusId": "N"}]}}, [])
    written = batch(
        {"u5": {"order": {"id": 5, "statusId": "P", "version": 3}}},
        {"u6": {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}},
    )
    script.replies[:] = [checked, written]
    done = gateway.set_order_statuses([StatusRequest(5, "P", {"N"}), StatusRequest(6, "P", {"N"})])
    assert script.seen == ["/rest/1/code/batch.json"] * 2 and clock.slept == []
    first = done.changes[5]
    assert isinstance(first, StatusChange) and (first.outcome, first.version) == (StatusOutcome.CHANGED, 3)
    assert isinstance(done.changes[6], RateLimitedError)

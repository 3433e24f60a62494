"""A reseed (``POST /_sandbox/seed``) replaces the shop while work for the old one is in flight: that work must
not reach the fresh shop someone just set up. Order ids restart with the new shop, so an old event delivered
after the reseed would name a different order."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox


def test_a_reseed_ends_a_running_order_stream() -> None:
    with running_bitrix_sandbox(SandboxConfig(), https=False, products=3) as shop:
        # Far longer than the test: only the reseed can end it.
        stream = shop.control.stream_orders(count=100_000, rate_per_s=20)
        shop.control.seed(products=0)
        deadline = time.monotonic() + 30
        state = stream
        while not state["done"] and time.monotonic() < deadline:
            time.sleep(0.05)
            state = shop.control.stream_status(stream["id"])
        assert state["done"] and state["stopped_by_reseed"]
        assert shop.control.entities("orders") == []


class GatedHandler:
    """An event handler on loopback that holds each delivery until the test opens the gate."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, str]] = []  # (event, order id, order xmlId)
        self.arrived = threading.Condition()
        self.gate = threading.Event()
        handler = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode())
                with handler.arrived:
                    fields = (form[f"data[FIELDS][{name}]"][0] for name in ("ID", "XML_ID"))
                    handler.received.append((form["event"][0], *fields))
                    handler.arrived.notify_all()
                handler.gate.wait(10)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/bitrix"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int) -> list[tuple[str, str, str]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout=10), self.received
            return list(self.received)

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def shop() -> Iterator[RunningSandbox]:
    with running_bitrix_sandbox(SandboxConfig(), https=False, products=3) as running:
        yield running


@pytest.fixture
def gated() -> Iterator[GatedHandler]:
    handler = GatedHandler()
    yield handler
    handler.close()


def place(shop: RunningSandbox) -> tuple[str, str]:
    """(id, xmlId) of a new order."""
    product = shop.control.entities("products")[0]["id"]
    order = shop.control.place_order(lines=[{"productId": product, "quantity": 1}])
    return str(order["id"]), order["xmlId"]


def test_events_of_the_old_shop_are_not_sent_after_a_reseed(
    shop: RunningSandbox, gated: GatedHandler
) -> None:
    shop.control.configure_events(handler_url=gated.url)
    on_the_wire = place(shop)
    assert gated.wait_for(1) == [("ONSALEORDERSAVED", *on_the_wire)]
    queued = place(shop)  # waits behind the delivery on the wire
    shop.control.seed(products=3)
    gated.gate.set()
    fresh = [place(shop), place(shop)]
    log = shop.control.event_log()  # once every event emitted so far was handled
    assert queued[0] == fresh[1][0], "the new shop gives the queued order's id to another order"
    assert gated.received == [("ONSALEORDERSAVED", *order) for order in (on_the_wire, *fresh)]
    # The delivery that was on the wire during the reseed belongs to the old history: not listed.
    listed = [(d["event"], str(d["order_id"])) for d in log if d["handler"]]
    assert listed == [("ONSALEORDERSAVED", order_id) for order_id, _ in fresh]


def test_a_reseed_empties_the_offline_queue(shop: RunningSandbox) -> None:
    token = shop.control.issue_token()["access_token"]

    def app(method: str, params: dict[str, Any] | None = None) -> Any:
        url = f"{shop.base_url}/rest/{method}"
        response = httpx.post(url, json={**(params or {}), "auth": token}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["result"]

    assert app("event.bind", {"event": "OnSaleOrderSaved", "event_type": "offline"}) is True
    for _ in range(2):  # orders 1 and 2; the new shop's first order is order 1 again
        place(shop)
    shop.control.seed(products=3)
    fresh, _ = place(shop)
    [record] = app("event.offline.get", {"clear": 1})["events"]
    assert str(record["EVENT_DATA"]["FIELDS"]["ID"]) == fresh

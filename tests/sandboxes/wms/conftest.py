"""Fixtures: one WMS sandbox per test module on an ephemeral loopback port, reseeded for every test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from bitrix_inflow.sandboxes.wms import RunningSandbox, SandboxSettings, run_in_process
from bitrix_inflow.sandboxes.wms.webhooks import WebhookSettings

API_KEY = "sandbox-key"


def small_settings(**overrides: Any) -> SandboxSettings:
    defaults: dict[str, Any] = {
        "seed": 7,
        "skus": 20,
        "bins": 200,
        "qty_min": 5,
        "qty_max": 20,
        "webhooks": WebhookSettings(backoff_base=0.05, max_attempts=4, timeout=2.0),
    }
    defaults.update(overrides)
    return SandboxSettings(**defaults)


class Wms:
    """Test helper around one running sandbox: an authenticated API client and the control API."""

    def __init__(self, running: RunningSandbox) -> None:
        self.running = running
        self.api = httpx.Client(base_url=running.api_url, headers={"X-API-Key": API_KEY}, timeout=10)
        self.ctl = httpx.Client(base_url=running.base_url + "/_sandbox", timeout=30)

    def close(self) -> None:
        self.api.close()
        self.ctl.close()

    def seed(self, **body: Any) -> None:
        payload = {"skus": 20, "bins": 200, "seed": 7, "qty_min": 5, "qty_max": 20, **body}
        self.ctl.post("/seed", json=payload).raise_for_status()

    def faults(self, **settings: Any) -> dict[str, Any]:
        response = self.ctl.put("/faults", json=settings)
        response.raise_for_status()
        return dict(response.json())

    def skus(self) -> list[dict[str, Any]]:
        return list(self.ctl.get("/skus", params={"limit": 1000}).json()["items"])

    def sku(self, *, marked: bool) -> dict[str, Any]:
        return next(s for s in self.skus() if s["marked"] is marked)

    def stock_of(self, sku: str, warehouse: str = "MAIN") -> dict[str, Any]:
        response = self.ctl.get(f"/stock/{warehouse}/{sku}")
        response.raise_for_status()
        return dict(response.json())

    def orders(self) -> list[dict[str, Any]]:
        return list(self.ctl.get("/orders").json()["items"])

    def snapshot(self) -> dict[str, Any]:
        """Everything a bad request must leave untouched."""
        stock = self.api.get("/stock", params={"limit": 1000}).json()["items"]
        return {"orders": self.orders(), "stock": stock, "counters": self.ctl.get("/state").json()}

    def create(self, lines: list[dict[str, Any]], ref: str = "B-1-1", **extra: Any) -> httpx.Response:
        body = {
            "external_ref": ref,
            "customer_order_ref": ref.split("-")[1] if "-" in ref else ref,
            "warehouse": "MAIN",
            "lines": lines,
            **extra,
        }
        return self.api.post("/orders", json=body)

    def create_ok(self, lines: list[dict[str, Any]], ref: str = "B-1-1", **extra: Any) -> dict[str, Any]:
        response = self.create(lines, ref, **extra)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def advance(self, order_id: str, to: str) -> dict[str, Any]:
        response = self.ctl.post(f"/orders/{order_id}/advance", json={"to": to})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def step(self, order_id: str, steps: int = 1) -> dict[str, Any]:
        self.ctl.post("/clock/step", json={"order_id": order_id, "steps": steps}).raise_for_status()
        return dict(self.api.get(f"/orders/{order_id}").json())


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with run_in_process(small_settings()) as running:
        yield running


@pytest.fixture
def wms(sandbox: RunningSandbox) -> Iterator[Wms]:
    helper = Wms(sandbox)
    helper.ctl.delete("/faults").raise_for_status()
    helper.seed()
    yield helper
    helper.ctl.delete("/faults")
    for hook in helper.api.get("/webhooks").json()["items"]:
        helper.api.delete(f"/webhooks/{hook['id']}")
    helper.close()


class Receiver:
    """A webhook endpoint on loopback that records raw deliveries and answers with scripted status codes."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.script: list[int] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.arrived:
                    status = receiver.script.pop(0) if receiver.script else 200
                    receiver.received.append({"headers": dict(self.headers), "raw": raw, "status": status})
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r["raw"]) for r in self.received if 200 <= r["status"] < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


@pytest.fixture
def settings_factory() -> Any:
    """Build small sandbox settings for a test that needs its own server (other auth, dialect, state)."""
    return small_settings


@pytest.fixture
def helper_for() -> Any:
    """Wrap another running sandbox in the same test helper."""
    return Wms

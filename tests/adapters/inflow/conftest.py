"""Fixtures: real WMS sandboxes on loopback (default and legacy-example dialect) and InflowClient factories.

The sandbox is the remote side; tests may drive it through its control API (``/_sandbox``), the client never.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bitrix_inflow.adapters.inflow.client import InflowClient
from bitrix_inflow.adapters.inflow.settings import InflowSettings
from bitrix_inflow.sandboxes.wms import RunningSandbox, SandboxSettings, run_in_process
from bitrix_inflow.sandboxes.wms.dialect import Dialect
from bitrix_inflow.timing import SystemClock

API_KEY = "sandbox-key"
CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"
DIALECTS = Path(__file__).resolve().parents[3] / "contracts" / "inflow-v1" / "dialects"
SEED = {"skus": 20, "bins": 200, "seed": 7, "qty_min": 5, "qty_max": 20}

# Every combination the contract tests run over: sandbox dialect (= client profile) x transport x auth.
COMBOS = [
    pytest.param((dialect, transport, auth), id=f"{dialect}-{transport}-{auth}")
    for dialect in ("default", "legacy-example")
    for transport in ("rest", "soap")
    for auth in ("api_key", "oauth2")
]


class Control:
    """The sandbox's control API (not part of the contract): seed, faults, inspection, clock."""

    def __init__(self, running: RunningSandbox) -> None:
        self.running = running
        self.http = httpx.Client(base_url=running.base_url + "/_sandbox", timeout=60)

    def reset(self) -> None:
        self.http.delete("/faults").raise_for_status()
        self.http.post("/seed", json=SEED).raise_for_status()

    def faults(self, **settings: Any) -> None:
        self.http.put("/faults", json=settings).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete("/faults").raise_for_status()

    def state(self) -> dict[str, Any]:
        return dict(self.http.get("/state").json())

    def skus(self) -> list[dict[str, Any]]:
        return list(self.http.get("/skus", params={"limit": 1000}).json()["items"])

    def stock_of(self, sku: str, warehouse: str = "MAIN") -> dict[str, Any]:
        return dict(self.http.get(f"/stock/{warehouse}/{sku}").json())

    def orders(self) -> list[dict[str, Any]]:
        return list(self.http.get("/orders").json()["items"])

    def orders_with_ref(self, external_ref: str) -> list[dict[str, Any]]:
        return [o for o in self.orders() if o["external_ref"] == external_ref]

    def advance(self, order_id: str, to: str) -> None:
        response = self.http.post(f"/orders/{order_id}/advance", json={"to": to})
        assert response.status_code == 200, response.text

    def step(self, order_id: str, steps: int) -> None:
        self.http.post("/clock/step", json={"order_id": order_id, "steps": steps}).raise_for_status()

    def adjust(self, sku: str, delta: int, warehouse: str = "MAIN") -> None:
        self.http.post("/stock", json={"warehouse": warehouse, "sku": sku, "delta": delta}).raise_for_status()

    def expire_tokens(self) -> None:
        self.http.post("/auth/expire-tokens").raise_for_status()


def start(dialect: str, **overrides: Any) -> Any:
    settings = SandboxSettings(
        seed=7,
        skus=20,
        bins=200,
        qty_min=5,
        qty_max=20,
        dialect=Dialect.load(DIALECTS / f"{dialect}.toml"),
        **overrides,
    )
    return run_in_process(settings)


@pytest.fixture
def control_class() -> type[Control]:
    return Control


@pytest.fixture
def start_sandbox() -> Any:
    """Start an extra sandbox with other settings (``with start_sandbox("default", auth=...) as running``)."""
    return start


@pytest.fixture(scope="session")
def sandboxes() -> Iterator[dict[str, RunningSandbox]]:
    with start("default") as default, start("legacy-example") as legacy:
        yield {"default": default, "legacy-example": legacy}


class Sleeps(SystemClock):
    """The real clock, recording the waits the client asks for (the sandbox's clock is real too)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


ClientFactory = Callable[..., InflowClient]


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(sleeps: Sleeps) -> Iterator[ClientFactory]:
    """Build a client for a running sandbox; fast retry settings, closed at teardown."""
    made: list[InflowClient] = []

    def factory(
        running: RunningSandbox,
        *,
        transport: str = "rest",
        auth: str = "api_key",
        profile: str = "default",
        http_transport: httpx.BaseTransport | None = None,
        **overrides: Any,
    ) -> InflowClient:
        values: dict[str, Any] = {
            "base_url": running.base_url,
            "transport": transport,
            "auth": auth,
            "api_key": API_KEY,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "profile": profile,
            "timeouts": {"connect": 2, "read": 5, "write": 5, "pool": 2},
            "retry": {"attempts": 6, "base_delay": 0.02, "max_delay": 0.2, "max_retry_after": 5},
        }
        values.update(overrides)
        client = InflowClient(
            InflowSettings.model_validate(values), http_transport=http_transport, clock=sleeps
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


@pytest.fixture(params=COMBOS)
def combo_env(
    request: pytest.FixtureRequest, sandboxes: dict[str, RunningSandbox], make_client: ClientFactory
) -> Iterator[tuple[InflowClient, Control]]:
    """(client, control) for one (dialect, transport, auth) combination, on a freshly seeded sandbox."""
    dialect, transport, auth = request.param
    control = Control(sandboxes[dialect])
    control.reset()
    client = make_client(sandboxes[dialect], transport=transport, auth=auth, profile=dialect)
    yield client, control
    control.clear_faults()
    control.http.close()


@pytest.fixture
def ctl(sandboxes: dict[str, RunningSandbox]) -> Iterator[Control]:
    """The control API of the default-dialect sandbox, freshly seeded, no faults."""
    control = Control(sandboxes["default"])
    control.reset()
    yield control
    control.clear_faults()
    control.http.close()

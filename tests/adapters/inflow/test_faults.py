"""Every fault the sandbox can inject: the client succeeds (after retries) or raises the right typed error.

Also: a create whose answer is lost is never duplicated (lookup by external_ref + the same Idempotency-Key).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from bitrix_inflow.adapters.inflow.models import NewOrderLine, NewPickingOrder
from bitrix_inflow.errors import RateLimitedError, TransientError

TRANSPORTS = ["rest", "soap"]


def _control(dialect, sandboxes, make_client, control_class):
    control = control_class(sandboxes[dialect])
    control.reset()
    control.client = lambda **kw: make_client(control.running, profile=dialect, **kw)
    return control


@pytest.fixture(params=["default", "legacy-example"])
def ctl(request, sandboxes, make_client, control_class):
    """Faults hit both installations; ``ctl.client(...)`` builds a client with the matching profile."""
    control = _control(request.param, sandboxes, make_client, control_class)
    yield control
    control.clear_faults()
    control.http.close()


@pytest.fixture
def slow_ctl(sandboxes, make_client, control_class):
    """For faults whose handling cannot depend on names (real waits): the default installation only."""
    control = _control("default", sandboxes, make_client, control_class)
    yield control
    control.clear_faults()
    control.http.close()


def order(ref: str, sku: str, qty: int = 1) -> NewPickingOrder:
    return NewPickingOrder(
        external_ref=ref, customer_order_ref=ref, lines=(NewOrderLine(line_no=1, sku=sku, qty=qty),)
    )


def export_skus(client) -> list[str]:
    return [row.sku for row in client.iter_available_stock(limit=2)]  # 10+ requests: faults will hit


class LoseAnswers(httpx.BaseTransport):
    """A network that delivers requests but loses the answers of the first ``n`` matching ones (after the
    server processed them), as a timeout would. Everything goes to the real sandbox."""

    def __init__(self, matches: Callable[[httpx.Request], bool], n: int = 1) -> None:
        self.inner = httpx.HTTPTransport()
        self.matches = matches
        self.left = n
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = self.inner.handle_request(request)
        if self.left > 0 and self.matches(request):
            self.left -= 1
            response.read()
            response.close()
            raise httpx.ReadTimeout("the answer was lost on the way", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


class Recorder(httpx.BaseTransport):
    """Passes everything to the real sandbox and notes how each exchange ended as the client saw it: the status
    code, or the name of the network error (a hang shows up as ReadTimeout). Proof that a fault really hit."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.outcomes: list[tuple[str, int | str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError as exc:
            self.outcomes.append((request.url.path, type(exc).__name__))
            raise
        self.outcomes.append((request.url.path, response.status_code))
        return response

    def count(self, outcome: int | str) -> int:
        return sum(1 for _, seen in self.outcomes if seen == outcome)

    def network_errors(self) -> list[str]:
        return [seen for _, seen in self.outcomes if isinstance(seen, str)]

    def close(self) -> None:
        self.inner.close()


def is_create(request: httpx.Request) -> bool:
    if request.method != "POST":
        return False
    return request.url.path.endswith("orders") or b"CreateOrderRequest" in request.content


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_latency_is_waited_for(slow_ctl, transport):
    client = slow_ctl.client(transport=transport)
    slow_ctl.faults(latency_ms=120)
    assert sorted(export_skus(client)) == sorted(s["sku"] for s in slow_ctl.skus())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_503s_are_retried_with_backoff(ctl, sleeps, transport):
    client = ctl.client(transport=transport, retry={"attempts": 8, "base_delay": 0.01, "max_delay": 0.05})
    expected = sorted(s["sku"] for s in ctl.skus())
    ctl.faults(error_rate=0.4, seed=11)
    assert sorted(export_skus(client)) == expected  # every row exactly once despite the failures
    assert sleeps.waits  # it did have to retry
    assert all(0 < wait <= 0.05 for wait in sleeps.waits)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_persistent_503_raises_transient_after_the_budget(ctl, sleeps, transport):
    client = ctl.client(transport=transport, retry={"attempts": 3, "base_delay": 0.01})
    ctl.faults(error_rate=1.0)
    with pytest.raises(TransientError):
        client.available_stock_page()
    assert len(sleeps.waits) == 2  # 3 attempts, 2 waits
    assert sleeps.waits[1] >= sleeps.waits[0] / 2  # exponential: the second ceiling is twice the first


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_hangs_hit_the_read_timeout_and_are_retried(ctl, transport):
    network = Recorder()
    client = ctl.client(
        transport=transport,
        http_transport=network,
        timeouts={"connect": 2, "read": 0.3, "write": 2, "pool": 2},
        retry={"attempts": 10, "base_delay": 0.01, "max_delay": 0.02},
    )
    expected = sorted(s["sku"] for s in ctl.skus())
    client.available_stock_page()  # load the WSDL before the faults start (SOAP)
    ctl.faults(hang_rate=0.3, hang_seconds=1.0, seed=5)
    assert sorted(export_skus(client)) == expected
    assert network.count("ReadTimeout") >= 1  # the hangs happened and the client waited them out


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_hanging_server_gives_a_transient_error(ctl, transport):
    network = Recorder()
    client = ctl.client(
        transport=transport,
        http_transport=network,
        timeouts={"connect": 2, "read": 0.3, "write": 2, "pool": 2},
        retry={"attempts": 2, "base_delay": 0.01},
    )
    ctl.faults(hang_rate=1.0, hang_seconds=1.0)
    with pytest.raises(TransientError, match="in time"):
        client.get_order("PO-00000001")
    assert [seen for _, seen in network.outcomes] == ["ReadTimeout"] * 2  # both attempts hung


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_connection_resets_are_retried(ctl, transport):
    network = Recorder()
    client = ctl.client(
        transport=transport, http_transport=network, retry={"attempts": 10, "base_delay": 0.01}
    )
    expected = sorted(s["sku"] for s in ctl.skus())
    ctl.faults(reset_rate=0.4, seed=3)
    assert sorted(export_skus(client)) == expected
    assert network.network_errors()  # connections were reset under the client, and it carried on
    ctl.faults(reset_rate=1.0)
    with pytest.raises(TransientError, match="network error"):
        ctl.client(transport=transport, retry={"attempts": 2, "base_delay": 0.01}).get_order("PO-1")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_429_burst_waits_retry_after(slow_ctl, sleeps, transport):
    client = slow_ctl.client(transport=transport)
    client.available_stock_page()  # WSDL loaded, so the burst hits the calls themselves
    sleeps.waits.clear()
    slow_ctl.faults(burst_429=2, retry_after=1)
    page = client.available_stock_page(limit=3)
    assert len(page.items) == 3
    assert len(sleeps.waits) == 2 and all(wait >= 1 for wait in sleeps.waits)  # never sooner than asked


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_429_beyond_budget_or_patience_raises_rate_limited(slow_ctl, sleeps, transport):
    client = slow_ctl.client(transport=transport, retry={"attempts": 5, "max_retry_after": 5})
    client.available_stock_page()
    sleeps.waits.clear()
    slow_ctl.faults(
        burst_429=1, retry_after=30
    )  # longer than we hold a worker for: hand it to the job engine
    with pytest.raises(RateLimitedError) as raised:
        client.available_stock_page()
    assert raised.value.retry_after == 30
    assert sleeps.waits == []

    slow_ctl.faults(burst_429=3, retry_after=0)
    short = slow_ctl.client(transport=transport, retry={"attempts": 2})
    with pytest.raises(RateLimitedError):
        short.get_order("PO-1")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_oauth_token_endpoint_faults_are_retried(ctl, transport):
    network = Recorder()
    client = ctl.client(
        transport=transport,
        auth="oauth2",
        http_transport=network,
        retry={"attempts": 10, "base_delay": 0.01},
    )
    ctl.faults(error_rate=0.3, reset_rate=0.2, burst_429=1, retry_after=0, seed=9)
    assert client.available_stock_page(limit=2).items
    token_exchanges = [seen for path, seen in network.outcomes if path == "/oauth/token"]
    # The faults are seeded, so where they land is fixed: the token endpoint has to be among their victims, or
    # this test would only prove that a healthy token endpoint works.
    assert any(seen != 200 for seen in token_exchanges), token_exchanges
    assert token_exchanges[-1] == 200 and client.credentials.tokens_fetched == 1


# ---------------------------------------------------------------------- creates under faults


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_lost_create_answer_is_not_duplicated(ctl, transport):
    network = LoseAnswers(is_create, n=1)
    client = ctl.client(transport=transport, http_transport=network)
    sku = ctl.skus()[0]["sku"]
    created = client.create_picking_order(order("B-100-1", sku, 2))
    in_wms = ctl.orders_with_ref("B-100-1")
    assert [o["id"] for o in in_wms] == [created.id]
    assert created.lines[0].qty == 2
    creates = [r for r in network.sent if is_create(r)]
    if transport == "rest":
        assert len(creates) == 1  # the lookup by external_ref found it: no second POST at all
        lookups = [r for r in network.sent if r.method == "GET" and r.url.path.endswith("orders")]
        assert lookups
    else:
        assert len(creates) == 2  # SOAP has no lookup: the same key (and external_ref) make the retry safe
        assert creates[0].content == creates[1].content


def test_every_retry_of_a_create_carries_the_same_idempotency_key(ctl):
    network = LoseAnswers(lambda r: r.url.path.endswith("orders"), n=3)  # creates and lookups
    client = ctl.client(http_transport=network, retry={"attempts": 6, "base_delay": 0.01})
    sku = ctl.skus()[1]["sku"]
    created = client.create_picking_order(order("B-101-1", sku), idempotency_key="job-42-create")
    keys = {r.headers.get("Idempotency-Key") for r in network.sent if r.method == "POST"}
    assert keys == {"job-42-create"}
    assert [o["id"] for o in ctl.orders_with_ref("B-101-1")] == [created.id]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_creates_under_random_faults_exist_exactly_once(ctl, transport):
    network = Recorder()
    client = ctl.client(
        transport=transport,
        http_transport=network,
        timeouts={"connect": 2, "read": 0.5, "write": 2, "pool": 2},
        retry={"attempts": 12, "base_delay": 0.01, "max_delay": 0.05},
    )
    skus = [s["sku"] for s in ctl.skus()[:6]]
    client.available_stock_page()  # WSDL
    ctl.faults(error_rate=0.2, reset_rate=0.2, hang_rate=0.15, hang_seconds=1.0, latency_ms=20, seed=21)
    results = {
        f"B-2{i}-1": client.create_picking_order(order(f"B-2{i}-1", sku)) for i, sku in enumerate(skus)
    }
    ctl.clear_faults()
    for ref, created in results.items():
        assert [o["id"] for o in ctl.orders_with_ref(ref)] == [created.id]
    assert ctl.state()["orders"] == len(skus)
    # Every kind of fault hit at least once (they are seeded): a hang, a reset, an injected server error (a 503
    # problem on REST, a 500 SOAP fault on SOAP).
    assert network.count("ReadTimeout") and set(network.network_errors()) - {"ReadTimeout"}
    assert any(isinstance(seen, int) and seen >= 500 for _, seen in network.outcomes)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_slow_create_in_flight_is_waited_for_not_duplicated(ctl, transport):
    network = Recorder()
    client = ctl.client(
        transport=transport,
        http_transport=network,
        timeouts={"connect": 2, "read": 0.4, "write": 2, "pool": 2},
        retry={"attempts": 12, "base_delay": 0.2, "max_delay": 0.5},
    )
    client.available_stock_page()
    ctl.faults(processing_delay_ms=1200)
    created = client.create_picking_order(order("B-300-1", ctl.skus()[2]["sku"]))
    ctl.clear_faults()
    assert [o["id"] for o in ctl.orders_with_ref("B-300-1")] == [created.id]
    assert network.count("ReadTimeout") >= 1  # the first create really was still in flight when we gave up


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_lost_cancel_answer_is_still_a_cancel(ctl, transport):
    plain = ctl.client(transport=transport)
    created = plain.create_picking_order(order("B-400-1", ctl.skus()[3]["sku"]))
    network = LoseAnswers(lambda r: r.method == "PUT" or b"CancelOrderRequest" in r.content, n=1)
    client = ctl.client(transport=transport, http_transport=network)
    cancelled = client.cancel(created.id, if_match_version=created.version)
    assert cancelled.status == "CANCELLED"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_real_rate_limit_is_respected(slow_ctl, sleeps, transport):
    client = slow_ctl.client(transport=transport, retry={"attempts": 10, "max_retry_after": 5})
    client.available_stock_page()
    sleeps.waits.clear()
    expected = sorted(s["sku"] for s in slow_ctl.skus())
    slow_ctl.faults(rate_limit_rps=4)
    assert sorted(export_skus(client)) == expected  # 11 pages at 4 requests/s: throttled, never failed
    assert sleeps.waits and all(wait >= 1 for wait in sleeps.waits)

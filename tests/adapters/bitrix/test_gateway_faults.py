"""The gateway under every fault the sandbox can inject: it succeeds or raises the right typed error."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from bitrix_inflow.adapters.bitrix import (
    AccessReport,
    BitrixGateway,
    BitrixSettings,
    OAuthCredentials,
    OrderWatermark,
    StockLine,
)
from bitrix_inflow.errors import AuthError, RateLimitedError, TransientError, ValidationError
from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox
from bitrix_inflow.timing import SystemClock

from .conftest import MakeGateway, place, product_ids


class HealOnSleep(SystemClock):
    """Turns the sandbox's faults off the first time the gateway backs off: the retry must then succeed."""

    def __init__(self, running: RunningSandbox, **healthy: object) -> None:
        self.running = running
        self.healthy = healthy
        self.sleeps = 0

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        if self.sleeps == 1:
            self.running.control.faults(**self.healthy)
            self.running.control.reset_limits()
        super().sleep(min(seconds, 0.05))


def healing_gateway(running: RunningSandbox, clock: HealOnSleep, **overrides: object) -> BitrixGateway:
    options: dict[str, object] = {
        "webhook_url": running.webhook_url,
        "verify": running.ca_file,
        "profile": "bitrix24",
        "rate_limit": False,  # the clock below must only see back-off sleeps
        "backoff_base": 0.05,
        "backoff_cap": 2.0,
        "read_timeout": 10.0,
        "manager_user_id": 1,
    }
    options.update(overrides)
    return BitrixGateway(BitrixSettings(**options), clock=clock)  # type: ignore[arg-type]


# -- the leaky bucket ---------------------------------------------------------------------------------------


def test_every_method_under_the_cloud_limiter_without_a_single_503(
    faults: RunningSandbox, gateway_for: MakeGateway
) -> None:
    faults.control.reset_limits()
    faults.control.faults(limiter=True, bucket_size=8, drain_per_s=8)
    # Like the defaults (burst 10 against Bitrix's 50), the client keeps head-room below the server's bucket:
    # requests reach the server with network jitter, so equal sizes would overflow now and then.
    gateway = gateway_for(faults, profile="bitrix24", rate_per_second=8, burst=4)
    assert gateway.transport.limiter is not None
    first = product_ids(faults)[0]
    order_id = int(place(faults, (first, 1))["id"])

    polled = gateway.orders_changed_since(OrderWatermark(last_id=order_id - 1))
    assert [o.id for o in polled.new] == [order_id]
    bundle = gateway.get_order(order_id)
    gateway.set_order_status(order_id, "P", allowed_from={"N"})
    gateway.update_shipment(bundle.shipments[0].id, tracking_number="T1")
    gateway.set_product_quantities({first: 1})
    # S adds stock without a supplier (an A receipt needs one to be conducted).
    gateway.post_stock_document("S", [StockLine(product_id=first, amount=Decimal(1), store_to=1)])
    assert gateway.stores() and gateway.statuses()
    gateway.notify_manager("limiter tour")
    gateway.create_task("limiter tour", "done")
    for _ in range(10):
        gateway.statuses()

    assert gateway.transport.requests_sent > 16  # two server buckets' worth went out...
    assert gateway.transport.retries == 0  # ...and the server never had to refuse one


def test_503_bursts_are_retried_until_the_bucket_drains(
    faults: RunningSandbox, gateway_for: MakeGateway
) -> None:
    faults.control.reset_limits()
    # A slow drain (one place a second): even a machine so loaded that a request takes a quarter of a second
    # still overflows a bucket of 3 with 8 back-to-back calls, so the retries this test is about must happen.
    faults.control.faults(limiter=True, bucket_size=3, drain_per_s=1)
    gateway = gateway_for(faults, profile="bitrix24", rate_limit=False, max_attempts=10, backoff_base=0.2)
    assert gateway.transport.limiter is None
    results = [gateway.statuses() for _ in range(8)]
    assert all(results)
    assert gateway.transport.retries > 0


def test_503_that_never_ends_is_a_rate_limited_error(
    faults: RunningSandbox, gateway_for: MakeGateway
) -> None:
    faults.control.reset_limits()
    faults.control.faults(limiter=True, bucket_size=1, drain_per_s=0.01)
    gateway = gateway_for(faults, profile="bitrix24", rate_limit=False, max_attempts=3)
    gateway.statuses()
    with pytest.raises(RateLimitedError, match="QUERY_LIMIT_EXCEEDED"):
        gateway.statuses()
    assert gateway.transport.requests_sent == 1 + 3


def test_503_then_recovery(faults: RunningSandbox) -> None:
    faults.control.reset_limits()
    faults.control.faults(limiter=True, bucket_size=1, drain_per_s=0.01)
    clock = HealOnSleep(faults, limiter=False)
    with healing_gateway(faults, clock, rate_limit=False) as gateway:
        gateway.statuses()
        assert gateway.statuses()
        assert clock.sleeps == 1 and gateway.transport.retries == 1


# -- operating time (429) -----------------------------------------------------------------------------------


def test_429_is_a_rate_limited_error_after_the_attempts(
    faults: RunningSandbox, gateway_for: MakeGateway
) -> None:
    faults.control.faults(force_429=True)
    gateway = gateway_for(faults, profile="bitrix24", max_attempts=3)
    with pytest.raises(RateLimitedError, match="OPERATION_TIME_LIMIT"):
        gateway.get_order(1)
    assert gateway.transport.requests_sent == 3


def test_429_then_recovery(faults: RunningSandbox) -> None:
    faults.control.faults(force_429=True)
    clock = HealOnSleep(faults, force_429=False)
    order_id = int(place(faults, (product_ids(faults)[0], 1))["id"])
    with healing_gateway(faults, clock) as gateway:
        assert gateway.set_order_status(order_id, "P", allowed_from={"N"}).current_status == "P"
        assert gateway.transport.retries == 1


def test_operating_time_budget_spent(faults: RunningSandbox, gateway_for: MakeGateway) -> None:
    faults.control.reset_limits()
    faults.control.faults(operating_limit_s=1.0, operating_cost_s=5.0)
    gateway = gateway_for(faults, profile="bitrix24", max_attempts=2)
    gateway.stores()
    with pytest.raises(RateLimitedError):
        gateway.stores()
    # The budget is per method: another method still works.
    assert gateway.statuses()


def test_a_spent_operating_budget_reports_when_it_resets(
    faults: RunningSandbox, gateway_for: MakeGateway
) -> None:
    # A 429 body has no time object; the reset comes from time.operating_reset_at of the method's last
    # success. Until then every retry is refused, so the gateway hands the wait to the job engine at once.
    faults.control.reset_limits()
    faults.control.faults(operating_limit_s=1.0, operating_cost_s=5.0)
    gateway = gateway_for(faults, profile="bitrix24", max_attempts=3, backoff_cap=5.0)
    gateway.stores()
    with pytest.raises(RateLimitedError, match="OPERATION_TIME_LIMIT") as caught:
        gateway.stores()
    assert caught.value.retry_after is not None and 500 < caught.value.retry_after <= 600
    assert gateway.transport.requests_sent == 2


def test_batch_sub_commands_over_the_budget_raise_rate_limited(
    faults: RunningSandbox, gateway_for: MakeGateway
) -> None:
    faults.control.reset_limits()
    faults.control.faults(operating_limit_s=1.0, operating_cost_s=5.0)
    gateway = gateway_for(faults, profile="bitrix24", max_attempts=2)
    pid = product_ids(faults)[0]
    gateway.set_product_quantities({pid: 1})  # books the budget of catalog.product.update
    with pytest.raises(RateLimitedError):
        gateway.set_product_quantities({pid: 2})


def test_a_batch_over_the_operating_budget_reports_when_it_resets(
    faults: RunningSandbox, gateway_for: MakeGateway
) -> None:
    faults.control.reset_limits()
    faults.control.faults(operating_limit_s=1.0, operating_cost_s=5.0)
    gateway = gateway_for(faults, profile="bitrix24", max_attempts=3, backoff_cap=5.0)
    pid = product_ids(faults)[0]
    gateway.set_product_quantities({pid: 1})  # result_time says when catalog.product.update resets
    with pytest.raises(RateLimitedError) as caught:
        gateway.set_product_quantities({pid: 2})
    assert caught.value.retry_after is not None and 500 < caught.value.retry_after <= 600
    assert gateway.transport.requests_sent == 2


# -- server errors and slowness -----------------------------------------------------------------------------


def test_500s_on_reads_are_retried(faults: RunningSandbox, gateway_for: MakeGateway) -> None:
    faults.control.faults(error_500_rate=0.4)
    gateway = gateway_for(faults, profile="bitrix24", rate_limit=False, max_attempts=12, backoff_cap=0.1)
    for _ in range(10):
        assert gateway.statuses()
    assert gateway.transport.retries > 0


def test_500s_that_persist_are_transient_errors(faults: RunningSandbox, gateway_for: MakeGateway) -> None:
    faults.control.faults(error_500_rate=1.0)
    gateway = gateway_for(faults, profile="bitrix24", max_attempts=3)
    with pytest.raises(TransientError, match="INTERNAL_SERVER_ERROR"):
        gateway.orders_changed_since(OrderWatermark())
    assert gateway.transport.requests_sent == 3


def test_creating_calls_are_not_repeated_after_a_500(
    faults: RunningSandbox, gateway_for: MakeGateway
) -> None:
    faults.control.faults(error_500_rate=1.0)
    gateway = gateway_for(faults, profile="bitrix24", max_attempts=5)
    with pytest.raises(TransientError):
        gateway.notify_manager("once only")
    with pytest.raises(TransientError):
        gateway.post_stock_document("S", [StockLine(product_id=1, amount=Decimal(1), store_to=1)])
    assert gateway.transport.requests_sent == 2


def test_500_then_recovery(faults: RunningSandbox) -> None:
    faults.control.faults(error_500_rate=1.0)
    clock = HealOnSleep(faults, error_500_rate=0.0)
    with healing_gateway(faults, clock) as gateway:
        assert gateway.stores()
        assert gateway.transport.retries == 1


def test_slow_answers_within_the_read_timeout_succeed(
    faults: RunningSandbox, gateway_for: MakeGateway
) -> None:
    faults.control.faults(slow_ms=300)
    gateway = gateway_for(faults, profile="bitrix24", read_timeout=5.0)
    started = time.monotonic()
    assert gateway.statuses()
    assert time.monotonic() - started >= 0.3  # the answer really was slow (a lower bound, not a speed check)
    assert gateway.transport.retries == 0


def test_answers_slower_than_the_read_timeout_are_transient(
    faults: RunningSandbox, gateway_for: MakeGateway
) -> None:
    faults.control.faults(slow_ms=1500)
    gateway = gateway_for(faults, profile="bitrix24", read_timeout=0.3, max_attempts=2)
    with pytest.raises(TransientError, match="in time"):
        gateway.statuses()
    assert gateway.transport.requests_sent == 2


def test_default_read_timeout_outlasts_bitrix_s_own_limit() -> None:
    settings = BitrixSettings(webhook_url="https://shop.example.ru/rest/1/abc/")
    assert settings.read_timeout >= 65


# -- authentication -----------------------------------------------------------------------------------------


def test_wrong_webhook_code_is_an_auth_error_naming_the_webhook(
    faults: RunningSandbox, gateway_for: MakeGateway
) -> None:
    gateway = gateway_for(faults, webhook_url=faults.base_url + "/rest/1/wrongcode/", profile="bitrix24")
    with pytest.raises(AuthError, match="webhook_url"):
        gateway.statuses()
    assert gateway.transport.requests_sent == 1


def test_missing_scope_names_the_scope(faults: RunningSandbox, gateway_for: MakeGateway) -> None:
    faults.control.add_webhook(user_id=1, code="saleonly1", scopes=["sale"])
    gateway = gateway_for(faults, webhook_url=faults.base_url + "/rest/1/saleonly1/", profile="bitrix24")
    assert gateway.statuses()  # sale is granted
    with pytest.raises(AuthError, match="catalog"):
        gateway.stores()


def test_untrusted_certificate_is_a_configuration_error(
    faults: RunningSandbox, gateway_for: MakeGateway
) -> None:
    gateway = gateway_for(faults, verify=True, profile="bitrix24")
    with pytest.raises(ValidationError) as caught:
        gateway.statuses()
    assert caught.value.field == "verify"
    assert gateway.transport.requests_sent == 1  # not retried: it will not fix itself


@pytest.fixture(scope="module")
def oauth_shop() -> Iterator[RunningSandbox]:
    """A shop of its own: these tests move its clock forward to expire tokens."""
    with running_bitrix_sandbox(SandboxConfig(profile="site", token_ttl_s=3600), products=3) as running:
        yield running


def oauth_gateway(
    running: RunningSandbox, refreshed: list[tuple[str, str | None]], **overrides: str
) -> BitrixGateway:
    token = running.control.issue_token()
    config = running.sandbox.config
    credentials = {
        "portal_url": running.base_url,
        "client_id": config.oauth_client_id,
        "client_secret": config.oauth_client_secret,
        "access_token": token["access_token"],
        "refresh_token": token["refresh_token"],
        "token_url": running.base_url + "/oauth/token/",
    }
    credentials.update(overrides)
    settings = BitrixSettings(
        oauth=OAuthCredentials(**credentials),  # type: ignore[arg-type]
        verify=running.ca_file,
        backoff_base=0.05,
    )
    return BitrixGateway(
        settings, on_token_refreshed=lambda access, refresh: refreshed.append((access, refresh))
    )


def test_expired_token_is_refreshed_and_the_call_repeated(oauth_shop: RunningSandbox) -> None:
    refreshed: list[tuple[str, str | None]] = []
    with oauth_gateway(oauth_shop, refreshed) as gateway:
        assert gateway.statuses()
        oauth_shop.control.advance_clock(3700)
        assert gateway.statuses()
        assert len(refreshed) == 1
        new_access, new_refresh = refreshed[0]
        assert gateway.transport.token.auth_token == new_access and new_refresh
        # The new token keeps working; no second refresh.
        assert gateway.stores()
        assert len(refreshed) == 1


def test_gateways_of_one_process_share_a_refresh_instead_of_spending_a_used_token(
    oauth_shop: RunningSandbox,
) -> None:
    """Refresh tokens rotate: the first gateway's refresh spends the pair every gateway of the app started with.
    The others (the other worker threads, the console) take its new pair instead of refreshing with a dead token,
    and a gateway opened afterwards starts from the newest pair, not from the file's."""
    token = oauth_shop.control.issue_token()
    refreshed: list[tuple[str, str | None]] = []
    pair = {"access_token": token["access_token"], "refresh_token": token["refresh_token"]}
    with (
        oauth_gateway(oauth_shop, refreshed, **pair) as first,
        oauth_gateway(oauth_shop, refreshed, **pair) as second,
    ):
        assert first.statuses() and second.statuses()
        oauth_shop.control.advance_clock(3700)
        assert first.statuses()
        assert second.statuses()  # refused before: invalid_grant, the token `first` had spent
        assert len(refreshed) == 1
        assert second.transport.token.auth_token == first.transport.token.auth_token == refreshed[0][0]
        with oauth_gateway(oauth_shop, refreshed, **pair) as later:
            assert later.transport.token.auth_token == refreshed[0][0]
            assert later.stores()
        assert len(refreshed) == 1


def test_failed_refresh_is_an_auth_error(oauth_shop: RunningSandbox) -> None:
    refreshed: list[tuple[str, str | None]] = []
    with oauth_gateway(oauth_shop, refreshed, refresh_token="not-a-refresh-token") as gateway:
        oauth_shop.control.advance_clock(3700)
        with pytest.raises(AuthError, match="refresh"):
            gateway.statuses()
    assert refreshed == []


def test_an_unreachable_token_server_is_transient_not_an_auth_error(oauth_shop: RunningSandbox) -> None:
    # A network blip on the way to the OAuth server says nothing about the credentials: the job is retried
    # instead of going dead with "re-authorise the app".
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{probe.getsockname()[1]}/oauth/token/"
    with oauth_gateway(oauth_shop, [], token_url=closed) as gateway:
        secrets = (oauth_shop.sandbox.config.oauth_client_secret, gateway.transport.token.refresh_token)
        oauth_shop.control.advance_clock(3700)
        try:
            with pytest.raises(TransientError, match="OAuth") as caught:
                gateway.statuses()
        finally:
            oauth_shop.control.advance_clock(-3700)
    assert not isinstance(caught.value, AuthError)
    assert not any(secret in str(caught.value) for secret in secrets)


def test_wrong_client_secret_is_an_auth_error(oauth_shop: RunningSandbox) -> None:
    with oauth_gateway(oauth_shop, [], client_secret="wrong0secret0value") as gateway:
        refresh_token = gateway.transport.token.refresh_token
        oauth_shop.control.advance_clock(3700)
        with pytest.raises(AuthError, match="client") as caught:
            gateway.statuses()
    assert "wrong0secret0value" not in str(caught.value)
    assert refresh_token not in str(caught.value)


def test_garbage_access_token_is_an_auth_error(oauth_shop: RunningSandbox) -> None:
    with oauth_gateway(oauth_shop, [], access_token="garbage") as gateway, pytest.raises(AuthError):
        gateway.statuses()


# -- start-up access check ----------------------------------------------------------------------------------


# Real Bitrix has these (bitrix-rest-addendum.md); the sandbox gains them with the stock sync's sandbox work.
# Until then a report missing exactly these is an expected failure, not a pass: it turns green by itself.
SANDBOX_PENDING = {
    "catalog.document.mode.status",
    "catalog.document.element.list",
    "catalog.document.cancel",
    "catalog.document.delete",
}


def _expect_ok(report: AccessReport) -> None:
    if report.unavailable_methods and set(report.unavailable_methods) <= SANDBOX_PENDING:
        pytest.xfail(
            f"the sandbox lacks {sorted(report.unavailable_methods)} until its stock-sync work lands"
        )
    assert report.ok, report


def test_check_access_with_every_scope(faults: RunningSandbox, gateway_for: MakeGateway) -> None:
    report = gateway_for(faults, profile="bitrix24").check_access()
    assert {"sale", "catalog", "im", "task"} <= set(report.scopes)
    _expect_ok(report)
    assert {"sale", "catalog", "im", "task"} <= set(report.scopes)


def test_check_access_names_missing_scopes_and_methods(
    faults: RunningSandbox, gateway_for: MakeGateway
) -> None:
    faults.control.add_webhook(user_id=1, code="saleonly2", scopes=["sale"])
    gateway = gateway_for(faults, webhook_url=faults.base_url + "/rest/1/saleonly2/", profile="bitrix24")
    report = gateway.check_access()
    assert not report.ok
    assert report.missing_scopes == ("catalog", "im", "task")
    assert "catalog" in report.unavailable_methods["catalog.store.list"]
    assert "sale.order.list" not in report.unavailable_methods


def test_check_access_on_site_flags_tasks_only_when_asked_for(
    oauth_shop: RunningSandbox, gateway_for: MakeGateway
) -> None:
    report = gateway_for(oauth_shop, profile="bitrix24").check_access()
    assert "tasks.task.add" in report.unavailable_methods
    assert "not on this Bitrix" in report.unavailable_methods["tasks.task.add"]
    _expect_ok(gateway_for(oauth_shop).check_access())


def test_threads_sharing_a_gateway_refresh_the_token_once(oauth_shop: RunningSandbox) -> None:
    refreshed: list[tuple[str, str | None]] = []
    failures: list[BaseException] = []
    with oauth_gateway(oauth_shop, refreshed) as gateway:
        assert gateway.statuses()
        oauth_shop.control.advance_clock(3700)
        start = threading.Barrier(4)

        def work() -> None:
            start.wait()
            try:
                for _ in range(3):
                    gateway.statuses()
            except BaseException as exc:  # collected for the assertion below
                failures.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert failures == []
    # Refresh tokens rotate: a second, concurrent refresh would have used a dead one.
    assert len(refreshed) == 1


def test_a_failing_token_store_does_not_fail_the_call(oauth_shop: RunningSandbox) -> None:
    def broken_store(access: str, refresh: str | None) -> None:
        raise OSError("disk full")

    token = oauth_shop.control.issue_token()
    config = oauth_shop.sandbox.config
    settings = BitrixSettings(
        oauth=OAuthCredentials(
            portal_url=oauth_shop.base_url,
            client_id=config.oauth_client_id,
            client_secret=config.oauth_client_secret,
            access_token=token["access_token"],
            refresh_token=token["refresh_token"],
            token_url=oauth_shop.base_url + "/oauth/token/",
        ),
        verify=oauth_shop.ca_file,
    )
    with BitrixGateway(settings, on_token_refreshed=broken_store) as gateway:
        oauth_shop.control.advance_clock(3700)
        assert gateway.statuses()
        assert gateway.transport.token.auth_token != token["access_token"]

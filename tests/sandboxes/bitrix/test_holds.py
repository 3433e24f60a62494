"""Held requests (the ``hold_methods`` fault): a call waits before it runs, or after it ran with its answer kept
back, until the control API releases it; and the counts of error answers (``errors_answered``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox
from bitrix_inflow.sandboxes.bitrix.control_client import ControlError
from waiting import wait_for

from .conftest import Rest


@pytest.fixture
def own_shop() -> Iterator[RunningSandbox]:
    with running_bitrix_sandbox(
        SandboxConfig(profile="site", inventory_management=False), products=5
    ) as running:
        yield running


def in_background(call: Callable[[], httpx.Response]) -> tuple[threading.Thread, list[httpx.Response]]:
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    thread.start()
    return thread, answers


def quantity(shop: RunningSandbox, product_id: int) -> float:
    return float(shop.control.entity("products", product_id)["quantity"])


def test_a_request_held_before_it_runs_changes_nothing_until_released(own_shop: RunningSandbox) -> None:
    rest = Rest(own_shop)
    product = int(own_shop.control.entities("products")[0]["id"])
    own_shop.control.faults(hold_methods=["catalog.product.update"])
    thread, answers = in_background(
        lambda: rest.post("catalog.product.update", {"id": product, "fields": {"quantity": 17}})
    )
    held = wait_for(own_shop.control.holds, "the update to be held")
    assert held[0]["method"] == "catalog.product.update" and held[0]["state"] == "held"
    assert held[0]["stage"] == "before" and not held[0]["finished"]
    assert quantity(own_shop, product) != 17  # not run yet
    assert rest.ok("catalog.product.get", {"id": product})  # other methods pass

    assert own_shop.control.release_holds() == 1
    thread.join(10)
    assert answers[0].status_code == 200 and quantity(own_shop, product) == 17
    assert own_shop.control.holds()[0]["finished"] and own_shop.control.faults()["hold_methods"] == []
    rest.ok("catalog.product.update", {"id": product, "fields": {"quantity": 18}})  # holding is off now
    rest.close()


def test_a_batch_is_held_when_one_of_its_commands_is_and_skip_lets_the_first_through(
    own_shop: RunningSandbox,
) -> None:
    rest = Rest(own_shop)
    first, second = (int(p["id"]) for p in own_shop.control.entities("products")[:2])
    own_shop.control.faults(hold_methods=["catalog.product.update"], hold_skip=1)

    def write(pid: int, qty: int) -> httpx.Response:
        cmd = {"a": "server.time", "b": f"catalog.product.update?id={pid}&fields[quantity]={qty}"}
        return rest.post("batch", {"halt": 0, "cmd": cmd})

    assert write(first, 3).status_code == 200 and quantity(own_shop, first) == 3  # the skipped one
    thread, answers = in_background(lambda: write(second, 4))
    held = wait_for(own_shop.control.holds, "the second batch to be held")
    assert held[0]["method"] == "batch" and held[0]["commands"] == ["catalog.product.update", "server.time"]
    # Dropped: answered 500 without running, as if the shop had failed it.
    assert own_shop.control.release_holds(drop=True) == 1
    thread.join(10)
    assert answers[0].status_code == 500 and answers[0].json()["error"] == "INTERNAL_SERVER_ERROR"
    assert quantity(own_shop, second) != 4
    assert own_shop.control.holds()[0]["state"] == "dropped"
    rest.close()


def test_a_request_held_after_it_ran_has_changed_the_shop_but_not_answered(own_shop: RunningSandbox) -> None:
    rest = Rest(own_shop)
    product = int(own_shop.control.entities("products")[0]["id"])
    own_shop.control.faults(hold_methods=["catalog.product.update"], hold_stage="after")
    thread, answers = in_background(
        lambda: rest.post("catalog.product.update", {"id": product, "fields": {"quantity": 9}})
    )
    wait_for(own_shop.control.holds, "the answer to be held")
    assert quantity(own_shop, product) == 9 and not answers  # done in the shop, the client still waits
    own_shop.control.release_holds(drop=True)  # drop concerns requests not run yet: this one answers
    thread.join(10)
    assert answers[0].status_code == 200 and own_shop.control.holds()[0]["state"] == "released"
    rest.close()


def test_hold_switches_are_checked(own_shop: RunningSandbox) -> None:
    for bad in (
        {"hold_methods": "batch"},
        {"hold_methods": [""]},
        {"hold_stage": "during"},
        {"hold_skip": -1},
    ):
        with pytest.raises(ControlError, match="400"):
            own_shop.control.faults(**bad)
    with pytest.raises(ControlError, match="400"):
        own_shop.control._call("POST", "/holds/release", {"drop": "yes"})
    assert own_shop.control.faults()["hold_methods"] == []


def test_error_answers_are_counted_by_code() -> None:
    with running_bitrix_sandbox(SandboxConfig(profile="bitrix24"), products=2) as shop:
        shop.control.faults(limiter=True, bucket_size=2, drain_per_s=0.01)
        rest = Rest(shop)
        statuses = [rest.post("server.time").status_code for _ in range(4)]
        assert statuses.count(503) == 2
        assert shop.control.info()["errors_answered"] == {"QUERY_LIMIT_EXCEEDED": 2}
        rest.close()

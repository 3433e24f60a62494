"""Paging (reference §1.6): 50 per page, floor(start/50), next/total, start=-1, the >id pattern."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox


@pytest.fixture(scope="module")
def busy_shop() -> Iterator[RunningSandbox]:
    with running_bitrix_sandbox(SandboxConfig(), https=False, products=15, orders=123) as running:
        yield running


@pytest.fixture(scope="module")
def busy(busy_shop: RunningSandbox) -> Iterator[Any]:
    with httpx.Client(timeout=20) as http:

        def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
            response = http.post(busy_shop.webhook_url + method, json=params)
            assert response.status_code == 200, response.text
            return dict(response.json())

        yield call


def ids(body: dict[str, Any]) -> list[int]:
    return [row["id"] for row in body["result"]["orders"]]


def test_first_page_has_50_rows_next_and_total(busy: Any) -> None:
    body = busy("sale.order.list", {"select": ["id"]})
    assert ids(body) == list(range(1, 51))
    assert body["next"] == 50
    assert body["total"] == 123


def test_start_is_rounded_down_to_a_page(busy: Any) -> None:
    body = busy("sale.order.list", {"select": ["id"], "start": 75})
    assert ids(body) == list(range(51, 101))
    assert body["next"] == 100


def test_last_page_has_no_next(busy: Any) -> None:
    body = busy("sale.order.list", {"select": ["id"], "start": 100})
    assert ids(body) == list(range(101, 124))
    assert "next" not in body
    assert body["total"] == 123


def test_start_minus_one_skips_the_count(busy: Any) -> None:
    body = busy("sale.order.list", {"select": ["id"], "start": -1, "order": {"id": "desc"}})
    assert ids(body) == list(range(123, 73, -1))
    assert "next" not in body
    assert "total" not in body


def test_total_zero_variant_for_start_minus_one() -> None:
    with running_bitrix_sandbox(
        SandboxConfig(no_count_total="zero"), https=False, products=3, orders=2
    ) as shop:
        body = httpx.post(shop.webhook_url + "sale.order.list", json={"start": -1}).json()
    assert body["total"] == 0
    assert len(body["result"]["orders"]) == 2


def test_id_cursor_reads_everything_once(busy: Any) -> None:
    seen: list[int] = []
    last = 0
    while True:
        body = busy(
            "sale.order.list",
            {"select": ["id", "statusId"], "filter": {">id": last}, "order": {"id": "asc"}, "start": -1},
        )
        page = ids(body)
        seen.extend(page)
        if len(page) < 50:
            break
        last = page[-1]
    assert seen == list(range(1, 124))


def test_filter_and_order_combine_with_paging(busy: Any) -> None:
    body = busy(
        "sale.order.list", {"select": ["id"], "filter": {"<=id": 60}, "order": {"id": "desc"}, "start": 50}
    )
    assert ids(body) == list(range(10, 0, -1))
    assert body["total"] == 60
    assert "next" not in body


@pytest.mark.parametrize("start", ["1e400", "-1e400", "nan", "abc"])
def test_a_non_finite_or_non_numeric_start_reads_the_first_page(
    busy_shop: RunningSandbox, start: str
) -> None:
    # PHP casts INF/NaN and non-numeric strings to int 0, so such a start is the first page, not a crash.
    response = httpx.get(busy_shop.webhook_url + "sale.order.list", params={"select[]": "id", "start": start})
    assert response.status_code == 200, response.text
    assert ids(response.json()) == list(range(1, 51))

"""The sandbox shop's ``>id`` cursor pages of catalog.product.list (and .offer.list, the same code) with ``order``
id asc and ``start=-1`` are found without copying the whole table (a 100,000-product catalogue cost seconds per
page): they must be the very pages the general listing gives."""

from __future__ import annotations

from typing import Any

import pytest

from bitrix_inflow.sandboxes.bitrix import RunningSandbox

SELECT = ["id", "iblockId", "name", "xmlId", "quantity"]


def _page(rest: Any, method: str, filter_: dict[str, Any], start: int) -> dict[str, Any]:
    params = {"select": SELECT, "filter": filter_, "order": {"id": "asc"}, "start": start}
    return dict(rest.ok(method, params))


@pytest.mark.parametrize(
    ("method", "rows_key", "extra"),
    [
        ("catalog.product.list", "products", {}),
        ("catalog.product.list", "products", {"!xmlId": ""}),
        ("catalog.product.list", "products", {"%name": "a"}),
    ],
)
def test_cursor_pages_are_the_general_listings_pages(
    shop: RunningSandbox, rest: Any, method: str, rows_key: str, extra: dict[str, Any]
) -> None:
    shop.control.seed(catalogue_size=300, seed=3)
    iblock = 23
    every = rest.ok(
        method, {"select": ["id", "iblockId"], "filter": {"iblockId": iblock}, "order": {"id": "asc"}}
    )
    assert len(every["result"][rows_key]) == 50, "more than a page: the cursor pages are full ones"
    last = max(int(row["id"]) for row in shop.control.entities("products"))
    for cursor in (0, 1, 7, last // 2, last - 1, last, last + 100):
        filter_ = {"iblockId": iblock, ">id": cursor, **extra}
        fast = _page(rest, method, filter_, -1)
        general = _page(rest, method, filter_, 0)
        assert fast["result"] == general["result"], cursor
        assert "next" not in fast and "total" not in fast  # start=-1: no count, as before


def test_other_orders_and_offsets_keep_the_general_listing(rest: Any) -> None:
    filter_ = {"iblockId": 23, ">id": 3}
    down = rest.ok(
        "catalog.product.list", {"select": SELECT, "filter": filter_, "order": {"id": "desc"}, "start": -1}
    )["result"]["products"]
    ids = [int(row["id"]) for row in down]
    assert ids == sorted(ids, reverse=True) and min(ids) > 3


def test_offer_pages_skip_rows_of_other_iblocks_the_filter_lets_through(
    shop: RunningSandbox, rest: Any
) -> None:
    shop.control.seed(products=120, offers_per_product=2, seed=3)
    filter_: dict[str, Any] = {
        "iblockId": [23, 24]
    }  # the product iblock too: offer.list still lists offers only
    for cursor in (0, 40, 150):
        fast = _page(rest, "catalog.product.offer.list", {**filter_, ">id": cursor}, -1)["result"]["offers"]
        general = _page(rest, "catalog.product.offer.list", {**filter_, ">id": cursor}, 0)["result"]["offers"]
        assert fast == general and all(int(row["iblockId"]) == 24 for row in fast), cursor
    assert len(_page(rest, "catalog.product.offer.list", {**filter_, ">id": 0}, -1)["result"]["offers"]) == 50

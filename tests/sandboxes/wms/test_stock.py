"""Stock export: availability math, keyset paging without loss or repeats (also while stock changes)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def walk(api, **params):
    items, cursor, pages = [], None, 0
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = api.get("/stock", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return items, pages


def test_available_is_on_hand_minus_reserved_minus_in_picking_over_sellable_bins(wms):
    sku = wms.sku(marked=False)["sku"]
    order = wms.create_ok([{"line_no": 1, "sku": sku, "qty": 7}])
    wms.step(order["id"], 2)  # NEW -> ASSIGNED -> PICKING: 7 units reserved -> in picking
    other = wms.create_ok([{"line_no": 1, "sku": sku, "qty": 3}], ref="B-2-1")  # 3 reserved
    assert other["status"] == "NEW"

    bins, _ = walk(wms.api, sku=sku)
    sellable = [b for b in bins if b["sellable"]]
    assert any(not b["sellable"] for b in bins), "the seed puts some bins into quarantine"
    expected = sum(b["qty_on_hand"] - b["qty_reserved"] - b["qty_in_picking"] for b in sellable)
    assert sum(b["qty_in_picking"] for b in bins) == 7
    assert sum(b["qty_reserved"] for b in bins) == 3

    agg = wms.api.get("/stock", params={"sku": sku, "available_only": "true"}).json()["items"]
    assert agg == [
        {"sku": sku, "warehouse": "MAIN", "qty_available": expected, "updated_at": agg[0]["updated_at"]}
    ]
    quarantine = sum(b["qty_on_hand"] for b in bins if not b["sellable"])
    assert quarantine > 0
    assert expected == sum(b["qty_on_hand"] for b in bins) - quarantine - 10


def test_available_never_below_zero_and_never_counts_quarantine(wms):
    sku = wms.sku(marked=False)["sku"]
    free = wms.stock_of(sku)["qty_available"]
    wms.create_ok([{"line_no": 1, "sku": sku, "qty": free}])
    agg = wms.api.get("/stock", params={"sku": sku, "available_only": "true"}).json()["items"][0]
    assert agg["qty_available"] == 0
    assert wms.create([{"line_no": 1, "sku": sku, "qty": 1}], ref="B-9-1").status_code == 422


def test_paging_returns_every_row_exactly_once(wms):
    wms.seed(skus=57, bins=403)
    rows, pages = walk(wms.api, limit=50)
    keys = [(r["warehouse"], r["bin"], r["sku"]) for r in rows]
    assert len(keys) == 403 and len(set(keys)) == 403
    assert pages == 9
    agg, agg_pages = walk(wms.api, available_only="true", limit=10)
    assert [a["sku"] for a in agg] == sorted({r["sku"] for r in rows})
    assert agg_pages == 6


def test_paging_while_stock_changes_loses_and_repeats_nothing(wms):
    wms.seed(skus=30, bins=300, warehouses=["MAIN", "SPB"])
    before, _ = walk(wms.api, limit=1000)
    initial = {(r["warehouse"], r["bin"], r["sku"]) for r in before}
    seen: list[tuple[str, str, str]] = []
    cursor, step = None, 0
    while True:
        page = wms.api.get("/stock", params={"limit": 37, **({"cursor": cursor} if cursor else {})}).json()
        seen.extend((r["warehouse"], r["bin"], r["sku"]) for r in page["items"])
        step += 1
        # Between pages: reserve, add stock, and open a brand-new bin for an early SKU.
        wms.create_ok([{"line_no": 1, "sku": f"SKU-{step % 30 + 1:06d}", "qty": 1}], ref=f"B-{step}-1")
        wms.ctl.post("/stock", json={"warehouse": "MAIN", "sku": "SKU-000002", "delta": 2}).raise_for_status()
        new_bin = {"warehouse": "SPB", "sku": "SKU-000001", "bin": f"A-0900-{step:03d}", "delta": 4}
        wms.ctl.post("/stock", json=new_bin).raise_for_status()
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "no row is returned twice"
    assert initial <= set(seen), "every row that existed during the whole walk is returned"
    assert step > 10

    seen_skus: list[tuple[str, str]] = []
    cursor = None
    while True:
        params = {"limit": 7, "available_only": "true", **({"cursor": cursor} if cursor else {})}
        page = wms.api.get("/stock", params=params).json()
        seen_skus.extend((r["warehouse"], r["sku"]) for r in page["items"])
        wms.ctl.post(
            "/stock", json={"warehouse": "MAIN", "sku": "SKU-000002", "delta": -1}
        ).raise_for_status()
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen_skus) == len(set(seen_skus)) == 60


def test_updated_since_returns_only_changed_rows(wms):
    first, _ = walk(wms.api, available_only="true")
    mark = max(r["updated_at"] for r in first)
    sku = wms.sku(marked=False)["sku"]
    wms.create_ok([{"line_no": 1, "sku": sku, "qty": 2}])
    delta, _ = walk(wms.api, available_only="true", updated_since=mark)
    changed = [r for r in delta if r["updated_at"] > mark]
    assert [r["sku"] for r in changed] == [sku]
    bins, _ = walk(wms.api, updated_since=changed[0]["updated_at"])
    assert {b["sku"] for b in bins} == {sku}
    assert sum(b["qty_reserved"] for b in bins) == 2
    # An offset other than Z means the same instant.
    moment = datetime.fromisoformat(changed[0]["updated_at"].replace("Z", "+00:00"))
    local = moment.astimezone(timezone(timedelta(hours=3))).isoformat()
    assert local.endswith("+03:00")
    same, _ = walk(wms.api, available_only="true", updated_since=local)
    assert [r["sku"] for r in same] == [sku]


def test_limit_cap_and_cursor_misuse_are_400(wms):
    too_big = wms.api.get("/stock", params={"limit": 1001})
    assert too_big.status_code == 400
    assert too_big.headers["content-type"] == "application/problem+json"
    assert too_big.json()["errors"] == [{"field": "limit", "problem": "must be between 1 and 1000"}]
    page = wms.api.get("/stock", params={"limit": 5}).json()
    other_filters = wms.api.get(
        "/stock", params={"limit": 5, "available_only": "true", "cursor": page["next_cursor"]}
    )
    assert other_filters.status_code == 400
    assert other_filters.json()["errors"][0]["field"] == "cursor"
    garbage = wms.api.get("/stock", params={"cursor": "!!not-a-cursor"})
    assert garbage.status_code == 400
    assert garbage.json()["type"] == "urn:inflow:problem:validation"
    bad_since = wms.api.get("/stock", params={"updated_since": "yesterday"})
    assert bad_since.status_code == 400 and bad_since.json()["errors"][0]["field"] == "updated_since"


def test_warehouse_filter_and_unknown_warehouse(wms):
    wms.seed(warehouses=["MAIN", "SPB"])
    spb, _ = walk(wms.api, warehouse="SPB", available_only="true")
    assert {r["warehouse"] for r in spb} == {"SPB"} and len(spb) == 20
    unknown = wms.api.get("/stock", params={"warehouse": "NOPE"})
    assert unknown.status_code == 422, "an empty page would read as 'all sold out'"
    assert unknown.json()["type"] == "urn:inflow:problem:unknown-warehouse"
    assert unknown.json()["errors"] == [{"field": "warehouse", "problem": "unknown warehouse code"}]

"""Picking orders over HTTP: reservation, duplicates, idempotency, state machine, cancel, changes feed."""

from __future__ import annotations

import threading
import uuid

import pytest

PROBLEM = "urn:inflow:problem:"


def line(sku, qty, no=1, **extra):
    return {"line_no": no, "sku": sku, "qty": qty, **extra}


def test_create_reserves_stock_and_returns_the_order(wms):
    sku = wms.sku(marked=False)["sku"]
    before = wms.stock_of(sku)
    response = wms.create([line(sku, 4)], carrier="CDEK", zone="A")
    assert response.status_code == 201
    order = response.json()
    assert response.headers["location"].endswith(f"/api/v1/orders/{order['id']}")
    assert order["status"] == "NEW" and order["version"] == 1
    assert order["carrier"] == "CDEK" and order["zone"] == "A"
    assert order["lines"] == [
        {
            "line_no": 1,
            "sku": sku,
            "qty": 4,
            "qty_picked": 0,
            "picked_from": [],
            "marked": False,
            "marking_codes": [],
        }
    ]
    after = wms.stock_of(sku)
    assert after["reserved"] == before["reserved"] + 4
    assert after["qty_available"] == before["qty_available"] - 4
    reserved_zones = {s["zone"] for s in after["slots"] if s["qty_reserved"]}
    assert reserved_zones == {"A"}
    assert wms.api.get(f"/orders/{order['id']}").json() == order
    assert wms.api.get(f"/orders/{order['id']}").headers["etag"] == '"1"'


def test_duplicate_external_ref_is_409_with_the_existing_order(wms):
    sku = wms.sku(marked=False)["sku"]
    first = wms.create_ok([line(sku, 1)], ref="B-77-1")
    again = wms.create([line(sku, 2)], ref="B-77-1")
    assert again.status_code == 409
    problem = again.json()
    assert problem["type"] == PROBLEM + "duplicate-external-ref"
    assert problem["existing_order_id"] == first["id"]
    assert wms.stock_of(sku)["reserved"] == 1
    found = wms.api.get("/orders", params={"external_ref": "B-77-1", "warehouse": "MAIN"}).json()
    assert [o["id"] for o in found["items"]] == [first["id"]] and found["next_cursor"] is None
    assert wms.api.get("/orders", params={"external_ref": "B-00-0"}).json()["items"] == []


def test_same_external_ref_in_another_warehouse_is_allowed(wms):
    wms.seed(warehouses=["MAIN", "SPB"])
    sku = wms.sku(marked=False)["sku"]
    a = wms.create_ok([line(sku, 1)], ref="B-5-1")
    b = wms.create_ok([line(sku, 1)], ref="B-5-1", warehouse="SPB")
    assert a["id"] != b["id"]


def test_insufficient_stock_lists_shortages_and_reserves_nothing(wms):
    skus = [s["sku"] for s in wms.skus() if not s["marked"]][:2]
    ok_sku, short_sku = skus
    available = wms.stock_of(short_sku)["qty_available"]
    before = wms.snapshot()
    response = wms.create([line(ok_sku, 1, 1), line(short_sku, available + 5, 2)])
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == PROBLEM + "insufficient-stock"
    assert problem["shortages"] == [{"sku": short_sku, "requested": available + 5, "available": available}]
    assert problem["errors"][0]["field"] == "lines[1].qty"
    assert wms.snapshot() == before


def test_two_lines_of_one_sku_share_the_free_stock(wms):
    sku = wms.sku(marked=False)["sku"]
    available = wms.stock_of(sku)["qty_available"]
    response = wms.create([line(sku, available - 1, 1), line(sku, 2, 2)])
    assert response.status_code == 422
    assert response.json()["shortages"] == [{"sku": sku, "requested": available + 1, "available": available}]


def test_unknown_sku_and_unknown_warehouse(wms):
    before = wms.snapshot()
    unknown = wms.create([line("NOPE-1", 1)])
    assert unknown.status_code == 422
    assert unknown.json()["type"] == PROBLEM + "unknown-sku"
    assert unknown.json()["errors"] == [{"field": "lines[0].sku", "problem": "unknown SKU 'NOPE-1'"}]
    wrong_wh = wms.create([line("SKU-000002", 1)], warehouse="NOWHERE")
    assert wrong_wh.status_code == 422 and wrong_wh.json()["type"] == PROBLEM + "unknown-warehouse"
    quarantine = wms.create([line("SKU-000002", 1)], zone="Q")
    assert quarantine.status_code == 422 and quarantine.json()["errors"][0]["field"] == "zone"
    assert wms.snapshot() == before


class TestIdempotency:
    def test_same_key_same_body_replays_the_stored_response(self, wms):
        sku = wms.sku(marked=False)["sku"]
        body = {
            "external_ref": "B-3-1",
            "customer_order_ref": "3",
            "warehouse": "MAIN",
            "lines": [line(sku, 2)],
        }
        key = str(uuid.uuid4())
        first = wms.api.post("/orders", json=body, headers={"Idempotency-Key": key})
        # Same JSON value, different key order and whitespace.
        raw = '{"lines": [{"qty": 2, "sku": "' + sku + '", "line_no": 1}], "warehouse": "MAIN", '
        raw += '"customer_order_ref": "3",   "external_ref": "B-3-1"}'
        second = wms.api.post(
            "/orders", content=raw, headers={"Idempotency-Key": key, "Content-Type": "application/json"}
        )
        assert first.status_code == second.status_code == 201
        assert second.json() == first.json()
        assert second.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert second.headers["location"] == first.headers["location"]
        assert len(wms.orders()) == 1
        assert wms.stock_of(sku)["reserved"] == 2

    def test_same_key_different_body_is_422(self, wms):
        sku = wms.sku(marked=False)["sku"]
        key = str(uuid.uuid4())
        body = {
            "external_ref": "B-3-1",
            "customer_order_ref": "3",
            "warehouse": "MAIN",
            "lines": [line(sku, 2)],
        }
        assert wms.api.post("/orders", json=body, headers={"Idempotency-Key": key}).status_code == 201
        body["lines"][0]["qty"] = 3
        reused = wms.api.post("/orders", json=body, headers={"Idempotency-Key": key})
        assert reused.status_code == 422
        assert reused.json()["type"] == PROBLEM + "idempotency-key-reused"
        assert wms.stock_of(sku)["reserved"] == 2

    def test_same_key_while_in_flight_is_409_then_replayed(self, wms):
        sku = wms.sku(marked=False)["sku"]
        wms.faults(processing_delay_ms=1500)
        key = str(uuid.uuid4())
        body = {
            "external_ref": "B-4-1",
            "customer_order_ref": "4",
            "warehouse": "MAIN",
            "lines": [line(sku, 1)],
        }
        results = {}

        def send(name):
            results[name] = wms.api.post("/orders", json=body, headers={"Idempotency-Key": key})

        threads = [threading.Thread(target=send, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(r.status_code for r in results.values())
        assert statuses == [201, 409]
        conflict = next(r for r in results.values() if r.status_code == 409)
        assert conflict.json()["type"] == PROBLEM + "idempotency-in-flight"
        wms.faults(processing_delay_ms=0)
        replay = wms.api.post("/orders", json=body, headers={"Idempotency-Key": key})
        assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
        assert len(wms.orders()) == 1

    def test_a_failed_request_does_not_consume_the_key(self, wms):
        sku = wms.sku(marked=False)["sku"]
        key = str(uuid.uuid4())
        body = {
            "external_ref": "B-6-1",
            "customer_order_ref": "6",
            "warehouse": "MAIN",
            "lines": [line(sku, 500)],
        }
        assert wms.api.post("/orders", json=body, headers={"Idempotency-Key": key}).status_code == 422
        wms.ctl.post("/stock", json={"warehouse": "MAIN", "sku": sku, "delta": 600}).raise_for_status()
        retry = wms.api.post("/orders", json=body, headers={"Idempotency-Key": key})
        assert retry.status_code == 201 and "idempotent-replayed" not in retry.headers

    def test_key_must_be_printable_ascii(self, wms):
        sku = wms.sku(marked=False)["sku"]
        body = {
            "external_ref": "B-6-1",
            "customer_order_ref": "6",
            "warehouse": "MAIN",
            "lines": [line(sku, 1)],
        }
        bad = wms.api.post("/orders", json=body, headers={"Idempotency-Key": "x" * 300})
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "Idempotency-Key"
        assert wms.orders() == []


def test_state_machine_moves_stock_and_bumps_version(wms):
    skus = [s["sku"] for s in wms.skus() if not s["marked"]][:2]
    start = {s: wms.stock_of(s) for s in skus}
    order = wms.create_ok([line(skus[0], 3, 1), line(skus[1], 2, 2)])
    seen = [(order["status"], order["version"])]
    for _ in range(6):
        order = wms.step(order["id"])
        seen.append((order["status"], order["version"]))
        if order["status"] == "PICKING" and order["lines"][0]["qty_picked"] == 0:
            in_picking = wms.stock_of(skus[0])
            assert in_picking["reserved"] == start[skus[0]]["reserved"]
            assert in_picking["in_picking"] == start[skus[0]]["in_picking"] + 3
    assert seen == [
        ("NEW", 1),
        ("ASSIGNED", 2),
        ("PICKING", 3),
        ("PICKING", 4),
        ("PICKED", 5),
        ("PACKING", 6),
        ("SHIPPED", 7),
    ]
    assert [ln["qty_picked"] for ln in order["lines"]] == [3, 2]
    assert sum(p["qty"] for p in order["lines"][0]["picked_from"]) == 3
    for sku, qty in zip(skus, (3, 2), strict=True):
        now = wms.stock_of(sku)
        assert now["sellable_on_hand"] == start[sku]["sellable_on_hand"] - qty
        assert now["in_picking"] == start[sku]["in_picking"] and now["reserved"] == start[sku]["reserved"]
        assert now["qty_available"] == start[sku]["qty_available"] - qty
    assert order["tracking"]["carrier"] == "SANDBOX-POST" and order["tracking"]["number"].startswith("TRK")
    status = wms.api.get(f"/orders/{order['id']}/status").json()
    assert status == order
    delivered = wms.step(order["id"])
    assert (delivered["status"], delivered["version"]) == ("DELIVERED", 8)
    assert wms.step(order["id"])["version"] == 8, "a final order does not move"


@pytest.mark.parametrize("status", ["NEW", "ASSIGNED"])
def test_cancel_before_picking_releases_the_reservation(wms, status):
    sku = wms.sku(marked=False)["sku"]
    before = wms.stock_of(sku)
    order = wms.create_ok([line(sku, 5)])
    if status != "NEW":
        wms.advance(order["id"], status)
    response = wms.api.put(f"/orders/{order['id']}/cancel", json={"reason": "customer changed mind"})
    assert response.status_code == 200
    cancelled = response.json()
    assert cancelled["status"] == "CANCELLED" and cancelled["cancel_reason"] == "customer changed mind"
    after = wms.stock_of(sku)
    assert after["qty_available"] == before["qty_available"] and after["reserved"] == before["reserved"]
    again = wms.api.put(f"/orders/{order['id']}/cancel")
    assert again.status_code == 200 and again.json()["version"] == cancelled["version"]


def test_cancel_while_picking_only_before_the_first_pick(wms):
    skus = [s["sku"] for s in wms.skus() if not s["marked"]][:2]
    before = {s: wms.stock_of(s) for s in skus}
    nothing_picked = wms.create_ok([line(skus[0], 1, 1), line(skus[1], 1, 2)], ref="B-1-1")
    wms.advance(nothing_picked["id"], "PICKING")
    ok = wms.api.put(f"/orders/{nothing_picked['id']}/cancel")
    assert ok.status_code == 200 and ok.json()["status"] == "CANCELLED"
    assert {s: wms.stock_of(s)["in_picking"] for s in skus} == {s: before[s]["in_picking"] for s in skus}

    partly = wms.create_ok([line(skus[0], 1, 1), line(skus[1], 1, 2)], ref="B-2-1")
    wms.advance(partly["id"], "PICKING")
    picked_one = wms.step(partly["id"])
    assert picked_one["status"] == "PICKING" and picked_one["lines"][0]["qty_picked"] == 1
    rejected = wms.api.put(f"/orders/{partly['id']}/cancel")
    assert rejected.status_code == 409
    assert rejected.json()["type"] == PROBLEM + "cancel-rejected"
    assert rejected.json()["order_status"] == "PICKING"
    assert wms.api.get(f"/orders/{partly['id']}").json() == picked_one


@pytest.mark.parametrize("status", ["PICKED", "PACKING", "SHIPPED", "DELIVERED"])
def test_cancel_after_picking_is_rejected(wms, status):
    sku = wms.sku(marked=False)["sku"]
    order = wms.create_ok([line(sku, 1)])
    moved = wms.advance(order["id"], status)
    response = wms.api.put(f"/orders/{order['id']}/cancel")
    assert response.status_code == 409
    assert response.json()["type"] == PROBLEM + "cancel-rejected"
    assert response.json()["order_status"] == status
    assert wms.api.get(f"/orders/{order['id']}").json() == moved


def test_cancel_with_stale_if_match_is_412(wms):
    sku = wms.sku(marked=False)["sku"]
    order = wms.create_ok([line(sku, 1)])
    wms.step(order["id"])
    stale = wms.api.put(f"/orders/{order['id']}/cancel", headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["type"] == PROBLEM + "version-mismatch" and stale.json()["current_version"] == 2
    fresh = wms.api.put(f"/orders/{order['id']}/cancel", headers={"If-Match": '"2"'})
    assert fresh.status_code == 200


def test_changes_feed_never_misses_a_change(wms):
    sku = wms.sku(marked=False)["sku"]
    ids = [wms.create_ok([line(sku, 1)], ref=f"B-{i}-1")["id"] for i in range(5)]
    latest: dict[str, int] = {}
    cursor = None

    def poll():
        nonlocal cursor
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = wms.api.get("/orders/changes", params=params).json()
            for order in page["items"]:
                assert order["version"] >= latest.get(order["id"], 0)
                latest[order["id"]] = order["version"]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return

    poll()
    assert set(latest) == set(ids) and set(latest.values()) == {1}
    wms.step(ids[3], 2)
    wms.api.put(f"/orders/{ids[1]}/cancel").raise_for_status()
    wms.step(ids[3])
    poll()
    truth = {o["id"]: o["version"] for o in wms.orders()}
    assert latest == truth
    empty = wms.api.get("/orders/changes", params={"cursor": cursor}).json()
    assert empty == {"items": [], "next_cursor": cursor, "has_more": False}


class TestPickingError:
    def test_position_unavailable_on_a_sku_releases_its_line(self, wms):
        skus = [s["sku"] for s in wms.skus() if not s["marked"]][:2]
        before = {s: wms.stock_of(s) for s in skus}
        wms.faults(picking_error_skus=[skus[1]])
        order = wms.create_ok([line(skus[0], 2, 1), line(skus[1], 3, 2)])
        errored = wms.step(order["id"], 2)
        assert errored["status"] == "PICKING_ERROR"
        assert errored["error"] == {
            "code": "POSITION_UNAVAILABLE",
            "sku": skus[1],
            "bin": None,
            "line_no": 2,
            "reason": f"{skus[1]} is blocked for picking",
        }
        assert wms.stock_of(skus[1])["reserved"] == before[skus[1]]["reserved"]
        assert wms.stock_of(skus[0])["reserved"] == before[skus[0]]["reserved"] + 2
        assert wms.step(order["id"])["version"] == errored["version"], "the order stops there"
        assert wms.api.put(f"/orders/{order['id']}/cancel").status_code == 200
        assert wms.stock_of(skus[0])["reserved"] == before[skus[0]]["reserved"]

    def test_item_not_found_in_a_bin(self, wms):
        sku = wms.sku(marked=False)["sku"]
        order = wms.create_ok([line(sku, 2)])
        rows = wms.api.get("/stock", params={"sku": sku}).json()["items"]
        bad_bin = next(r["bin"] for r in rows if r["qty_reserved"])
        wms.faults(picking_error_bins=[bad_bin])
        picking = wms.advance(order["id"], "PICKING")
        assert wms.stock_of(sku)["in_picking"] == 2
        errored = wms.step(picking["id"])
        assert errored["status"] == "PICKING_ERROR"
        assert errored["error"]["code"] == "ITEM_NOT_FOUND_IN_BIN"
        assert errored["error"]["bin"] == bad_bin and errored["error"]["sku"] == sku
        assert errored["error"]["line_no"] == 1 and bad_bin in errored["error"]["reason"]
        assert wms.stock_of(sku)["in_picking"] == 0
        assert errored["lines"][0]["qty_picked"] == 0

    def test_picking_errors_at_a_rate_are_seeded(self, wms):
        sku = wms.sku(marked=False)["sku"]

        def run():
            wms.seed()
            wms.faults(seed=11, picking_error_rate=0.5)
            outcome = []
            for i in range(8):
                order = wms.create_ok([line(sku, 1)], ref=f"B-{i}-1")
                outcome.append(wms.step(order["id"], 3)["status"])
            return outcome

        first, second = run(), run()
        assert first == second
        assert set(first) == {"PICKED", "PICKING_ERROR"}


def test_order_list_pages_and_filters(wms):
    sku = wms.sku(marked=False)["sku"]
    ids = [wms.create_ok([line(sku, 1)], ref=f"B-{i}-1")["id"] for i in range(5)]
    wms.api.put(f"/orders/{ids[2]}/cancel").raise_for_status()
    seen, cursor = [], None
    while True:
        page = wms.api.get("/orders", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    cancelled = wms.api.get("/orders", params={"status": "CANCELLED"}).json()["items"]
    assert [o["id"] for o in cancelled] == [ids[2]]

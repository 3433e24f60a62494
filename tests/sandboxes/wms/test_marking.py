"""SSCCs and Honest Sign marking codes, checked with biip (an independent GS1 parser)."""

from __future__ import annotations

import pytest
from biip.gs1_messages import GS1Message
from biip.sscc import Sscc

GS = "\x1d"


def ship(wms, lines, ref="B-1-1", **extra):
    order = wms.create_ok(lines, ref=ref, **extra)
    return wms.advance(order["id"], "SHIPPED")


def test_packages_carry_valid_ssccs_and_one_valid_code_per_marked_unit(wms):
    marked = wms.sku(marked=True)
    plain = wms.sku(marked=False)
    order = ship(
        wms, [{"line_no": 1, "sku": marked["sku"], "qty": 12}, {"line_no": 2, "sku": plain["sku"], "qty": 3}]
    )
    ssccs = [p["sscc"] for p in order["packages"]]
    assert len(ssccs) == 2 and len(set(ssccs)) == 2  # 15 units, 10 per package
    for sscc in ssccs:
        parsed = Sscc.parse(sscc)
        assert parsed.value == sscc and parsed.extension_digit == 1
        assert GS1Message.parse("00" + sscc).element_strings[0].sscc is not None

    codes = order["lines"][0]["marking_codes"]
    assert len(codes) == 12 == len(set(codes))
    assert order["lines"][1]["marking_codes"] == []
    for code in codes:
        elements = {e.ai.ai: e.value for e in GS1Message.parse(code).element_strings}
        assert set(elements) == {"01", "21", "91", "92"}
        assert elements["01"] == marked["gtin"]
        crypto = 88 if marked["marking_group"] == "5408" else 44  # shoes carry the long tail
        assert len(elements["21"]) == 13 and len(elements["91"]) == 4 and len(elements["92"]) == crypto
        assert code.count(GS) == 2
    packaged = [
        c for p in order["packages"] for pl in p["lines"] if pl["line_no"] == 1 for c in pl["marking_codes"]
    ]
    assert sorted(packaged) == sorted(codes)
    assert sum(pl["qty"] for p in order["packages"] for pl in p["lines"]) == 15


def test_codes_are_unique_across_orders(wms):
    marked = wms.sku(marked=True)["sku"]
    a = ship(wms, [{"line_no": 1, "sku": marked, "qty": 3}], ref="B-1-1")
    b = ship(wms, [{"line_no": 1, "sku": marked, "qty": 3}], ref="B-2-1")
    identities = [c.split(GS)[0] for o in (a, b) for c in o["lines"][0]["marking_codes"]]
    assert len(identities) == len(set(identities)) == 6
    assert {p["sscc"] for p in a["packages"]}.isdisjoint({p["sscc"] for p in b["packages"]})


def make_code(gtin, serial="5AbCdEfGhIjKl", crypto="A" * 44):
    return f"01{gtin}21{serial}{GS}91EE07{GS}92{crypto}"


def test_codes_sent_with_the_order_are_used_first(wms):
    marked = wms.sku(marked=True)
    given = [make_code(marked["gtin"], "5GivenCode001"), make_code(marked["gtin"], "5GivenCode002")]
    order = wms.create_ok([{"line_no": 1, "sku": marked["sku"], "qty": 3, "marking_codes": given}])
    shipped = wms.advance(order["id"], "PACKING")
    codes = shipped["lines"][0]["marking_codes"]
    assert codes[:2] == given and len(codes) == 3 and codes[2] not in given
    reuse = wms.create(
        [{"line_no": 1, "sku": marked["sku"], "qty": 1, "marking_codes": given[:1]}], ref="B-2-1"
    )
    assert reuse.status_code == 422
    assert reuse.json()["errors"] == [
        {"field": "lines[0].marking_codes[0]", "problem": "this code is already used by another order"}
    ]


def test_codes_of_a_cancelled_order_can_be_sent_again(wms):
    marked = wms.sku(marked=True)
    given = [make_code(marked["gtin"], "5ReusedCode01")]
    first = wms.create_ok(
        [{"line_no": 1, "sku": marked["sku"], "qty": 1, "marking_codes": given}], ref="B-1-1"
    )
    wms.api.put(f"/orders/{first['id']}/cancel").raise_for_status()
    again = wms.create_ok(
        [{"line_no": 1, "sku": marked["sku"], "qty": 1, "marking_codes": given}], ref="B-1-2"
    )
    assert wms.advance(again["id"], "PACKING")["lines"][0]["marking_codes"] == given


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda gtin: make_code("04600000000999"), "GTIN 04600000000999 has a wrong check digit"),
        (lambda gtin: make_code(gtin).replace(GS, ""), "ended by GS"),
        (lambda gtin: make_code(gtin, crypto="A" * 10), "verification part must be 91 + 4"),
        (lambda gtin: make_code(gtin, serial="5 space"), "serial must be 1..20 characters"),
        (lambda gtin: make_code("04609999999997"), "is not the GTIN"),
    ],
)
def test_bad_codes_are_rejected_with_the_reason(wms, mutate, problem):
    marked = wms.sku(marked=True)
    before = wms.snapshot()
    response = wms.create(
        [{"line_no": 1, "sku": marked["sku"], "qty": 1, "marking_codes": [mutate(marked["gtin"])]}]
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["type"] == "urn:inflow:problem:invalid-marking-code"
    assert body["errors"][0]["field"] == "lines[0].marking_codes[0]"
    assert problem in body["errors"][0]["problem"]
    assert wms.snapshot() == before


def test_codes_for_an_unmarked_sku_or_more_than_qty_are_rejected(wms):
    marked, plain = wms.sku(marked=True), wms.sku(marked=False)
    unmarked = wms.create(
        [{"line_no": 1, "sku": plain["sku"], "qty": 1, "marking_codes": [make_code(plain["gtin"])]}]
    )
    assert unmarked.status_code == 422 and "not a marked product" in unmarked.json()["errors"][0]["problem"]
    codes = [make_code(marked["gtin"], f"5TooMany{i:05d}") for i in range(2)]
    too_many = wms.create([{"line_no": 1, "sku": marked["sku"], "qty": 1, "marking_codes": codes}])
    assert too_many.status_code == 422 and "more codes than qty" in too_many.json()["errors"][0]["problem"]


def test_scanning_faults_spoil_the_last_unit_of_a_line_as_asked(wms):
    marked = wms.sku(marked=True)["sku"]
    earlier = ship(wms, [{"line_no": 1, "sku": marked, "qty": 2}], ref="B-10-1")["lines"][0]["marking_codes"]
    wms.faults(marking_missing_skus=[marked])
    missing = ship(wms, [{"line_no": 1, "sku": marked, "qty": 3}], ref="B-11-1")
    assert len(missing["lines"][0]["marking_codes"]) == 2  # the third unit left without a code
    assert sum(pl["qty"] for p in missing["packages"] for pl in p["lines"]) == 3
    wms.faults(marking_missing_skus=[], marking_repeat_skus=[marked])
    repeated = ship(wms, [{"line_no": 1, "sku": marked, "qty": 3}], ref="B-12-1")["lines"][0]["marking_codes"]
    assert len(repeated) == 3 and repeated[2] == repeated[0] and repeated[1] != repeated[0]
    wms.faults(marking_repeat_skus=[], marking_reuse_skus=[marked])
    reused = ship(wms, [{"line_no": 1, "sku": marked, "qty": 2}], ref="B-13-1")["lines"][0]["marking_codes"]
    assert reused[1] == earlier[0] and reused[0] not in earlier


def test_a_return_puts_units_back_and_is_read_from_the_returns_feed(wms):
    marked = wms.sku(marked=True)
    plain = wms.sku(marked=False)
    lines = [{"line_no": 1, "sku": marked["sku"], "qty": 3}, {"line_no": 2, "sku": plain["sku"], "qty": 2}]
    order = ship(wms, lines, ref="B-20-1")
    codes = order["lines"][0]["marking_codes"]
    before = wms.stock_of(marked["sku"])["qty_available"]
    refused = wms.ctl.post(
        f"/orders/{order['id']}/return",
        json={"lines": [{"line_no": 1, "qty": 2, "disposition": "restock", "marking_codes": [codes[0]]}]},
    )
    assert refused.status_code == 400 and "one code per unit" in refused.text
    got = wms.ctl.post(
        f"/orders/{order['id']}/return",
        json={
            "lines": [
                {"line_no": 1, "qty": 1, "disposition": "restock", "marking_codes": [codes[1]]},
                {"line_no": 2, "qty": 1, "disposition": "quarantine"},
            ]
        },
    )
    assert got.status_code == 201, got.text
    assert wms.stock_of(marked["sku"])["qty_available"] == before + 1  # restocked: sellable again
    again = wms.ctl.post(
        f"/orders/{order['id']}/return",
        json={"lines": [{"line_no": 1, "qty": 1, "disposition": "restock", "marking_codes": [codes[1]]}]},
    )
    assert again.status_code == 400 and "came back already" in again.text
    page = wms.api.get("/returns").json()
    (received,) = page["items"]
    assert received["order_id"] == order["id"] and received["external_ref"] == "B-20-1"
    assert [(ln["line_no"], ln["qty"], ln["disposition"]) for ln in received["lines"]] == [
        (1, 1, "restock"),
        (2, 1, "quarantine"),
    ]
    assert received["lines"][0]["marking_codes"] == [codes[1]]
    assert received["lines"][1]["bin"].startswith("Q-")
    empty = wms.api.get("/returns", params={"cursor": page["next_cursor"]}).json()
    assert empty["items"] == [] and empty["has_more"] is False

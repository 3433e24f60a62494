"""The marking ledger for a person or an auditor: filters checked before anything is read (each naming the field
and the fix), units found by code, identity or package, exported as CSV and JSON with the codes whole (GS kept)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from sqlalchemy import Engine

from bitrix_inflow.errors import ValidationError
from bitrix_inflow.ops import marking as ops
from bitrix_inflow.store import incidents
from bitrix_inflow.store import marking as ledger

GS = "\x1d"
GTIN = "04620070000043"
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


def code(serial: str) -> str:
    return f"01{GTIN}21{serial}{GS}91EE06{GS}92" + "Q" * 88


@pytest.fixture
def filled(engine: Engine) -> Engine:
    units = [
        ledger.Unit(f"01{GTIN}21{s}", code(s), GTIN, order, f"B-{order}-1-1", 70 + order, 700 + order, sscc)
        for s, order, sscc in (
            ("5AAAAAAAAAAA1", 7, "146012340000000014"),
            ("5AAAAAAAAAAA2", 7, "146012340000000014"),
            ("5AAAAAAAAAAA3", 8, "146012340000000021"),
        )
    ]
    with engine.begin() as conn:
        ledger.record_shipped(conn, "default", units[:2], now=NOW)
        ledger.record_shipped(conn, "default", units[2:], now=NOW + dt.timedelta(days=1))
        ledger.move(conn, "default", [units[1].identity], state="returned", now=NOW)
    return engine


def test_units_are_found_by_code_identity_package_order_and_date(filled: Engine) -> None:
    def found(**given: object) -> list[str]:
        return [u.identity[-3:] for u in ops.units(filled, "default", ops.filters(**given))]  # type: ignore[arg-type]

    assert found(code="]d2" + code("5AAAAAAAAAAA2").replace(GS, "<GS>")) == ["AA2"]  # as a scanner spells it
    assert found(code=f"01{GTIN}215AAAAAAAAAAA3") == ["AA3"]  # the identity alone
    assert found(sscc="(00)146012340000000014") == ["AA1", "AA2"]
    assert found(order_id=8) == ["AA3"]
    assert found(since="2026-12-03") == ["AA3"]
    assert found(until="2026-12-03T00:00:00+00:00") == ["AA1", "AA2"]
    assert found(gtin="4620070000043") == ["AA1", "AA2", "AA3"]  # an EAN-13 is its GTIN-14 padded


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-12-02", "until": "2026-12-01"}, "until"),
        ({"gtin": "46200700000"}, "gtin"),
        ({"code": "not a code"}, "code"),
        ({"sscc": "123"}, "sscc"),
        ({"order_id": 0}, "order"),
    ],
)
def test_a_bad_filter_names_the_field_and_the_fix(given: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        ops.filters(**given)  # type: ignore[arg-type]
    assert raised.value.field == field and raised.value.fix


def test_csv_and_json_carry_every_unit_with_its_full_code(filled: Engine) -> None:
    units = ops.units(filled, "default", ops.filters())
    as_csv = io.StringIO()
    ops.write(units, "csv", as_csv)
    rows = list(csv.DictReader(io.StringIO(as_csv.getvalue())))
    assert [r["state"] for r in rows] == ["shipped", "returned", "shipped"]
    assert rows[0]["code"] == code("5AAAAAAAAAAA1") and GS in rows[0]["code"]
    assert (
        rows[0]["sscc"] == "146012340000000014"
        and rows[0]["order_id"] == "7"
        and rows[0]["basket_id"] == "707"
    )
    as_json = io.StringIO()
    ops.write(units, "json", as_json)
    document = json.loads(as_json.getvalue())
    assert document["count"] == 3 and [u["code"] for u in document["units"]] == [r["code"] for r in rows]
    assert "\\u001d" in as_json.getvalue()  # JSON carries GS as its escape
    with pytest.raises(ValidationError):
        ops.write(units, "xml", io.StringIO())


def test_a_receipt_the_fiscal_operator_rejected_marks_its_units_and_tells_the_manager_once(
    filled: Engine,
) -> None:
    rejected = ops.reject_receipt(
        filled, "default", [code("5AAAAAAAAAAA1")], reason="code blocked in GIS MT", actor="cli:anna", now=NOW
    )
    assert [u.identity for u in rejected.units] == [f"01{GTIN}215AAAAAAAAAAA1"] and len(
        rejected.incidents
    ) == 1
    with filled.connect() as conn:
        states = {u.identity[-3:]: u.state for u in ledger.listed(conn, "default")}
        (incident,) = [i for i in incidents.of_order(conn, "default", 7) if i.kind == "receipt_rejected"]
    assert states == {"AA1": "receipt_rejected", "AA2": "returned", "AA3": "shipped"}
    assert incident.detail["why"] == "code blocked in GIS MT" and incident.notice_state == "pending"
    # Bad input changes nothing: a returned unit, an unknown code, no reason.
    for bad_codes, reason, field in (
        ([code("5AAAAAAAAAAA2")], "blocked", "code"),
        ([code("5ZZZZZZZZZZZ9")], "blocked", "code"),
        ([code("5AAAAAAAAAAA3"), "garbage"], "blocked", "code"),
        ([code("5AAAAAAAAAAA3")], " ", "reason"),
        ([], "blocked", "code"),
    ):
        with pytest.raises(ValidationError) as raised:
            ops.reject_receipt(filled, "default", bad_codes, reason=reason, actor="cli:anna", now=NOW)
        assert raised.value.field == field and raised.value.fix
    with filled.connect() as conn:
        assert {u.identity[-3:]: u.state for u in ledger.listed(conn, "default")} == states

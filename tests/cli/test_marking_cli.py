"""``bitrix-inflow marking find|export`` as an operator or an auditor uses it: units found by code or package, the
ledger written as CSV or JSON with whole codes, and bad filters refused with the field and the fix."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from pathlib import Path

import pytest

from bitrix_inflow.config.settings import DEFAULT_SQLITE_URL
from bitrix_inflow.store import marking as ledger
from bitrix_inflow.store.engine import make_engine

sys.path.insert(0, str(Path(__file__).parent))
from cli_runner import cli

GS = "\x1d"
GTIN = "04620070000043"
NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


def code(serial: str) -> str:
    return f"01{GTIN}21{serial}{GS}91EE06{GS}92" + "Z" * 88


@pytest.fixture
def shop_folder(tmp_path: Path) -> Path:
    assert cli("db", "upgrade", cwd=tmp_path).returncode == 0
    engine = make_engine(DEFAULT_SQLITE_URL.replace("sqlite:///", f"sqlite:///{tmp_path}/"))
    units = [
        ledger.Unit(f"01{GTIN}21{s}", code(s), GTIN, 41, "B-41-1-1", 410, 4101, "146012340000000014")
        for s in ("5CLICLICLI001", "5CLICLICLI002")
    ]
    with engine.begin() as conn:
        ledger.record_shipped(conn, "default", units, now=NOW)
    engine.dispose()
    return tmp_path


def test_find_and_export_as_csv_and_json(shop_folder: Path) -> None:
    found = cli("marking", "find", "--code", code("5CLICLICLI002").replace(GS, "<GS>"), cwd=shop_folder)
    assert found.returncode == 0, found.stderr
    assert "5CLICLICLI002" in found.stdout and "5CLICLICLI001" not in found.stdout
    assert cli("marking", "find", "--order", "99", cwd=shop_folder).returncode == 1  # none found

    exported = cli("marking", "export", "--format", "csv", "-o", "ledger.csv", cwd=shop_folder)
    assert exported.returncode == 0, exported.stderr
    with (shop_folder / "ledger.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["code"] for r in rows] == [code("5CLICLICLI001"), code("5CLICLICLI002")]
    as_json = cli("marking", "export", "--format", "json", "--order", "41", cwd=shop_folder)
    assert as_json.returncode == 0, as_json.stderr
    assert [u["identity"] for u in json.loads(as_json.stdout)["units"]] == [r["identity"] for r in rows]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["export", "--format", "xml"], "--format"),
        (["export", "--since", "last week"], "since"),
        (["find", "--gtin", "12ab"], "gtin"),
        (["find", "--sscc", "000"], "sscc"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(shop_folder: Path, args: list[str], named: str) -> None:
    done = cli("marking", *args, cwd=shop_folder)
    assert done.returncode == 1
    assert named in done.stderr
    assert "fix" in done.stderr or "use csv or json" in done.stderr  # and what to do instead
    assert not (shop_folder / "ledger.csv").exists()

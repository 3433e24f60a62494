"""``bitrix-inflow mapping …`` as an operator uses it, and the table's storage on both databases."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bitrix_inflow.domain.status_mapping import DEFAULT_MAPPING
from bitrix_inflow.store import status_map

sys.path.insert(0, str(Path(__file__).parent))
from cli_runner import cli


@pytest.fixture
def shop_dir(tmp_path: Path) -> Path:
    assert cli("db", "upgrade", cwd=tmp_path).returncode == 0
    return tmp_path


def test_the_migration_seeds_the_brief_table(engine: Engine) -> None:
    with engine.connect() as conn:
        assert dict(status_map.load(conn, "default").entries) == dict(DEFAULT_MAPPING)


def test_replace_swaps_the_whole_table(engine: Engine) -> None:
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        status_map.replace(conn, "default", {"NEW": "N", "PICKING_ERROR": "E"}, now=now, by="test")
    with engine.connect() as conn:
        assert dict(status_map.load(conn, "default").entries) == {"NEW": "N", "PICKING_ERROR": "E"}


def test_every_change_is_audited_with_who_when_old_and_new(engine: Engine) -> None:
    t1, t2 = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC), dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
    with engine.begin() as conn:
        status_map.set_entry(conn, "default", "PICKING_ERROR", "E", now=t1, by="anna")
        status_map.set_entry(conn, "default", "PICKING_ERROR", "E", now=t1, by="anna")  # no change: no record
        status_map.replace(
            conn, "default", {**DEFAULT_MAPPING, "PICKING_ERROR": "W", "SHIPPED": "S"}, now=t2, by="ivan"
        )
    with engine.connect() as conn:
        changes = [(c.inflow_status, c.old, c.new, c.changed_by) for c in status_map.history(conn, "default")]
    assert sorted(changes[:2]) == [("PICKING_ERROR", "E", "W", "ivan"), ("SHIPPED", "D", "S", "ivan")]
    assert changes[2:] == [("PICKING_ERROR", None, "E", "anna")]


def test_show_set_unset(shop_dir: Path) -> None:
    shown = cli("mapping", "show", cwd=shop_dir)
    assert shown.returncode == 0
    assert "NEW" in shown.stdout and "PICKING_ERROR" in shown.stdout and "(unchanged)" in shown.stdout
    assert cli("mapping", "set", "picking_error", "e", cwd=shop_dir).returncode == 0
    assert cli("mapping", "unset", "CANCELLED", cwd=shop_dir).returncode == 0
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in cli("mapping", "show", cwd=shop_dir).stdout.splitlines()
        if line.count("│") == 3
    }
    assert rows["PICKING_ERROR"] == "E" and rows["CANCELLED"] == "(unchanged)" and rows["NEW"] == "P"
    history = cli("mapping", "history", cwd=shop_dir)
    assert history.returncode == 0
    assert (
        "PICKING_ERROR" in history.stdout and "CANCELLED" in history.stdout and "(unmapped)" in history.stdout
    )


def test_bad_values_are_refused_with_the_fix_and_change_nothing(shop_dir: Path) -> None:
    refused = cli("mapping", "set", "SHORT_PICK", "processing", cwd=shop_dir)
    assert refused.returncode == 1
    assert "SHORT_PICK: is not an Inflow status" in refused.stderr
    assert "'PROCESSING' is not a Bitrix status id" in refused.stderr
    assert "nothing was changed" in refused.stderr
    assert "SHORT_PICK" not in cli("mapping", "show", cwd=shop_dir).stdout
    not_a_status = cli("mapping", "unset", "short_pick", cwd=shop_dir)
    assert not_a_status.returncode == 1 and "SHORT_PICK: is not an Inflow status" in not_a_status.stderr


def test_export_then_import_round_trips_and_a_bad_file_changes_nothing(shop_dir: Path) -> None:
    exported = shop_dir / "mapping.toml"
    assert cli("mapping", "set", "PICKING_ERROR", "E", cwd=shop_dir).returncode == 0
    assert cli("mapping", "export", str(exported), cwd=shop_dir).returncode == 0
    text = exported.read_text()
    assert 'PICKING_ERROR = "E"' in text and "# PICKED = (unchanged)" in text
    before = cli("mapping", "show", cwd=shop_dir).stdout

    bad = shop_dir / "bad.toml"
    bad.write_text('[statuses]\nNEW = "N"\nSHIPED = "D"\nDELIVERED = 5\n')
    refused = cli("mapping", "import", str(bad), cwd=shop_dir)
    assert refused.returncode == 1 and "2 problem(s)" in refused.stderr
    assert "SHIPED" in refused.stderr and "DELIVERED" in refused.stderr
    assert cli("mapping", "show", cwd=shop_dir).stdout == before

    assert cli("mapping", "import", str(shop_dir / "missing.toml"), cwd=shop_dir).returncode == 1
    wrong_shape = shop_dir / "shape.toml"
    wrong_shape.write_text('NEW = "P"\n')
    assert "exactly one [statuses] table" in cli("mapping", "import", str(wrong_shape), cwd=shop_dir).stderr

    assert cli("mapping", "unset", "PICKING_ERROR", cwd=shop_dir).returncode == 0
    imported = cli("mapping", "import", str(exported), cwd=shop_dir)
    assert imported.returncode == 0 and "imported 6 mappings" in imported.stdout
    assert cli("mapping", "show", cwd=shop_dir).stdout == before


def test_mapping_refuses_an_outdated_database(tmp_path: Path) -> None:
    result = cli("mapping", "show", cwd=tmp_path)
    assert result.returncode == 2 and "bitrix-inflow db upgrade" in result.stderr


def test_an_unknown_tenant_is_named_with_the_known_ones(shop_dir: Path) -> None:
    for args in (("show",), ("set", "NEW", "P"), ("export", "mapping.toml")):
        typo = cli("mapping", *args, "--connection", "nroth", cwd=shop_dir)
        assert typo.returncode == 2, (args, typo.stdout, typo.stderr)
        assert "--connection nroth: no such tenant; the configured ones are: default" in typo.stderr
        assert "Traceback" not in typo.stderr

"""``bitrix-inflow products import|unmatched`` as an operator uses them."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from bitrix_inflow.store import stock
from bitrix_inflow.store.engine import make_engine

sys.path.insert(0, str(Path(__file__).parent))
from cli_runner import cli


def test_import_then_a_bad_file_changes_nothing(tmp_path: Path) -> None:
    assert cli("db", "upgrade", cwd=tmp_path).returncode == 0
    good = tmp_path / "products.csv"
    good.write_text("sku;product_id\nMUG-1;12\nCUP-2;13\n", encoding="utf-8")
    result = cli("products", "import", str(good), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "imported 2" in result.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text("sku,product_id\nMUG-1,x\nMUG-1,14\nCUP-2,14\n", encoding="utf-8")
    refused = cli("products", "import", str(bad), cwd=tmp_path)
    assert refused.returncode == 1
    assert "2 problem(s)" in refused.stderr and "line 2: product_id" in refused.stderr
    assert "nothing was changed" in refused.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'bitrix-inflow.db'}")
    with engine.connect() as conn:
        assert stock.load_product_table(conn, "default") == {"MUG-1": 12, "CUP-2": 13}
    engine.dispose()


def test_unmatched_lists_both_sides_and_fails_when_there_is_anything(tmp_path: Path) -> None:
    assert cli("db", "upgrade", cwd=tmp_path).returncode == 0
    clean = cli("products", "unmatched", cwd=tmp_path)
    assert clean.returncode == 0 and "every warehouse SKU" in clean.stdout
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'bitrix-inflow.db'}")
    with engine.begin() as conn:
        stock.replace_unmatched(
            conn,
            "default",
            [
                stock.Unmatched("warehouse", "SKU-404", "no shop product carries it"),
                stock.Unmatched("shop", "77", "x"),
            ],
            now=dt.datetime.now(dt.UTC),
            sides=["warehouse", "shop"],
        )
    engine.dispose()
    listed = cli("products", "unmatched", cwd=tmp_path)
    assert listed.returncode == 1
    assert "SKU-404" in listed.stdout and "warehouse SKU without a shop product" in listed.stdout
    assert "shop product without a warehouse SKU" in listed.stdout

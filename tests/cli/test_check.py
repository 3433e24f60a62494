"""``bitrix-inflow check`` against the sandbox shop, as an operator runs it after configuring."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bitrix_inflow.sandboxes import wms
from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox

sys.path.insert(0, str(Path(__file__).parent))
from cli_runner import cli


@pytest.fixture(scope="module")
def shop() -> Iterator[RunningSandbox]:
    with running_bitrix_sandbox(SandboxConfig(profile="site"), products=3) as running:
        yield running


@pytest.fixture(scope="module")
def warehouse() -> Iterator[wms.RunningSandbox]:
    with wms.run_in_process(wms.SandboxSettings(skus=5, bins=20, seed=3, qty_min=1)) as running:
        yield running


def run_check(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return cli("check", cwd=tmp_path, env=env, timeout=120)


def test_check_passes_with_a_good_webhook(shop: RunningSandbox, tmp_path: Path) -> None:
    result = run_check(
        tmp_path,
        {
            "BITRIX_INFLOW__BITRIX__WEBHOOK_URL": shop.webhook_url,
            "BITRIX_INFLOW__BITRIX__VERIFY": str(shop.ca_file),
            "BITRIX_INFLOW__STOCK__STORES": '{"MAIN": 1}',  # the sandbox shop keeps stock by documents
            "BITRIX_INFLOW__BITRIX__MANAGER_USER_ID": "2",
        },
    )
    bitrix_lines = [line for line in result.stdout.splitlines() if line.startswith("│ bitrix")]
    assert any("reachable and authorised" in line and "✓" in line for line in bitrix_lines), result.stdout
    assert any(
        "manager" in line and "✓" in line and "user 2 gets notifications" in line for line in bitrix_lines
    )
    assert any("order statuses" in line and "✓" in line and "N, P" in line for line in bitrix_lines)
    assert not any("✗" in line for line in bitrix_lines), result.stdout


def test_check_says_who_is_told_of_incidents_when_no_manager_is_set(
    shop: RunningSandbox, tmp_path: Path
) -> None:
    result = run_check(
        tmp_path,
        {
            "BITRIX_INFLOW__BITRIX__WEBHOOK_URL": shop.webhook_url,
            "BITRIX_INFLOW__BITRIX__VERIFY": str(shop.ca_file),
        },
    )
    assert result.returncode == 1
    assert "no [bitrix] manager_user_id" in result.stdout and "MANAGER_USER_ID" in result.stdout


def test_check_names_missing_scopes(shop: RunningSandbox, tmp_path: Path) -> None:
    shop.control.add_webhook(user_id=1, code="salesonly42", scopes=["sale"])
    url = f"{shop.base_url}/rest/1/salesonly42/"
    result = run_check(
        tmp_path,
        {"BITRIX_INFLOW__BITRIX__WEBHOOK_URL": url, "BITRIX_INFLOW__BITRIX__VERIFY": str(shop.ca_file)},
    )
    assert result.returncode == 1
    assert "missing catalog, im" in result.stdout and "tick these scopes" in result.stdout


def test_check_reports_a_wrong_webhook_code_without_leaking_it(shop: RunningSandbox, tmp_path: Path) -> None:
    url = f"{shop.base_url}/rest/1/wrongcode12345/"
    result = run_check(
        tmp_path,
        {"BITRIX_INFLOW__BITRIX__WEBHOOK_URL": url, "BITRIX_INFLOW__BITRIX__VERIFY": str(shop.ca_file)},
    )
    assert result.returncode == 1
    assert "AuthError" in result.stdout
    assert "wrongcode12345" not in result.stdout + result.stderr


def test_check_without_configuration_says_what_to_set(tmp_path: Path) -> None:
    result = run_check(tmp_path, {})
    assert result.returncode == 1
    assert "BITRIX_INFLOW__BITRIX__WEBHOOK_URL" in result.stdout
    assert "BITRIX_INFLOW__INFLOW__API_KEY" in result.stdout
    assert "no [bitrix] section" in result.stdout and "no [inflow] section" in result.stdout


def test_check_passes_with_a_reachable_warehouse(warehouse: wms.RunningSandbox, tmp_path: Path) -> None:
    env = {
        "BITRIX_INFLOW__INFLOW__BASE_URL": warehouse.base_url,
        "BITRIX_INFLOW__INFLOW__API_KEY": "sandbox-key",
    }
    result = run_check(tmp_path, env)
    inflow_lines = [line for line in result.stdout.splitlines() if line.startswith("│ inflow")]
    assert any("reachable and authorised" in line and "✓" in line for line in inflow_lines), result.stdout
    assert any("stock of MAIN" in line and "first SKU" in line for line in inflow_lines), result.stdout
    assert not any("✗" in line for line in inflow_lines), result.stdout


def test_check_reports_a_wrong_key_and_an_unknown_warehouse(
    warehouse: wms.RunningSandbox, tmp_path: Path
) -> None:
    env = {
        "BITRIX_INFLOW__INFLOW__BASE_URL": warehouse.base_url,
        "BITRIX_INFLOW__INFLOW__API_KEY": "not-the-key",
    }
    result = run_check(tmp_path, env)
    assert result.returncode == 1 and "AuthError" in result.stdout
    assert "not-the-key" not in result.stdout + result.stderr
    env["BITRIX_INFLOW__INFLOW__API_KEY"] = "sandbox-key"
    env["BITRIX_INFLOW__INFLOW__WAREHOUSE"] = "NORTH"
    result = run_check(tmp_path, env)
    assert result.returncode == 1 and "stock of NORTH" in result.stdout and "✗" in result.stdout


def test_check_verifies_the_status_mapping_against_the_shop(shop: RunningSandbox, tmp_path: Path) -> None:
    def mapping_lines() -> list[str]:
        env = {
            "BITRIX_INFLOW__BITRIX__WEBHOOK_URL": shop.webhook_url,
            "BITRIX_INFLOW__BITRIX__VERIFY": str(shop.ca_file),
        }
        out = run_check(tmp_path, env).stdout
        assert any(
            "│ state" in line and "schema current" in line and "✓" in line for line in out.splitlines()
        ), out
        return [line for line in out.splitlines() if line.startswith("│ mapping")]

    def ok(*args: str) -> None:
        done = cli(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr

    ok("db", "upgrade")
    lines = mapping_lines()
    assert any("statuses exist in the shop" in line and "✓" in line for line in lines), lines
    assert any(
        "PICKING_ERROR" in line and "✗" in line and "mapping set PICKING_ERROR E" in line for line in lines
    )

    ok("mapping", "set", "PICKED", "X1")
    assert any(
        "PICKED → X1" in line and "✗" in line and "no order status X1" in line for line in mapping_lines()
    )

    shop.control.add_status("E", "Picking error")
    ok("mapping", "unset", "PICKED")
    ok("mapping", "set", "PICKING_ERROR", "E")
    lines = mapping_lines()
    assert lines and not any("✗" in line for line in lines), lines


def test_check_reads_the_stock_mode_and_asks_for_a_store_per_warehouse(
    shop: RunningSandbox, tmp_path: Path
) -> None:
    env = {
        "BITRIX_INFLOW__BITRIX__WEBHOOK_URL": shop.webhook_url,
        "BITRIX_INFLOW__BITRIX__VERIFY": str(shop.ca_file),
    }
    unmapped = run_check(tmp_path, env)
    line = next(line for line in unmapped.stdout.splitlines() if "stock mode" in line)
    assert "✗" in line and unmapped.returncode == 1
    assert "[stock] stores" in unmapped.stdout and "MAIN" in unmapped.stdout
    wrong = run_check(tmp_path, {**env, "BITRIX_INFLOW__STOCK__STORES": '{"MAIN": 999}'})
    assert "store id(s) 999 do not exist" in wrong.stdout
    mapped = run_check(tmp_path, {**env, "BITRIX_INFLOW__STOCK__STORES": '{"MAIN": 1}'})
    assert any("stock mode" in ln and "✓" in ln for ln in mapped.stdout.splitlines()), mapped.stdout
    shop.control.settings(inventory_management=False)
    try:
        quantities = run_check(tmp_path, env)
        assert any(
            "stock mode" in ln and "✓" in ln and "quantities" in ln for ln in quantities.stdout.splitlines()
        )
    finally:
        shop.control.settings(inventory_management=True)


def test_check_says_whether_marking_codes_can_reach_the_shop(shop: RunningSandbox, tmp_path: Path) -> None:
    base = {
        "BITRIX_INFLOW__BITRIX__WEBHOOK_URL": shop.webhook_url,
        "BITRIX_INFLOW__BITRIX__VERIFY": str(shop.ca_file),
        "BITRIX_INFLOW__STOCK__STORES": '{"MAIN": 1}',
        "BITRIX_INFLOW__BITRIX__MANAGER_USER_ID": "2",
    }
    good = [ln for ln in run_check(tmp_path, base).stdout.splitlines() if "marking codes" in ln]
    assert good and "✓" in good[0] and "companion module answers" in good[0]
    with running_bitrix_sandbox(SandboxConfig(profile="site", companion_module=False), products=1) as bare:
        env = {
            **base,
            "BITRIX_INFLOW__BITRIX__WEBHOOK_URL": bare.webhook_url,
            "BITRIX_INFLOW__BITRIX__VERIFY": str(bare.ca_file),
        }
        result = run_check(tmp_path, env)
        # Said absent (a cloud shop): the catalog properties must stand in for it, and check says so.
        declared = {**env, "BITRIX_INFLOW__MARKING__COMPANION_MODULE": "false"}
        unset = run_check(tmp_path, declared)
        keys = {
            **declared,
            "BITRIX_INFLOW__MARKING__GROUP_PROPERTY": "property103",
            "BITRIX_INFLOW__MARKING__GTIN_PROPERTY": "property102",
            "BITRIX_INFLOW__MARKING__OFFER_GTIN_PROPERTY": "property112",
        }
        with_keys = run_check(tmp_path, keys)
    missing = [ln for ln in result.stdout.splitlines() if "marking codes" in ln]
    assert result.returncode == 1
    assert missing and "✗" in missing[0] and "install bitrix-module" in result.stdout.replace("\n", " ")
    flat = unset.stdout.replace("\n", " ")
    assert unset.returncode == 1 and "group_property and gtin_property" in flat
    fine = [ln for ln in with_keys.stdout.splitlines() if "marking codes" in ln]
    assert fine and "✓" in fine[0] and "order lines" in with_keys.stdout.replace("\n", " ")

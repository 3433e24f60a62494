"""Tenant files: each ``<id>.toml`` in ``[tenants] dir`` is a shop/warehouse pair of its own; the deployment's
sections stay the main file's, a tenant's secrets come from its own variables, and every problem of every file is
named at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bitrix_inflow.config import load_settings
from bitrix_inflow.config.tenants import load_tenants, secret_values
from bitrix_inflow.errors import ConfigError

MAIN = """
[database]
url = "sqlite:///state.db"
[tenants]
dir = "tenants"
[inflow]
base_url = "http://127.0.0.1:9001"
[bitrix]
webhook_url_file = "{hook}"
"""
NORTH = """
[inflow]
base_url = "http://127.0.0.1:9002"
[bitrix]
webhook_url_file = "{hook}"
[schedules]
stock_seconds = 120
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("BITRIX_INFLOW_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("BITRIX_INFLOW__INFLOW__API_KEY", "main-key")
    monkeypatch.setenv("BITRIX_INFLOW_TENANT_NORTH__INFLOW__API_KEY", "north-key")


def deployment(tmp_path: Path, **tenants: str) -> Path:
    (tmp_path / "main.hook").write_text("https://main.example/rest/1/maincode0000001/")
    (tmp_path / "north.hook").write_text("https://north.example/rest/1/northcode000002/")
    main = tmp_path / "bitrix-inflow.toml"
    main.write_text(MAIN.format(hook=tmp_path / "main.hook"))
    (tmp_path / "tenants").mkdir()
    for name, text in tenants.items():
        (tmp_path / "tenants" / f"{name}.toml").write_text(text.format(hook=tmp_path / "north.hook"))
    return main


def test_each_tenant_has_its_own_systems_secrets_and_schedules_and_the_deployments_database(
    tmp_path: Path,
) -> None:
    main = deployment(tmp_path, north=NORTH)
    settings = load_settings(main)
    tenants = load_tenants(settings, main)
    assert list(tenants) == ["default", "north"]
    north = tenants["north"]
    assert north.inflow is not None and north.inflow.api_key is not None
    assert north.inflow.api_key.get_secret_value() == "north-key"  # never the main file's variable
    assert str(north.inflow.base_url).startswith("http://127.0.0.1:9002")
    assert north.schedules.stock_seconds == 120 and tenants["default"].schedules.stock_seconds != 120
    assert north.database == settings.database and north.jobs == settings.jobs
    blanked = secret_values(tenants)
    assert {"main-key", "north-key", "maincode0000001", "northcode000002"} <= set(blanked)


def test_a_tenant_file_naming_a_deployment_section_a_bad_name_or_a_secret_is_refused_with_every_problem(
    tmp_path: Path,
) -> None:
    main = deployment(
        tmp_path,
        north=NORTH + '\n[database]\nurl = "sqlite:///other.db"\n',
        **{
            "South Shop": NORTH,
            "default": NORTH,
            "east": NORTH.replace("[inflow]", '[inflow]\napi_key = "k"'),
        },
    )
    with pytest.raises(ConfigError) as caught:
        load_tenants(load_settings(main), main)
    text = str(caught.value)
    assert "north.toml: database: belongs in the main file only" in text
    assert "South Shop.toml: (file name): 'South Shop' is not a tenant id" in text
    assert "default.toml: (file name): 'default' is the main file's own pair" in text
    # A secret in a tenant's file names that tenant's variable, not the main file's.
    assert "BITRIX_INFLOW_TENANT_EAST__INFLOW__API_KEY" in text


def test_a_missing_tenants_folder_is_named_with_the_fix(tmp_path: Path) -> None:
    main = deployment(tmp_path)
    (tmp_path / "tenants").rmdir()
    with pytest.raises(ConfigError, match="is not a folder; create it or fix the path"):
        load_tenants(load_settings(main), main)


def test_without_a_tenants_folder_the_one_tenant_is_the_main_files(tmp_path: Path) -> None:
    main = tmp_path / "bitrix-inflow.toml"
    main.write_text('[inflow]\nbase_url = "http://127.0.0.1:9001"\n')
    settings = load_settings(main)
    assert load_tenants(settings, main) == {"default": settings}


def tenant(base_url: str, portal: str, warehouse: str = "MAIN") -> str:
    return f"""
[inflow]
base_url = "{base_url}"
warehouse = "{warehouse}"
api_key_file = "{{hook}}"
[bitrix.oauth]
portal_url = "{portal}"
client_id = "app"
client_secret_file = "{{hook}}"
access_token_file = "{{hook}}"
refresh_token_file = "{{hook}}"
"""


def test_two_tenants_sharing_variables_a_warehouse_or_a_shop_are_refused_naming_both(tmp_path: Path) -> None:
    main = deployment(
        tmp_path,
        # One set of variables: BITRIX_INFLOW_TENANT_SHOP_NORTH__ for both.
        **{
            "shop-north": tenant("http://wms-a:9000", "https://a.example"),
            "shop_north": tenant("http://wms-b:9000", "https://b.example"),
        },
        # One warehouse of one WMS (the address written another way), each with a shop of its own.
        east=tenant("HTTP://WMS-C:9000/", "https://c.example"),
        west=tenant("http://wms-c:9000", "https://d.example"),
        # One shop, served from two warehouses.
        south=tenant("http://wms-e:9000", "https://shop.example"),
        upper=tenant("http://wms-f:9000", "https://SHOP.example/"),
    )
    with pytest.raises(ConfigError) as caught:
        load_tenants(load_settings(main), main)
    text = str(caught.value)
    assert "tenant 'shop-north' reads the variables BITRIX_INFLOW_TENANT_SHOP_NORTH__" in text
    assert "tenant 'shop_north'" in text and "rename one of the files" in text
    assert "tenants 'east', 'west' all send orders to warehouse 'MAIN' of http://wms-c:9000" in text
    assert "tenants 'south', 'upper' all serve the shop at https://shop.example" in text
    assert "'north'" not in text and "wms-a" not in text and "b.example" not in text  # the others are fine


def test_tenants_may_share_a_wms_with_a_warehouse_each(tmp_path: Path) -> None:
    main = deployment(
        tmp_path,
        east=tenant("http://wms:9000", "https://east.example", warehouse="EAST"),
        west=tenant("http://wms:9000", "https://west.example", warehouse="WEST"),
    )
    assert list(load_tenants(load_settings(main), main)) == ["default", "east", "west"]

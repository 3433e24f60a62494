"""One catalogue for both sandboxes (issue 8): the sandbox shop and the sandbox warehouse load the same file, each
through its own code, and belong together; the deliberate mismatches show up in the unmatched report."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bitrix_inflow.domain.matching import ShopProduct, match
from bitrix_inflow.sandboxes import catalogue
from bitrix_inflow.sandboxes.bitrix import RunningSandbox, SandboxConfig, running_bitrix_sandbox
from bitrix_inflow.sandboxes.bitrix.cli import app as bitrix_cli
from bitrix_inflow.sandboxes.wms import SandboxSettings, run_in_process
from bitrix_inflow.sandboxes.wms.cli import app as wms_cli

SHOP_ONLY = {"SB-GIFT-CARD-1000", "SB-JACKET-DOWN-L", "SB-MUG-LOGO"}
WAREHOUSE_ONLY = {"SB-GIFT-BOX", "SB-LACES-SPARE", "SB-PERFUME-SAMPLE-2"}


@pytest.fixture(scope="module")
def shop() -> Iterator[RunningSandbox]:
    with running_bitrix_sandbox(SandboxConfig(profile="site"), https=False) as running:
        yield running


@pytest.fixture(scope="module")
def warehouse() -> Iterator[str]:
    """The base URL of a warehouse seeded from the default catalogue."""
    with run_in_process(SandboxSettings(seed=7, bins=400, qty_min=1, qty_max=20)) as running:
        yield running.base_url


def rest(running: RunningSandbox, method: str, params: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(running.webhook_url + method, json=params, timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def shop_products(running: RunningSandbox, keys: tuple[str, str] = ("xmlId", "xmlId")) -> list[ShopProduct]:
    """Every product (iblock 23) and offer (24) the way a client reads them: catalog.product.list page by page,
    with the key field of each iblock."""
    found: list[ShopProduct] = []
    for iblock, key in zip((23, 24), keys, strict=True):
        params: dict[str, Any] = {"select": ["id", "iblockId", "type", key], "filter": {"iblockId": iblock}}
        while True:
            body = rest(running, "catalog.product.list", params)
            for row in body["result"]["products"]:
                value = row[key]["value"] if isinstance(row[key], dict) else row[key]
                found.append(ShopProduct(id=row["id"], key=value, holds_stock=row["type"] != 3))
            if "next" not in body:
                break
            params["start"] = body["next"]
    return found


def warehouse_skus(base_url: str) -> list[dict[str, Any]]:
    return list(httpx.get(base_url + "/_sandbox/skus", params={"limit": 10_000}, timeout=10).json()["items"])


def test_the_shop_and_the_warehouse_belong_together(shop: RunningSandbox, warehouse: str) -> None:
    skus = [row["sku"] for row in warehouse_skus(warehouse)]
    assert len(skus) == 40
    products = shop_products(shop)
    matching = match(skus, products)
    assert len(matching.links) == 37
    assert set(matching.unmatched_skus) == WAREHOUSE_ONLY
    by_id = {p.id: p.key for p in products}
    assert {by_id[pid] for pid in matching.unmatched_products} == SHOP_ONLY
    assert matching.ambiguous == {}
    # The article property carries the same key, so matching by it gives the same links.
    by_article = match(skus, shop_products(shop, ("property101", "property111")))
    assert by_article.links == matching.links


def test_each_side_keeps_the_rows_attributes(shop: RunningSandbox, warehouse: str) -> None:
    rows = {item.sku: item for item in catalogue.load_default()}
    for sku in warehouse_skus(warehouse):
        item = rows[sku["sku"]]
        assert sku["gtin"] == item.gtin
        assert sku["marking_group"] == (item.marked or None)
        slots = httpx.get(f"{warehouse}/_sandbox/stock/MAIN/{sku['sku']}", timeout=10).json()["slots"]
        # Stored in its zone; a share of every SKU sits in quarantine, on hand but not sellable.
        assert {slot["zone"] for slot in slots} == {item.zone, "Q"}
    products = {p["xmlId"]: p for p in shop.control.entities("products")}
    assert set(products) == {item.shop_key for item in rows.values() if item.in_shop}
    perfume = products["SB-PERFUME-NIGHT-50"]
    assert perfume["barcodeMulti"] == "Y" and perfume["property103"]["value"] == "perfume"
    assert perfume["property101"]["value"] == "SB-PERFUME-NIGHT-50"
    assert products["SB-BOOTS-WINTER-42"]["property103"]["value"] == "shoes"
    assert products["SB-CAP-BLACK"]["property103"] is None
    parent = products["SB-TEE-CLASSIC"]
    assert (parent["type"], parent["iblockId"]) == (3, 23)
    assert shop.control.entities("storeProducts", productId=parent["id"]) == []
    offer = products["SB-TEE-CLASSIC-M"]
    assert (offer["type"], offer["iblockId"], offer["parentId"]["value"]) == (4, 24, str(parent["id"]))


def test_a_generated_catalogue_matches_on_both_sides() -> None:
    seeded = []
    for _ in range(2):
        with running_bitrix_sandbox(SandboxConfig(), https=False, catalogue_size=120, seed=5) as running:
            seeded.append([(p.id, p.key) for p in shop_products(running)])
            names = [p["name"] for p in running.control.entities("products")]
    assert seeded[0] == seeded[1]
    assert len(seeded[0]) == 120
    with run_in_process(SandboxSettings(seed=5, catalogue_size=120, bins=240)) as running:
        skus = [row["sku"] for row in warehouse_skus(running.base_url)]
    assert sorted(skus) == sorted(key for _, key in seeded[0])
    # Another seed: the same SKUs (both sides still match), other names.
    other = [item.name for item in catalogue.generate(120, seed=6)]
    assert [item.sku for item in catalogue.generate(120, seed=6)] == [
        item.sku for item in catalogue.generate(120, 5)
    ]
    assert other != names


CUSTOM = """\
# two rows: one on both sides, one parent with its offer
sku,name,gtin,marked,zone,shop_key,kind,parent,barcode_multi,side
X-1,"Thing, one",04600000000015,,A,X-1,product,,N,both
X-P,Parent,,5408,,X-P,parent,,N,shop-only
X-P-40,"Parent, 40",04600000000022,5408,B,X-P-40,offer,X-P,N,both
"""


def test_a_catalogue_of_ones_own_seeds_both(shop: RunningSandbox, warehouse: str) -> None:
    try:
        summary = shop.control.seed(catalogue_csv=CUSTOM)
        assert summary["source"] == "csv" and len(summary["products"]) == 3
        seeded = httpx.post(
            warehouse + "/_sandbox/seed", json={"catalogue_csv": CUSTOM, "bins": 10}, timeout=10
        ).json()
        assert seeded["source"] == "csv" and seeded["seeded"]["skus"] == 2
        assert match([s["sku"] for s in warehouse_skus(warehouse)], shop_products(shop)).links.keys() == {
            "X-1",
            "X-P-40",
        }
    finally:
        shop.control.seed()
        httpx.post(warehouse + "/_sandbox/seed", json={"bins": 400, "seed": 7, "qty_min": 1}, timeout=10)


@pytest.mark.parametrize(
    ("csv_text", "problem"),
    [
        ("sku,name\nA,B\n", "the header lacks gtin"),
        (CUSTOM + "X-1,again,04600000000015,,A,X-1,product,,N,both\n", "sku X-1 appears twice"),
        (CUSTOM.replace("X-P,Parent", "X-Q,Parent"), "names 'X-P', which is no parent row"),
        (CUSTOM + "Y,y,04600000000015,,A,Y,product,,N,nowhere\n", "side 'nowhere'"),
    ],
)
def test_a_broken_catalogue_is_refused_by_both_and_changes_nothing(
    shop: RunningSandbox, warehouse: str, csv_text: str, problem: str
) -> None:
    products = len(shop.control.entities("products"))
    refused = httpx.post(shop.base_url + "/_sandbox/seed", json={"catalogue_csv": csv_text}, timeout=10)
    assert refused.status_code == 400 and problem in refused.json()["error"]
    assert refused.json()["field"] == "catalogue_csv"
    assert len(shop.control.entities("products")) == products
    skus = warehouse_skus(warehouse)
    answer = httpx.post(warehouse + "/_sandbox/seed", json={"catalogue_csv": csv_text}, timeout=10)
    assert answer.status_code == 400 and problem in answer.json()["detail"]
    assert warehouse_skus(warehouse) == skus


def test_each_side_applies_its_own_rules(shop: RunningSandbox, warehouse: str) -> None:
    bad_gtin = CUSTOM.replace("04600000000015", "04600000000016")
    answer = httpx.post(warehouse + "/_sandbox/seed", json={"catalogue_csv": bad_gtin}, timeout=10)
    assert answer.status_code == 400 and "valid GS1 check digit" in answer.json()["detail"]
    tyres = CUSTOM.replace(",5408,B,", ",8721,B,")  # the shop knows tyres, this warehouse does not
    assert (
        httpx.post(warehouse + "/_sandbox/seed", json={"catalogue_csv": tyres}, timeout=10).status_code == 400
    )
    no_key = CUSTOM.replace(",A,X-1,product", ",A,,product")
    refused = httpx.post(shop.base_url + "/_sandbox/seed", json={"catalogue_csv": no_key}, timeout=10)
    assert refused.status_code == 400 and "needs its shop_key" in refused.json()["error"]
    both = httpx.post(warehouse + "/_sandbox/seed", json={"skus": 5, "catalogue_size": 5}, timeout=10)
    assert both.status_code == 400


def test_the_parser_names_the_line() -> None:
    text = textwrap.dedent(
        """\
        # a comment

        sku,name,gtin,marked,zone,shop_key,kind,parent,barcode_multi,side
        A,a,04600000000015,,A,A,product,,N,both
        B,b,04600000000022,,A,B,widget,,N,both
        """
    )
    with pytest.raises(catalogue.CatalogueError, match="line 5: kind 'widget'"):
        catalogue.parse(text)
    with pytest.raises(catalogue.CatalogueError, match="comes before its parent"):
        catalogue.parse(CUSTOM.replace("X-P,Parent", "X-Z,Zed") + "X-P,Parent,,,,X-P,parent,,N,shop-only\n")


def test_the_commands_refuse_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("sku,name\nA,B\n", encoding="utf-8")
    for app in (wms_cli, bitrix_cli):
        result = CliRunner().invoke(app, ["--catalogue", str(broken)])
        assert result.exit_code == 2, result.output
        assert "the header lacks" in result.output
    result = CliRunner().invoke(wms_cli, ["--skus", "5", "--catalogue-size", "5"])
    assert result.exit_code == 2 and "give one of" in result.output

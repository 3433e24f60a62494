"""Onboarding's look at a shop: which installation it is and what it has configured, against sandbox shops of each
kind (Site Management, Bitrix24 in the cloud, Bitrix24 on its own server)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bitrix_inflow.adapters.bitrix import BitrixGateway, BitrixSettings
from bitrix_inflow.sandboxes.bitrix import SandboxConfig, running_bitrix_sandbox


def _gateway(shop: object, profile: str = "site") -> BitrixGateway:
    return BitrixGateway(
        BitrixSettings(webhook_url=SecretStr(shop.webhook_url), verify=shop.ca_file, profile=profile)  # type: ignore[attr-defined]
    )


@pytest.mark.parametrize(
    ("config", "kind", "cloud", "license_code"),
    [
        (SandboxConfig(profile="site"), "site", False, "ru_selfhosted"),
        (SandboxConfig(profile="bitrix24"), "bitrix24", True, "ru_pro100"),
        (
            SandboxConfig(profile="bitrix24", mode="onprem", companion_module=False),
            "bitrix24_selfhosted",
            False,
            "ru_selfhosted",
        ),
        (SandboxConfig(profile="bitrix24", plan="ru_ent250"), "bitrix24", True, "ru_ent250"),
    ],
    ids=["site", "bitrix24-cloud", "bitrix24-selfhosted", "bitrix24-enterprise"],
)
def test_the_installation_is_told_from_its_license_and_scopes(
    config: SandboxConfig, kind: str, cloud: bool, license_code: str
) -> None:
    with running_bitrix_sandbox(config, products=2) as shop, _gateway(shop) as gateway:
        before = gateway.transport.requests_sent
        identity = gateway.identify()
        assert gateway.transport.requests_sent - before == 1  # one batch
    assert (identity.kind, identity.cloud, identity.license) == (kind, cloud, license_code)
    assert identity.admin and identity.user_id == 1 and identity.utc_offset_minutes == 180
    assert any("LICENSE" in line for line in identity.evidence)


def test_an_on_premise_feature_answer_is_read_as_available() -> None:
    """feature.get answers "<lang>_selfhosted" on-premise for any code: no plan gates a feature there."""
    with running_bitrix_sandbox(SandboxConfig(profile="site"), products=1) as shop, _gateway(shop) as gateway:
        assert gateway.feature("rest_offline_extended") is True


def test_a_snapshot_of_what_the_shop_has_configured() -> None:
    with (
        running_bitrix_sandbox(SandboxConfig(profile="site", statuses="product"), orders=2) as shop,
        _gateway(shop) as gateway,
    ):
        snapshot = gateway.discover()
    assert set(snapshot.statuses) == {"N", "P", "F"} and snapshot.statuses["F"] == "Completed"
    assert set(snapshot.delivery_statuses) == {"DN", "DF"}
    assert snapshot.stores == {1: "Warehouse 1", 2: "Warehouse 2"}
    assert [p.name for p in snapshot.person_types] == ["Физическое лицо", "Юридическое лицо"]
    assert {c["iblock_id"]: c["offers_of"] for c in snapshot.catalogs} == {23: None, 24: 23}
    holders = {p.key for p in snapshot.properties if p.could_hold_a_sku}
    assert {"property101", "property111", "property105"} <= holders
    assert not {"property104", "property106"} & holders  # a parent link and a list cannot hold a SKU
    assert snapshot.document_mode is True and snapshot.unread == {}


def test_delivery_services_missing_from_getlist_are_found_on_shipments() -> None:
    """From sale 21.400 sale.delivery.getlist lists only REST-made services (the cloud's listing)."""
    with (
        running_bitrix_sandbox(SandboxConfig(profile="bitrix24"), orders=8) as shop,
        _gateway(shop, "bitrix24") as gateway,
    ):
        services = gateway.discover().deliveries
        used = {row["deliveryId"] for row in shop.control.entities("shipments")}
    by_source = {d.id: d.source for d in services}
    assert by_source[2] == "getlist"  # CDEK: its app made it over REST
    assert {d for d, source in by_source.items() if source == "shipments"} == used - {2}
    with (
        running_bitrix_sandbox(SandboxConfig(profile="bitrix24", delivery_listing="all"), orders=0) as shop,
        _gateway(shop, "bitrix24") as gateway,
    ):
        assert [d.name for d in gateway.discover().deliveries] == [
            "Courier",
            "CDEK",
            "Russian Post",
            "Pickup point",
        ]


def test_a_refused_read_is_named_not_fatal() -> None:
    with (
        running_bitrix_sandbox(
            SandboxConfig(profile="site", webhook_scopes=("sale", "im")), products=1
        ) as shop,
        _gateway(shop) as gateway,
    ):
        snapshot = gateway.discover()
    assert "stores" in snapshot.unread and "catalog properties" in snapshot.unread
    assert snapshot.statuses  # what could be read, was


def test_an_added_status_has_its_names() -> None:
    with running_bitrix_sandbox(SandboxConfig(profile="site"), products=1) as shop, _gateway(shop) as gateway:
        gateway.add_order_status("E", {"ru": "Ошибка сборки", "en": "Picking error"}, sort=300)
        assert gateway.status_names("ru")["E"] == "Ошибка сборки"
        assert gateway.discover(language="en").statuses["E"] == "Picking error"

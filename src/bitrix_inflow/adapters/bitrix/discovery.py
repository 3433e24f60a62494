"""What onboarding asks a shop it has never seen: which installation it is, and what it has configured.

Read-only, except ``add_status``, which onboarding calls only after a person confirmed it. Where a method is refused
(rights, a missing module) the answer says so instead of failing the whole discovery: a shop that hides its person
types can still be onboarded, and the person is told what could not be read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bitrix_inflow.errors import IntegrationError

from . import mappers, replies
from .paging import every_row
from .transport import JSON, Transport
from .wire import to_id, to_opt_str, to_str

ShopKind = Literal["site", "bitrix24", "bitrix24_selfhosted"]

# Scopes only the Bitrix24 editions have (tasks, CRM): on an on-premise installation they tell Bitrix24
# self-hosted from Site Management.
_BITRIX24_ONLY_SCOPES = frozenset({"task", "crm"})


@dataclass(frozen=True)
class ShopIdentity:
    kind: ShopKind
    cloud: bool
    license: (
        str  # app.info LICENSE: a plan code on the cloud, "<lang>_selfhosted" on-premise ("" when unknown)
    )
    evidence: tuple[str, ...]  # what the kind was told from, for the person to read
    scopes: tuple[str, ...]  # what this webhook or application may call
    installation_scopes: tuple[str, ...]  # what the installation has (scope full=true)
    admin: bool
    user_id: int | None
    utc_offset_minutes: int | None


@dataclass(frozen=True)
class DeliveryService:
    id: int
    name: str
    parent_id: int | None
    active: bool
    source: str  # "getlist" (sale.delivery.getlist) or "shipments" (seen on the shop's recent shipments)


@dataclass(frozen=True)
class PersonType:
    id: int
    name: str
    site: str | None
    active: bool


@dataclass(frozen=True)
class ProductProperty:
    id: int
    iblock_id: int
    code: str
    name: str
    type: str  # S string, N number, L list, E element link, F file, G section
    user_type: str | None
    multiple: bool
    active: bool

    @property
    def key(self) -> str:
        return f"property{self.id}"

    @property
    def could_hold_a_sku(self) -> bool:
        """A plain single string: what an article property is (a list, a link or a multiple value is not)."""
        return self.type == "S" and not self.user_type and not self.multiple and self.active


@dataclass(frozen=True)
class ShopSnapshot:
    """Everything discovery read, as plain data (kept as the baseline of the next ``init``'s comparison)."""

    statuses: dict[str, str]  # order status id → name
    delivery_statuses: tuple[str, ...]
    stores: dict[int, str]  # store id → title
    store_codes: dict[int, str]  # store id → code or xmlId
    deliveries: tuple[DeliveryService, ...]
    person_types: tuple[PersonType, ...]
    catalogs: tuple[Mapping[str, Any], ...]  # {iblock_id, name, offers_of}
    properties: tuple[ProductProperty, ...]
    document_mode: bool
    unread: dict[str, str] = field(default_factory=dict)  # what could not be read → why


class Discovery:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def identify(self) -> ShopIdentity:
        """One batch: app.info (its LICENSE tells cloud from on-premise), feature.get (corroborates it), the scopes
        of the credential and of the installation, and who the credential acts as."""
        reply = self._transport.batch(
            {
                "app": ("app.info", {}),
                "feature": ("feature.get", {"CODE": "rest_offline_extended"}),
                "scope": ("scope", {}),
                "all": ("scope", {"full": True}),
                "profile": ("profile", {}),
            }
        )
        # The credential itself is judged by scope: an error there (a wrong code) is the caller's to see.
        replies.raise_first(reply, "scope")
        evidence: list[str] = []
        license_code = ""
        app = reply.results.get("app")
        if isinstance(app, Mapping) and isinstance(app.get("LICENSE"), str):
            license_code = str(app["LICENSE"])
            evidence.append(f"app.info LICENSE = {license_code}")
        feature = reply.results.get("feature")
        feature_value = feature.get("value") if isinstance(feature, Mapping) else None
        if isinstance(feature_value, str):
            evidence.append(f"feature.get = {feature_value}")
            if not license_code and feature_value.endswith("_selfhosted"):
                license_code = feature_value
        scopes = _strings(reply.results.get("scope"))
        everything = _strings(reply.results.get("all")) or scopes
        if license_code:
            on_premise = license_code.endswith("_selfhosted")
        else:
            # Neither probe answered: a cloud portal's address is *.bitrix24.<zone> unless it was given a domain.
            on_premise = ".bitrix24." not in self._transport.portal_url
            evidence.append(
                f"no license in the answers; guessed from the address {self._transport.portal_url}"
            )
        if not on_premise:
            kind: ShopKind = "bitrix24"
        elif _BITRIX24_ONLY_SCOPES & set(everything):
            kind = "bitrix24_selfhosted"
            evidence.append("the installation has tasks/CRM scopes: Bitrix24 installed on its own server")
        else:
            kind = "site"
            evidence.append("no tasks/CRM scopes: Site Management")
        profile = reply.results.get("profile")
        profile = profile if isinstance(profile, Mapping) else {}
        offset = profile.get("TIME_ZONE_OFFSET")
        return ShopIdentity(
            kind=kind,
            cloud=not on_premise,
            license=license_code,
            evidence=tuple(evidence),
            scopes=scopes,
            installation_scopes=everything,
            admin=bool(profile.get("ADMIN")),
            user_id=_opt_int(profile.get("ID")),
            utc_offset_minutes=_minutes(offset),
        )

    def snapshot(self, *, language: str) -> ShopSnapshot:
        unread: dict[str, str] = {}

        def read(what: str, method: str, params: JSON, key: str) -> list[Mapping[str, Any]]:
            try:
                return every_row(self._transport, method, params, key)
            except IntegrationError as exc:
                unread[what] = f"{method}: {exc}"
                return []

        status_rows = read("order statuses", "sale.status.list", {"select": ["id", "type"]}, "statuses")
        statuses = replies.mapped("sale.status.list", mappers.sale_status, status_rows)
        names: dict[str, str] = {}
        for lid in dict.fromkeys((language, "en", "ru")):
            for row in read(
                "status names",
                "sale.statusLang.list",
                {"select": ["statusId", "lid", "name"], "filter": {"lid": lid}},
                "statusLangs",
            ):
                names.setdefault(str(row.get("statusId")), str(row.get("name") or ""))
        store_rows = read(
            "stores", "catalog.store.list", {"select": ["id", "title", "active", "code", "xmlId"]}, "stores"
        )
        stores = replies.mapped("catalog.store.list", mappers.catalog_store, store_rows)
        person_rows = read(
            "person types",
            "sale.persontype.list",
            {"select": ["id", "name", "lid", "active"], "order": {"id": "asc"}},
            "personTypes",
        )
        catalog_rows = read(
            "trade catalogs",
            "catalog.catalog.list",
            {"select": ["id", "iblockId", "name", "productIblockId", "skuPropertyId"]},
            "catalogs",
        )
        catalogs = replies.mapped("catalog.catalog.list", mappers.trade_catalog, catalog_rows)
        property_rows = read(
            "catalog properties",
            "catalog.productProperty.list",
            {
                "select": [
                    "id",
                    "iblockId",
                    "code",
                    "name",
                    "propertyType",
                    "userType",
                    "multiple",
                    "active",
                ],
                "order": {"id": "asc"},
            },
            "productProperties",
        )
        try:
            mode = self._transport.call("catalog.document.mode.status").get("result")
            document_mode = mode is True or str(mode).upper() in ("Y", "TRUE", "1")
        except IntegrationError as exc:
            unread["inventory management"] = f"catalog.document.mode.status: {exc}"
            document_mode = False
        return ShopSnapshot(
            statuses={s.id: names.get(s.id, "") for s in statuses if s.type == "O"},
            delivery_statuses=tuple(s.id for s in statuses if s.type == "D"),
            stores={s.id: s.title for s in stores if s.active},
            store_codes={s.id: s.code or s.xml_id or "" for s in stores if s.active},
            deliveries=self._deliveries(unread),
            person_types=tuple(_person_type(row) for row in person_rows),
            catalogs=tuple(
                {"iblock_id": c.iblock_id, "name": c.name, "offers_of": c.product_iblock_id} for c in catalogs
            ),
            properties=tuple(_property(row) for row in property_rows),
            document_mode=document_mode,
            unread=unread,
        )

    def _deliveries(self, unread: dict[str, str]) -> tuple[DeliveryService, ...]:
        """sale.delivery.getlist lists only services made through REST from sale 21.400 on: the built-in courier,
        post and pickup services are missing there. The shop's recent shipments name the services really in use,
        so both are read and joined."""
        found: dict[int, DeliveryService] = {}
        try:
            listed = self._transport.call("sale.delivery.getlist").get("result")
        except IntegrationError as exc:
            unread["delivery services"] = f"sale.delivery.getlist: {exc}"
            listed = []
        for row in listed if isinstance(listed, list) else []:
            if isinstance(row, Mapping) and row.get("ID") is not None:
                service_id = to_id(row["ID"], field="delivery.ID")
                found[service_id] = DeliveryService(
                    id=service_id,
                    name=to_str(row.get("NAME")),
                    parent_id=_opt_int(row.get("PARENT_ID")),
                    active=str(row.get("ACTIVE", "Y")) == "Y",
                    source="getlist",
                )
        try:
            page = self._transport.call(
                "sale.shipment.list",
                {"select": ["id", "deliveryId", "deliveryName"], "order": {"id": "desc"}},
            )
            shipments = replies.rows(
                replies.wrapped(page, "shipments", "sale.shipment.list"), field="shipments"
            )
        except IntegrationError as exc:
            unread["delivery services in use"] = f"sale.shipment.list: {exc}"
            shipments = []
        for row in shipments:
            used = _opt_int(row.get("deliveryId"))
            # System shipments are not listed over REST (bitrix-rest.md §2.4): every row is a real one.
            if used is None or used in found:
                continue
            found[used] = DeliveryService(
                id=used,
                name=to_opt_str(row.get("deliveryName")) or f"#{used}",
                parent_id=None,
                active=True,
                source="shipments",
            )
        return tuple(sorted(found.values(), key=lambda d: d.id))

    def add_status(self, status_id: str, names: Mapping[str, str], *, sort: int) -> None:
        """A new order status with its names per language (sale.status.add, then sale.statusLang.add per
        language): a write onboarding makes only after a person confirmed it."""
        self._transport.call(
            "sale.status.add",
            {"fields": {"id": status_id, "type": "O", "notify": "N", "sort": sort}},
            idempotent=False,
        )
        for lid, name in names.items():
            self._transport.call(
                "sale.statusLang.add",
                {"fields": {"statusId": status_id, "lid": lid, "name": name}},
                idempotent=False,
            )


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, Mapping):
        value = list(value.values())
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _minutes(seconds: object) -> int | None:
    text = str(seconds).strip()
    return int(text) // 60 if text.lstrip("-").isdigit() else None


def _opt_int(value: object) -> int | None:
    try:
        return to_id(value, field="id") if value not in (None, "", 0, "0") else None
    except (ValueError, TypeError):
        return None


def _person_type(row: Mapping[str, Any]) -> PersonType:
    return PersonType(
        id=to_id(row.get("id"), field="personType.id"),
        name=to_str(row.get("name")),
        site=to_opt_str(row.get("lid")),
        active=str(row.get("active", "Y")) == "Y",
    )


def _property(row: Mapping[str, Any]) -> ProductProperty:
    return ProductProperty(
        id=to_id(row.get("id"), field="productProperty.id"),
        iblock_id=to_id(row.get("iblockId"), field="productProperty.iblockId"),
        code=to_str(row.get("code")),
        name=to_str(row.get("name")),
        type=to_str(row.get("propertyType")) or "S",
        user_type=to_opt_str(row.get("userType")),
        multiple=str(row.get("multiple", "N")) == "Y",
        active=str(row.get("active", "Y")) == "Y",
    )

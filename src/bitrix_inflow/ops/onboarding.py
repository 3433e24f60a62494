"""``bitrix-inflow init``'s use case: discover both systems through the adapters, propose the exchange schema, and
(once a person confirmed it) write it.

Nothing is written anywhere before both systems accepted the credentials and every open question has an answer:
a refused key or webhook is never stored. The only write to a remote system is creating the order statuses the
mapping needs, and only when the person said yes to it.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import structlog
from pydantic import SecretStr
from sqlalchemy import Engine

from bitrix_inflow.adapters.bitrix import (
    BitrixGateway,
    BitrixSettings,
    CatalogItem,
    ProductType,
    TradeCatalog,
)
from bitrix_inflow.adapters.bitrix.discovery import ProductProperty, ShopIdentity, ShopSnapshot
from bitrix_inflow.adapters.inflow.probe import Credentials, WmsReport, probe
from bitrix_inflow.domain import onboarding as rules
from bitrix_inflow.domain.onboarding import Choice, KeyScore, StatusProposal
from bitrix_inflow.errors import AuthError, IntegrationError, ValidationError
from bitrix_inflow.jobs.queue import DEFAULT_CONNECTION
from bitrix_inflow.ops import mapping as mapping_ops
from bitrix_inflow.store import onboarding as store
from bitrix_inflow.store import schema
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.ops")

WMS_SAMPLE = 100  # warehouse SKUs looked up per candidate key: ±10 points at worst (95 %)
SHOP_SAMPLE = 50  # shop items read per trade catalog and candidate key (one page)
_STOCKLESS = {ProductType.WITH_OFFERS, ProductType.EMPTY_SKU, ProductType.SERVICE, ProductType.SET}


@dataclass(frozen=True)
class Access:
    """How to reach both systems, as the person answered (secrets in clear: they are never logged or shown)."""

    wms_url: str
    wms: Credentials
    webhook_url: str
    verify: bool | Path = True
    transport: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class Facts:
    identity: ShopIdentity
    shop: ShopSnapshot
    wms: WmsReport
    scores: tuple[KeyScore, ...] = ()

    def plain(self) -> dict[str, Any]:
        """The form kept in the state database and compared by the next ``init`` (``rules.drift``)."""
        return {
            "shop": {
                "kind": self.identity.kind,
                "statuses": dict(self.shop.statuses),
                "deliveries": {str(d.id): d.name for d in self.shop.deliveries},
                "stores": {str(k): v for k, v in self.shop.stores.items()},
                "properties": {f"property{p.id}": f"{p.code} ({p.name})" for p in self.shop.properties},
                "person_types": {str(p.id): p.name for p in self.shop.person_types},
                "document_mode": self.shop.document_mode,
            },
            "wms": {
                "served": list(self.wms.served),
                "profile": self.wms.profile,
                "differences": {fit.profile: list(fit.differences) for fit in self.wms.fits},
                "warehouses": sorted(self.wms.warehouses),
            },
        }


def discover(access: Access, *, language: str = "ru") -> Facts:
    """Both systems, read-only. The warehouse first: its refusal costs nothing on the shop's side."""
    report = probe(access.wms_url, access.wms, transport=access.transport, profile=access.profile)
    settings = shop_settings(access, profile="site")
    with BitrixGateway(settings) as gateway:
        try:
            identity = gateway.identify()
        except AuthError as exc:
            raise ValidationError(
                "bitrix.webhook_url",
                f"the shop refused the webhook ({exc})",
                "copy the incoming webhook's URL again (Developer resources → Incoming webhook); nothing was written",
            ) from None
        except IntegrationError as exc:
            raise ValidationError(
                "bitrix.webhook_url",
                f"no Bitrix REST answers there ({exc})",
                "give the webhook URL as the shop shows it: https://HOST/rest/USER_ID/CODE/",
            ) from None
        missing = sorted({"sale", "catalog"} - set(identity.scopes))
        if missing:
            raise ValidationError(
                "bitrix.webhook_url",
                f"the webhook lacks the scope(s) {', '.join(missing)} (it has {', '.join(identity.scopes) or 'none'})",
                "edit the incoming webhook in the shop and tick sale, catalog and im (task on Bitrix24)",
            )
        snapshot = gateway.discover(language=language)
    return Facts(identity, snapshot, report)


def shop_settings(access: Access, *, profile: str) -> BitrixSettings:
    return BitrixSettings(
        webhook_url=SecretStr(access.webhook_url),
        verify=access.verify,
        profile="bitrix24" if profile == "bitrix24" else "site",
    )


def key_candidates(snapshot: ShopSnapshot) -> list[tuple[str, str | None, str]]:
    """(products' key, offers' key, label): xmlId, and each property that could hold a SKU, paired with the offers
    iblock's property of the same code (an article property has an id of its own in each iblock)."""
    offers_of = {c["iblock_id"]: c["offers_of"] for c in snapshot.catalogs if c["offers_of"]}
    product_iblocks = {c["iblock_id"] for c in snapshot.catalogs if not c["offers_of"]}
    found: list[tuple[str, str | None, str]] = [("xmlId", "xmlId", "xmlId")]
    usable = [p for p in snapshot.properties if p.could_hold_a_sku]
    for prop in usable:
        if prop.iblock_id not in product_iblocks:
            continue
        twin = next(
            (
                p
                for p in usable
                if offers_of.get(p.iblock_id) == prop.iblock_id and p.code and p.code == prop.code
            ),
            None,
        )
        label = f"{prop.code or prop.name} ({prop.key}" + (f"/{twin.key})" if twin else ")")
        found.append((prop.key, twin.key if twin else None, label))
    return found


def score_for(access: Access, facts: Facts, *, warehouse: str, profile: str) -> list[KeyScore]:
    """The matching-key candidates scored against ``warehouse``'s SKUs, through a gateway paced as the shop's
    profile asks (a cloud portal's limit is shared with every other app)."""
    if warehouse not in facts.wms.warehouses:
        known = ", ".join(sorted(facts.wms.warehouses)) or "none"
        raise ValidationError(
            "choices.warehouse", f"the warehouse shows no stock for {warehouse!r}", f"answer one of: {known}"
        )
    chosen, every = skus_of(facts.wms, warehouse)
    with BitrixGateway(shop_settings(access, profile=profile)) as gateway:
        return score_keys(gateway, facts.shop, chosen, every)


def score_keys(
    gateway: BitrixGateway, snapshot: ShopSnapshot, wms_skus: set[str], all_skus: set[str]
) -> list[KeyScore]:
    """Each candidate's shares, sampled on both sides: a fixed random sample of the warehouse's SKUs looked up by
    the candidate, and the first page of each trade catalog checked against every SKU the warehouse has."""
    catalogs = gateway.trade_catalogs()
    sample = sorted(random.Random(0).sample(sorted(wms_skus), min(WMS_SAMPLE, len(wms_skus))))
    scores = []
    for key, offer_key, label in key_candidates(snapshot):
        usable = [c for c in catalogs if not c.is_offers or offer_key is not None]
        scores.append(
            _score(
                gateway,
                catalogs=usable,
                key=key,
                offer_key=offer_key,
                label=label,
                sample=sample,
                all_skus=all_skus,
            )
        )
    return scores


def _score(
    gateway: BitrixGateway,
    *,
    catalogs: Sequence[TradeCatalog],
    key: str,
    offer_key: str | None,
    label: str,
    sample: Sequence[str],
    all_skus: set[str],
) -> KeyScore:
    found: Counter[str] = Counter()
    loose: set[str] = set()
    if sample:
        for item in gateway.catalog_items(key=key, offer_key=offer_key, keys=sample, catalogs=catalogs):
            if _holds_stock(item) and item.key:
                found[item.key] += 1
                loose.add(item.key.strip().casefold())
    matched = sum(1 for sku in sample if found[sku] == 1)
    case_only = sum(1 for sku in sample if not found[sku] and sku.strip().casefold() in loose)
    shop_sampled = shop_matched = 0
    for catalog in catalogs:
        for item in islice(
            (
                i
                for i in gateway.catalog_items(key=key, offer_key=offer_key, catalogs=[catalog])
                if _holds_stock(i)
            ),
            SHOP_SAMPLE,
        ):
            shop_sampled += 1
            shop_matched += bool(item.key and item.key in all_skus)
    return KeyScore(key, offer_key, label, matched, len(sample), shop_matched, shop_sampled, case_only)


def _holds_stock(item: CatalogItem) -> bool:
    return item.type not in _STOCKLESS


@dataclass
class Proposal:
    """What ``init`` proposes; ``choices`` with ``open`` set wait for an answer."""

    choices: dict[str, Choice]
    statuses: StatusProposal
    carriers: dict[str, str]
    carrier_reasons: dict[str, str]
    notes: list[str] = field(default_factory=list)

    def open_questions(self) -> list[Choice]:
        return [c for c in self.choices.values() if c.open]


def propose(facts: Facts, scores: Sequence[KeyScore], *, forward_from: Sequence[str] = ("N",)) -> Proposal:
    identity, shop, wms = facts.identity, facts.shop, facts.wms
    choices: dict[str, Choice] = {}
    notes: list[str] = [f"shop: {identity.kind} ({'; '.join(identity.evidence)})"]
    if identity.kind == "bitrix24_selfhosted":
        choices["bitrix_profile"] = Choice(
            "bitrix_profile",
            "bitrix24",
            "Bitrix24 on its own server: it has tasks like the cloud, and no request limit; bitrix24 sends managers "
            "tasks (the limiter can be switched off with [bitrix] rate_limit = false)",
            open=True,
            options=("bitrix24", "site"),
        )
    else:
        choices["bitrix_profile"] = Choice(
            "bitrix_profile",
            identity.kind,
            "Site Management" if identity.kind == "site" else "Bitrix24 in the cloud",
        )
    choices["transport"] = Choice(
        "transport",
        wms.transport,
        f"the address serves {', '.join(wms.served)}"
        + (
            "; REST is preferred: SOAP cannot look an order up by its reference"
            if len(wms.served) > 1
            else ""
        ),
    )
    fit_said = "; ".join(
        f"{fit.profile}: " + ("fits" if fit.fits else ", ".join(fit.differences)) for fit in wms.fits
    )
    choices["profile"] = Choice("profile", wms.profile, fit_said)
    choices["warehouse"] = rules.propose_warehouse({code: len(f.skus) for code, f in wms.warehouses.items()})
    choices["match_key"] = rules.propose_match_key(scores)
    if wms.capped:
        notes.append("the warehouse holds more stock rows than were read: the shop-side share is of a sample")
    if shop.document_mode:
        warehouse = str(choices["warehouse"].value)
        choices["stores"] = rules.propose_stores(
            [warehouse], {sid: (title, shop.store_codes.get(sid, "")) for sid, title in shop.stores.items()}
        )
    statuses = rules.propose_statuses(shop.statuses, forward_from=forward_from)
    known_carriers = sorted({c for f in wms.warehouses.values() for c in f.carriers})
    carriers, carrier_reasons = rules.propose_carriers(
        {d.id: d.name for d in shop.deliveries}, known_carriers
    )
    if any(d.source == "shipments" for d in shop.deliveries):
        notes.append(
            "some delivery services were found on the shop's shipments only (sale.delivery.getlist lists only those "
            "made through REST): a service no order has used yet is missing; add it to [orders] carriers later"
        )
    zones = sorted({z for f in wms.warehouses.values() for z, sellable in f.zones.items() if sellable})
    if zones:
        notes.append(f"sellable zones seen: {', '.join(zones)} ([orders] zone_preference may order them)")
    for what, why in sorted(shop.unread.items()):
        notes.append(f"could not read the shop's {what}: {why}")
    choices["marking"] = _marking(identity, shop)
    choices["go_live"] = Choice(
        "go_live",
        None,
        "orders created before this moment are never forwarded: the line between the old process and this service",
        open=True,
    )
    return Proposal(choices, statuses, carriers, carrier_reasons, notes)


_GROUP_WORDS = ("marking", "маркир", "честный знак", "chestny")
_GTIN_WORDS = ("gtin", "barcode", "штрихкод", "штрих-код", "ean")


def _marking(identity: ShopIdentity, shop: ShopSnapshot) -> Choice:
    """Labelled goods: with the companion module (on-premise) the shop says each product's group and barcodes itself;
    without it, catalog properties stand in, found here by their code or name."""
    if "bitrixinflow" in identity.scopes:
        return Choice(
            "marking", {"companion_module": True}, "the companion module answers: codes reach the receipt"
        )
    offers_of = {c["iblock_id"]: c["offers_of"] for c in shop.catalogs if c["offers_of"]}
    products = [p for p in shop.properties if p.iblock_id not in offers_of and p.active]
    offers = [p for p in shop.properties if p.iblock_id in offers_of and p.active]

    def find(words: tuple[str, ...], among: list[ProductProperty]) -> ProductProperty | None:
        return next((p for p in among if any(w in f"{p.code} {p.name}".lower() for w in words)), None)

    group, gtin = find(_GROUP_WORDS, products), find(_GTIN_WORDS, products)
    if group is None or gtin is None:
        return Choice(
            "marking",
            {"enabled": False},
            "no companion module (it installs on-premise only) and no catalog property that names a product's marking "
            "group and GTIN: marked goods cannot be checked. Answer marking = {group_property = 'propertyN', "
            "gtin_property = 'propertyN'}, or leave marking off",
            open=True,
        )
    value: dict[str, Any] = {
        "companion_module": False,
        "group_property": group.key,
        "gtin_property": gtin.key,
    }
    offer_group = next((p for p in offers if p.code and p.code == group.code), None)
    offer_gtin = next((p for p in offers if p.code and p.code == gtin.code), None)
    if offer_group is not None:
        value["offer_group_property"] = offer_group.key
    if offer_gtin is not None:
        value["offer_gtin_property"] = offer_gtin.key
    return Choice(
        "marking",
        value,
        f"no companion module: the marking group from {group.code or group.name} ({group.key}), the GTIN from "
        f"{gtin.code or gtin.name} ({gtin.key}); codes go to the order lines and the manager deducts",
    )


def configuration(
    facts: Facts,
    proposal: Proposal,
    access: Access,
    *,
    database_url: str,
    manager_user_id: int | None,
    language: str,
) -> dict[str, Any]:
    """The TOML's values, secrets left out (``config.writer`` puts them in files)."""
    choices = {key: choice.value for key, choice in proposal.choices.items()}
    keys = choices["match_key"]
    warehouse = str(choices["warehouse"])
    inflow: dict[str, Any] = {
        "base_url": access.wms_url,
        "transport": choices["transport"],
        "auth": access.wms.auth,
        "profile": choices["profile"],
        "warehouse": warehouse,
    }
    if access.wms.client_id:
        inflow["client_id"] = access.wms.client_id
    bitrix: dict[str, Any] = {"profile": choices["bitrix_profile"], "language": language}
    if access.verify is not True:
        bitrix["verify"] = str(access.verify) if access.verify is not False else False
    if manager_user_id is not None:
        bitrix["manager_user_id"] = manager_user_id
    elif facts.identity.user_id is not None:
        bitrix["manager_user_id"] = facts.identity.user_id
    stock: dict[str, Any] = {"warehouses": [warehouse], "match_key": keys["match_key"]}
    if keys.get("offer_match_key") and keys["offer_match_key"] != keys["match_key"]:
        stock["offer_match_key"] = keys["offer_match_key"]
    if "stores" in choices:
        stock["stores"] = {wh: int(sid) for wh, sid in dict(choices["stores"]).items()}
    orders: dict[str, Any] = {
        "statuses": list(proposal.statuses.forward_from),
        "warehouse": warehouse,
        "carriers": dict(proposal.carriers),
    }
    if choices.get("go_live"):
        orders["go_live"] = str(choices["go_live"])
    return {
        "database": {"url": database_url},
        "inflow": inflow,
        "bitrix": bitrix,
        "stock": stock,
        "orders": orders,
        "marking": dict(choices["marking"]),
    }


def create_statuses(access: Access, profile: str, to_create: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Create the order statuses the mapping needs (the person agreed); returns their ids."""
    created = []
    with BitrixGateway(shop_settings(access, profile=profile)) as gateway:
        for index, (status_id, names) in enumerate(sorted(to_create.items())):
            gateway.add_order_status(status_id, names, sort=300 + 10 * index)
            created.append(status_id)
            log.info("ops.onboarding_status_created", status_id=status_id)
    return created


def settle_state(
    engine: Engine,
    facts: Facts,
    proposal: Proposal,
    *,
    clock: Clock,
    actor: str,
    connection_id: str = DEFAULT_CONNECTION,
) -> None:
    """The state database at this version's schema, the status table loaded (audited like any edit), and what was
    seen kept for the next run's comparison."""
    schema.upgrade(engine)
    mapping_ops.import_table(
        engine, dict(proposal.statuses.mapping), clock=clock, actor=actor, connection_id=connection_id
    )
    with engine.begin() as conn:
        store.record(
            conn,
            connection_id,
            facts=facts.plain(),
            choices={key: _plain(choice.value) for key, choice in proposal.choices.items()},
            now=clock.now(),
            by=actor,
        )


def keep_configured_mapping(
    engine: Engine, proposal: Proposal, facts: Facts, *, connection_id: str = DEFAULT_CONNECTION
) -> None:
    """A re-run keeps the operators' status table where it still holds (its Bitrix status exists): only an entry
    whose status is gone, or one never mapped, takes the proposal."""
    try:
        schema.ensure_current(engine)
    except IntegrationError:
        return
    current = {
        entry.inflow_status: entry.bitrix_status
        for entry in mapping_ops.show(engine, connection_id=connection_id)
    }
    for inflow, bitrix in current.items():
        if bitrix is not None and bitrix in facts.shop.statuses:
            proposal.statuses.mapping[inflow] = bitrix
            proposal.statuses.reasons[inflow] = "as configured"
    used = set(proposal.statuses.mapping.values())
    for status_id in [sid for sid in proposal.statuses.to_create if sid not in used]:
        del proposal.statuses.to_create[status_id]


def changes_since(
    engine: Engine, facts: Facts, *, connection_id: str = DEFAULT_CONNECTION
) -> list[rules.Change] | None:
    """What changed on either side since the last ``init`` (None: this installation was never onboarded here)."""
    try:
        schema.ensure_current(engine)
    except IntegrationError:
        return None
    with engine.connect() as conn:
        before = store.latest(conn, connection_id)
    return None if before is None else rules.drift(before.facts, facts.plain())


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def skus_of(report: WmsReport, warehouse: str) -> tuple[set[str], set[str]]:
    """The chosen warehouse's SKUs, and every warehouse's."""
    chosen = set(report.warehouses[warehouse].skus) if warehouse in report.warehouses else set()
    return chosen, {sku for f in report.warehouses.values() for sku in f.skus}

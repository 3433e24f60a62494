"""Onboarding's proposals: from what both systems showed, the exchange schema a person confirms. Pure: no I/O.

Every proposal says why. What the facts do not decide (a tie between two matching keys, which of several warehouses,
which store a warehouse is) is an open question, never a silent guess; a key that matches nothing is an error that
names the fix.
"""

from __future__ import annotations

import difflib
import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bitrix_inflow.domain.status_mapping import DEFAULT_MAPPING
from bitrix_inflow.errors import ValidationError

CARRIER_MAX = 64  # the contract's carrier: a string of at most 64 characters
KEY_TIE_POINTS = 0.05  # two keys within five points of each other are a tie: the person chooses
KEY_WEAK_SHARE = 0.5  # below half the sampled SKUs matched: proposed, but the person is asked to confirm
SIMILAR_NAMES = 0.6  # difflib ratio from which a delivery service and a carrier are the same name


@dataclass(frozen=True)
class Choice:
    """One decision: its configuration key, the proposed value, why, and whether a person must answer it."""

    key: str
    value: Any
    reason: str
    open: bool = False
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeyScore:
    """How well one shop field matches the warehouse's SKUs, sampled on both sides."""

    key: str  # xmlId or propertyN (products)
    offer_key: str | None  # the offers iblock's field (None: the same, or no offers)
    label: str  # what a person recognises: "xmlId", "ARTNUMBER (property101/property111)"
    wms_matched: int  # of the sampled warehouse SKUs, how many exactly one shop item carries
    wms_sampled: int
    shop_matched: int  # of the sampled shop items, how many carry a SKU the warehouse has
    shop_sampled: int
    case_only: int = 0  # warehouse SKUs a shop item carries only in another case or with spaces (not counted)

    @property
    def wms_share(self) -> float:
        return self.wms_matched / self.wms_sampled if self.wms_sampled else 0.0

    @property
    def shop_share(self) -> float:
        return self.shop_matched / self.shop_sampled if self.shop_sampled else 0.0

    @property
    def margin(self) -> float:
        """The 95 % margin of the warehouse share (normal approximation), in share units."""
        p, n = self.wms_share, self.wms_sampled
        return 1.96 * math.sqrt(p * (1 - p) / n) if n else 1.0

    def describe(self) -> str:
        text = (
            f"{self.label}: {self.wms_share:.0%} ±{self.margin:.0%} of {self.wms_sampled} sampled warehouse SKUs, "
            f"{self.shop_share:.0%} of {self.shop_sampled} sampled shop items"
        )
        if self.case_only:
            text += f" ({self.case_only} more differ only in case or spaces: SKUs are case-sensitive, not counted)"
        return text


def propose_match_key(scores: Sequence[KeyScore]) -> Choice:
    if not scores:
        raise ValidationError(
            "choices.match_key",
            "the shop's catalog offers no field that could hold the warehouse SKU",
            "check that the webhook has the catalog scope and the shop has trade catalogs",
        )
    ranked = sorted(scores, key=lambda s: (s.wms_share, s.shop_share, s.key == "xmlId"), reverse=True)
    best = ranked[0]
    said = "; ".join(score.describe() for score in ranked)
    if best.wms_matched == 0 and best.shop_matched == 0:
        raise ValidationError(
            "choices.match_key",
            f"no shop field matches the warehouse's SKUs ({said})",
            "name the property that holds the warehouse SKU (answer match_key = propertyN), or load explicit links "
            "with `bitrix-inflow products import`",
        )
    tied = [s for s in ranked if best.wms_share - s.wms_share <= KEY_TIE_POINTS and s.wms_matched]
    value = {"match_key": best.key, "offer_match_key": best.offer_key}
    if len(tied) > 1:
        preferred = next((s for s in tied if s.key == "xmlId"), best)
        return Choice(
            "match_key",
            {"match_key": preferred.key, "offer_match_key": preferred.offer_key},
            f"a tie: {said}; each matches as well, so say which field the shop keeps the warehouse SKU in",
            open=True,
            options=tuple(s.key for s in tied),
        )
    if best.wms_share < KEY_WEAK_SHARE:
        return Choice(
            "match_key",
            value,
            f"the best field matches under half of the warehouse's SKUs: {said}; confirm it or name another",
            open=True,
            options=tuple(s.key for s in ranked),
        )
    return Choice("match_key", value, f"the best match: {said}")


# -- the status table ------------------------------------------------------------------------------------------

# Words a status's name carries, per Inflow status (Russian and English stems, lower case).
_WORDS: Mapping[str, tuple[str, ...]] = {
    "NEW": ("подготов", "передан на склад", "принят складом", "preparing", "to the warehouse"),
    "PICKING": ("сборк", "собира", "комплект", "picking", "pick"),
    "SHIPPED": ("отгруж", "отправлен", "в пути", "доставля", "shipped", "in delivery", "dispatched"),
    "DELIVERED": ("выполнен", "доставлен", "получен", "завершен", "completed", "delivered", "done"),
    "CANCELLED": ("отмен", "аннулир", "cancel"),
    "PICKING_ERROR": ("ошибк", "недостач", "error", "problem"),
}
# Names a status must not carry to take a given Inflow status: Bitrix24's D is "Canceled", not "shipped"; an
# "error in picking" status is not the picking one.
_CONTRADICTS: Mapping[str, tuple[str, ...]] = {
    **{
        inflow: (*_WORDS["CANCELLED"], *_WORDS["PICKING_ERROR"])
        for inflow in ("NEW", "PICKING", "SHIPPED", "DELIVERED")
    },
    "CANCELLED": _WORDS["PICKING_ERROR"],
    "PICKING_ERROR": _WORDS["CANCELLED"],
}
NEW_STATUS_NAMES: Mapping[str, Mapping[str, str]] = {
    "NEW": {"ru": "Передан на склад", "en": "Sent to the warehouse"},
    "PICKING": {"ru": "Собирается на складе", "en": "Picking"},
    "SHIPPED": {"ru": "Отгружен", "en": "Shipped"},
    "DELIVERED": {"ru": "Доставлен", "en": "Delivered"},
    "CANCELLED": {"ru": "Отменён складом", "en": "Cancelled by the warehouse"},
    "PICKING_ERROR": {"ru": "Ошибка сборки", "en": "Picking error"},
}
_PREFERRED_IDS: Mapping[str, str] = {**DEFAULT_MAPPING, "PICKING_ERROR": "E"}


@dataclass(frozen=True)
class StatusProposal:
    mapping: dict[str, str]  # Inflow status → Bitrix status id
    to_create: dict[str, dict[str, str]]  # new Bitrix status id → its names per language
    reasons: dict[str, str]  # Inflow status → why
    forward_from: tuple[str, ...] = ("N",)


def propose_statuses(shop: Mapping[str, str], *, forward_from: Sequence[str] = ("N",)) -> StatusProposal:
    """The brief's table checked against the shop's order statuses (id → name): a default id is kept when the shop
    has it under a name that does not contradict it; else a status is found by its name; else one is proposed to
    be created (under the brief's id where it is free). The statuses orders are forwarded from are never taken."""
    mapping: dict[str, str] = {}
    to_create: dict[str, dict[str, str]] = {}
    reasons: dict[str, str] = {}
    taken = set(forward_from)
    for inflow, preferred in _PREFERRED_IDS.items():
        name = shop.get(preferred)
        if name is not None and preferred not in taken and not _says(name, _CONTRADICTS.get(inflow, ())):
            mapping[inflow], reasons[inflow] = preferred, f"the brief's {preferred} ({name or 'no name'})"
            taken.add(preferred)
            continue
        by_name = next(
            (
                sid
                for sid, sname in sorted(shop.items())
                if sid not in taken
                and _says(sname, _WORDS[inflow])
                and not _says(sname, _CONTRADICTS.get(inflow, ()))
            ),
            None,
        )
        if by_name is not None:
            why = f"{by_name} ({shop[by_name]}) by its name"
            if name is not None:
                why += f"; the brief's {preferred} is {name!r} here"
            mapping[inflow], reasons[inflow] = by_name, why
            taken.add(by_name)
            continue
        new_id = (
            preferred if preferred not in shop and preferred not in to_create else _free_id(shop, to_create)
        )
        mapping[inflow] = new_id
        to_create[new_id] = dict(NEW_STATUS_NAMES[inflow])
        taken.add(new_id)
        reasons[inflow] = f"the shop has no status for it: create {new_id} ({NEW_STATUS_NAMES[inflow]['en']})"
        if name is not None:
            reasons[inflow] += f"; the brief's {preferred} is {name!r} here"
    return StatusProposal(mapping, to_create, reasons, tuple(forward_from))


def _says(name: str, words: Iterable[str]) -> bool:
    lowered = name.lower().replace("\u0451", "\u0435")  # yo as ye: names are spelt either way
    return any(word in lowered for word in words)


def _free_id(shop: Mapping[str, str], planned: Mapping[str, object]) -> str:
    for letter in "EQZXYWVUTRKLMOGHIJ" + string.digits:
        if letter not in shop and letter not in planned:
            return letter
    raise ValidationError(
        "statuses", "every one-letter status id is taken", "name the statuses in the answers"
    )


# -- carriers, warehouses, stores ---------------------------------------------------------------------------------


def _normal(name: str) -> str:
    return re.sub(r"[\W_]+", " ", name.lower()).strip()


def _alike(service: str, carrier: str) -> float:
    """How alike two names are: 1 when every word of the carrier's is in the service's ("CDEK express" is CDEK),
    else difflib's ratio of the normalised names."""
    words = set(_normal(service).split())
    if set(_normal(carrier).split()) <= words and _normal(carrier):
        return 1.0
    return difflib.SequenceMatcher(None, _normal(service), _normal(carrier)).ratio()


def propose_carriers(
    deliveries: Mapping[int, str], known: Sequence[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Delivery service id → the carrier the warehouse hands it to: the warehouse's carrier of the most similar name
    where one is close enough, else the service's own name (the contract takes any carrier string). Returns the
    table and a reason per service."""
    table: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for service_id, name in sorted(deliveries.items()):
        scored = sorted(((_alike(name, carrier), carrier) for carrier in known), reverse=True)
        if scored and scored[0][0] >= SIMILAR_NAMES:
            table[str(service_id)] = scored[0][1]
            reasons[str(service_id)] = (
                f"{name!r} is the warehouse's carrier {scored[0][1]!r} ({scored[0][0]:.0%} alike)"
            )
        else:
            table[str(service_id)] = name[:CARRIER_MAX]
            reasons[str(service_id)] = (
                f"{name!r}: no carrier of a similar name on the warehouse's orders; its own name is sent"
            )
    return table, reasons


def propose_warehouse(warehouses: Mapping[str, int]) -> Choice:
    """Which warehouse the shop sells from (code → SKUs with stock)."""
    if not warehouses:
        raise ValidationError(
            "choices.warehouse",
            "the warehouse shows no stock at all, so no warehouse code could be learnt",
            "answer warehouse = the code of the warehouse the shop sells from",
        )
    if len(warehouses) == 1:
        (code,) = warehouses
        return Choice("warehouse", code, f"the only warehouse with stock ({warehouses[code]} SKUs)")
    listed = ", ".join(f"{code} ({count} SKUs)" for code, count in sorted(warehouses.items()))
    return Choice(
        "warehouse",
        max(warehouses, key=lambda code: warehouses[code]),
        f"several warehouses hold stock: {listed}; say which the shop sells from",
        open=True,
        options=tuple(sorted(warehouses)),
    )


def propose_stores(warehouses: Sequence[str], stores: Mapping[int, tuple[str, str]]) -> Choice:
    """In inventory-management mode each warehouse needs a shop store (id → (title, code)): matched by code or
    title where it is the same name; else asked."""
    table: dict[str, int] = {}
    unmatched: list[str] = []
    for warehouse in warehouses:
        found = [
            sid
            for sid, (title, code) in stores.items()
            if _normal(warehouse) in {_normal(title), _normal(code)}
        ]
        if len(found) == 1:
            table[warehouse] = found[0]
        elif len(stores) == 1 and len(warehouses) == 1:
            table[warehouse] = next(iter(stores))
        else:
            unmatched.append(warehouse)
    listed = ", ".join(f"{sid} ({title})" for sid, (title, _) in sorted(stores.items())) or "none"
    if unmatched:
        return Choice(
            "stores",
            table,
            f"inventory management is on: stock goes by store documents, and {', '.join(unmatched)} has no store of "
            f"the same name; the shop's stores: {listed}",
            open=True,
            options=tuple(str(sid) for sid in sorted(stores)),
        )
    return Choice("stores", table, f"stores of the same name as the warehouses (the shop's: {listed})")


# -- what changed since the last run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    side: str  # "shop" or "warehouse"
    what: str
    detail: str
    edit: Mapping[str, Any] = field(default_factory=dict)  # the proposed edit, when there is one


def drift(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[Change]:
    """What differs between two runs' facts (the plain form ``init`` keeps): statuses, delivery services, stores,
    catalog properties, person types on the shop; transports, the profile's fit and warehouses on the other side."""
    changes: list[Change] = []
    shop_before, shop_now = before.get("shop", {}), now.get("shop", {})
    for kind, label in (
        ("statuses", "order status"),
        ("deliveries", "delivery service"),
        ("stores", "store"),
        ("properties", "catalog property"),
        ("person_types", "person type"),
    ):
        old, new = shop_before.get(kind, {}), shop_now.get(kind, {})
        for key in sorted(set(new) - set(old)):
            changes.append(Change("shop", f"new {label}", f"{key} ({new[key]})", {"kind": kind, "key": key}))
        for key in sorted(set(old) - set(new)):
            changes.append(Change("shop", f"{label} gone", f"{key} ({old[key]})", {"kind": kind, "key": key}))
        for key in sorted(set(old) & set(new)):
            if old[key] != new[key]:
                changes.append(Change("shop", f"{label} renamed", f"{key}: {old[key]!r} → {new[key]!r}"))
    if shop_before.get("document_mode") != shop_now.get("document_mode"):
        mode = "on" if shop_now.get("document_mode") else "off"
        changes.append(Change("shop", "inventory management", f"now {mode}"))
    wms_before, wms_now = before.get("wms", {}), now.get("wms", {})
    for key, label in (
        ("served", "transports served"),
        ("profile", "fitting profile"),
        ("differences", "profile fit"),
    ):
        if wms_before.get(key) != wms_now.get(key):
            changes.append(Change("warehouse", label, f"{wms_before.get(key)} → {wms_now.get(key)}"))
    old_wh, new_wh = set(wms_before.get("warehouses", [])), set(wms_now.get("warehouses", []))
    for code in sorted(new_wh - old_wh):
        changes.append(Change("warehouse", "new warehouse", code))
    for code in sorted(old_wh - new_wh):
        changes.append(Change("warehouse", "warehouse gone", code))
    return changes

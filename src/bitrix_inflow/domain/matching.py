"""Which shop product is which warehouse SKU: a pure function, so every rule is tested without a shop.

The shop's side is read by the Bitrix adapter: every product and trade offer with the value of the configured key
(``xmlId`` or an article property ``propertyN``). An explicit table (``bitrix-inflow products import``) wins over the
key. What cannot be matched is *reported*, on both sides, never skipped silently; a key that two products share is
ambiguous and links neither (a guess would move stock to the wrong product).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ShopProduct:
    id: int
    key: str | None  # the matching key's value; None or blank: the product has none
    parent_id: int | None = None  # a trade offer's product; offers live in an iblock of their own
    holds_stock: bool = True  # False: sold through its trade offers, or a service; never linked to a SKU
    barcode_multi: bool = False  # needs one barcode per unit in stock documents (reported in document mode)
    name: str = ""


@dataclass(frozen=True)
class Matching:
    links: dict[str, int]  # SKU → product id
    origin: dict[str, str]  # SKU → "table" or "key": why it is linked
    unmatched_skus: list[str]  # warehouse SKUs no product carries
    unmatched_products: list[int]  # sellable shop products no SKU names
    ambiguous: dict[str, list[int]] = field(default_factory=dict)  # SKU → the products that all carry it
    table_problems: list[str] = field(default_factory=list)  # explicit rows that cannot apply, with why


def normalise_key(value: str | None) -> str | None:
    """Keys are compared as text without surrounding blanks; a blank key is no key (it would match every blank)."""
    if value is None:
        return None
    text = value.strip()
    return text or None


def match(
    skus: Iterable[str], products: Iterable[ShopProduct], table: Mapping[str, int] | None = None
) -> Matching:
    catalogue = {product.id: product for product in products}
    sellable = {pid for pid, product in catalogue.items() if product.holds_stock}
    by_key: dict[str, list[int]] = defaultdict(list)
    for product in catalogue.values():
        key = normalise_key(product.key)
        if key is not None and product.id in sellable:
            by_key[key].append(product.id)

    links: dict[str, int] = {}
    origin: dict[str, str] = {}
    ambiguous: dict[str, list[int]] = {}
    problems: list[str] = []
    unmatched: list[str] = []
    explicit = dict(table or {})
    claimed: dict[int, str] = {}
    wanted = sorted({normalise_key(s) or "" for s in skus} - {""})
    # The table first: an operator's explicit link wins over a key another SKU happens to share.
    for sku in (s for s in wanted if s in explicit):
        pid = explicit[sku]
        if pid not in catalogue:
            problems.append(f"{sku}: product {pid} of the products table does not exist in the shop")
        elif pid not in sellable:
            problems.append(
                f"{sku}: product {pid} holds no stock of its own (sold through its offers, or a service)"
            )
        elif pid in claimed:
            problems.append(f"{sku}: product {pid} is already linked to {claimed[pid]}")
        else:
            links[sku], origin[sku], claimed[pid] = pid, "table", sku
            continue
        unmatched.append(sku)
    for sku in (s for s in wanted if s not in explicit):
        candidates = sorted(by_key.get(sku, []))
        if len(candidates) > 1:
            ambiguous[sku] = candidates
        elif candidates and candidates[0] not in claimed:
            links[sku], origin[sku], claimed[candidates[0]] = candidates[0], "key", sku
        else:
            unmatched.append(sku)
    unmatched.sort()
    linked = set(links.values()) | {pid for pids in ambiguous.values() for pid in pids}
    return Matching(
        links=links,
        origin=origin,
        unmatched_skus=unmatched,
        unmatched_products=sorted(pid for pid in sellable if pid not in linked),
        ambiguous=ambiguous,
        table_problems=problems,
    )

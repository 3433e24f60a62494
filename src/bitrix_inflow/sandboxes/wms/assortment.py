"""The warehouse's SKUs from the sandboxes' shared catalogue (``sandboxes/catalogue``), read by the warehouse's
own rules: only the rows kept in the warehouse, GTIN-14 with a valid check digit, a known product group, and a
storage zone for each."""

from __future__ import annotations

from collections.abc import Sequence

from bitrix_inflow.sandboxes.catalogue import CatalogueError, Item
from bitrix_inflow.sandboxes.wms.gs1 import MARKING_GROUPS, has_valid_check_digit
from bitrix_inflow.sandboxes.wms.stock import ZONE_INDEX, ZONE_SELLABLE, Sku


def warehouse_skus(items: Sequence[Item]) -> tuple[list[Sku], list[str]]:
    """The SKUs and, in the same order, the zone each is stored in."""
    skus: list[Sku] = []
    zones: list[str] = []
    for item in items:
        if not item.in_warehouse:
            continue
        if len(item.gtin) != 14 or not has_valid_check_digit(item.gtin):
            raise CatalogueError(f"{item.sku}: {item.gtin!r} is not a GTIN-14 with a valid GS1 check digit")
        if item.marked and item.marked not in MARKING_GROUPS:
            raise CatalogueError(f"{item.sku}: product group {item.marked!r} is not one of {MARKING_GROUPS}")
        # Quarantine is where seeding puts a share of every SKU; a SKU cannot live there.
        if item.zone not in ZONE_INDEX or not ZONE_SELLABLE[ZONE_INDEX[item.zone]]:
            raise CatalogueError(f"{item.sku}: zone {item.zone!r} must be A, B or P")
        skus.append(Sku(code=item.sku, gtin=item.gtin, marking_group=item.marked or None))
        zones.append(item.zone)
    if not skus:
        raise CatalogueError("the catalogue has no rows for the warehouse (side both or warehouse-only)")
    return skus, zones

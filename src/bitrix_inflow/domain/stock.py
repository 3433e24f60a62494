"""What the shop may sell: the stock arithmetic of the stock sync, pure and total (no I/O, no surprises).

    target = max(0, Σ over sellable bins (on_hand - reserved - in_picking) - safety buffer - pending)

* *available* is the contract's formula (contracts/inflow-v1 §stock), computed here when an installation cannot
  aggregate (its profile has no ``available_only``) and the service reads bin rows instead;
* the *safety buffer* holds units back from the shop: per SKU, else per product group, else global;
* *pending* is the oversell guard: units the shop has accepted in orders the warehouse has not reserved yet (not
  forwarded, or forwarded and not acknowledged). The WMS does not know them, so its "available" still counts them;
  pushing it unguarded would hand already-sold units back to the shop.

Quantities are whole units (the WMS counts pieces); every function clamps at zero because a negative quantity on
the site is never meaningful.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from bitrix_inflow.errors import ValidationError

StockKey = tuple[str, str]  # (sku, warehouse)
ShopKey = tuple[int, int]  # (product id, store id); store 0 is the product's own quantity
K = TypeVar("K", StockKey, ShopKey)


class BinQuantities(Protocol):
    """One stock slot as the WMS reports it (the Inflow adapter's ``BinStock`` is one)."""

    @property
    def sku(self) -> str: ...
    @property
    def warehouse(self) -> str: ...
    @property
    def qty_on_hand(self) -> int: ...
    @property
    def qty_reserved(self) -> int: ...
    @property
    def qty_in_picking(self) -> int: ...
    @property
    def sellable(self) -> bool: ...


def available_from_bins(bins: Iterable[BinQuantities]) -> dict[StockKey, int]:
    """Sellable quantity per (sku, warehouse): the sum over sellable bins first, then the clamp.

    Summing first matters: a bin whose reservations exceed what it holds (the WMS reserves per SKU, picks per bin)
    lowers what the other bins can sell; clamping each bin would sell those units twice.
    A SKU seen only in unsellable bins (quarantine) is reported with 0, so the shop stops selling it.
    """
    totals: dict[StockKey, int] = defaultdict(int)
    for row in bins:
        key = (row.sku, row.warehouse)
        totals[key] += row.qty_on_hand - row.qty_reserved - row.qty_in_picking if row.sellable else 0
    return {key: max(0, total) for key, total in totals.items()}


class ZonedBin(BinQuantities, Protocol):
    @property
    def zone(self) -> str: ...


def free_by_zone(bins: Iterable[ZonedBin]) -> dict[str, dict[str, int]]:
    """Free units per SKU and storage zone (sellable bins only, summed first, then clamped, like
    ``available_from_bins``): where the order split looks for a zone that can pick a line."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in bins:
        if row.sellable:
            totals[row.sku][row.zone] += row.qty_on_hand - row.qty_reserved - row.qty_in_picking
    return {sku: {zone: max(0, free) for zone, free in zones.items()} for sku, zones in totals.items()}


@dataclass(frozen=True)
class SafetyBuffer:
    """Units held back from the shop. The most specific rule wins: SKU, then product group, then global."""

    everywhere: int = 0
    by_group: Mapping[str, int] = field(default_factory=dict)
    by_sku: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if self.everywhere < 0:
            problems.append(("stock.buffer.global", self.everywhere))
        problems += [(f"stock.buffer.groups.{k}", v) for k, v in self.by_group.items() if v < 0]
        problems += [(f"stock.buffer.skus.{k}", v) for k, v in self.by_sku.items() if v < 0]
        if problems:
            key, value = problems[0]
            raise ValidationError(
                key, f"a safety buffer of {value} units", "use 0 or a positive number of units"
            )

    def units(self, sku: str, group: str | None = None) -> int:
        if sku in self.by_sku:
            return self.by_sku[sku]
        if group is not None and group in self.by_group:
            return self.by_group[group]
        return self.everywhere


def sellable_quantity(available: int, *, buffer: int = 0, pending: int = 0) -> int:
    """What the shop may show: the warehouse's available minus the buffer and the not-yet-reserved orders."""
    return max(0, available - buffer - pending)


def targets(
    available: Mapping[StockKey, int],
    *,
    buffer: SafetyBuffer | None = None,
    groups: Mapping[str, str] | None = None,
    pending: Mapping[StockKey, int] | None = None,
) -> dict[StockKey, int]:
    """The quantity to publish per (sku, warehouse), applying the buffer and the oversell guard to each."""
    buffer = buffer or SafetyBuffer()
    groups = groups or {}
    pending = pending or {}
    return {
        key: sellable_quantity(
            qty, buffer=buffer.units(key[0], groups.get(key[0])), pending=max(0, pending.get(key, 0))
        )
        for key, qty in available.items()
    }


def shop_quantities(
    targets_by_key: Mapping[StockKey, int],
    links: Mapping[str, int],
    *,
    stores: Mapping[str, int] | None = None,
) -> dict[ShopKey, int]:
    """The quantities to hold in the shop, per product (and store), from the per-warehouse targets.

    Without inventory management (``stores`` None) a product has one quantity: the sum over the warehouses the
    shop sells from. With it, each warehouse's target goes to the Bitrix store it is mapped to (a warehouse with no
    store is left out here; the caller reports it). SKUs without a product are not the shop's business.
    """
    result: dict[ShopKey, int] = {}
    for (sku, warehouse), qty in targets_by_key.items():
        product = links.get(sku)
        if product is None:
            continue
        if stores is None:
            key = (product, 0)
        elif warehouse in stores:
            key = (product, stores[warehouse])
        else:
            continue
        result[key] = result.get(key, 0) + qty
    return result


@dataclass(frozen=True, slots=True)
class Change(Generic[K]):
    """One quantity to write: ``before`` is what the shop holds or was last given (None: nothing known)."""

    key: K
    before: int | None
    after: int


def changes_since(last_pushed: Mapping[K, int], wanted: Mapping[K, int]) -> list[Change[K]]:
    """What differs from the last successful push, in a stable order (so a retry writes the same batches).

    Keys missing from ``wanted`` are left alone: an incremental read only names what changed, and a SKU the
    warehouse no longer reports is a matter for the full sync, which passes every key.
    """
    return [
        Change(key, last_pushed.get(key), qty)
        for key, qty in sorted(wanted.items())
        if last_pushed.get(key) != qty
    ]

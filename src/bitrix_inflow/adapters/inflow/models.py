"""What the Inflow client returns and accepts: frozen, typed, in the contract's canonical vocabulary.

The domain sees only these classes. Wire names of a particular installation (``article`` for ``sku``,
``CREATED`` for ``NEW``) are translated by the installation profile before anything here is built.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Generic, TypeVar

from bitrix_inflow.domain.vocabulary import InflowStatus


@dataclass(frozen=True, slots=True)
class AvailableStock:
    """Sellable quantity of one SKU in one warehouse (``available_only=true`` rows)."""

    sku: str
    warehouse: str
    qty_available: int
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class BinStock:
    """One stock slot: one SKU in one bin."""

    sku: str
    warehouse: str
    zone: str
    bin: str
    qty_on_hand: int
    qty_reserved: int
    qty_in_picking: int
    sellable: bool
    updated_at: dt.datetime


RowT = TypeVar("RowT", AvailableStock, BinStock)


@dataclass(frozen=True, slots=True)
class StockPage(Generic[RowT]):
    items: tuple[RowT, ...]
    next_cursor: str | None  # None: this was the last page


@dataclass(frozen=True, slots=True)
class NewOrderLine:
    line_no: int
    sku: str
    qty: int
    marking_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NewPickingOrder:
    """A picking order to create. ``external_ref`` must be derived deterministically (e.g. ``B-1042-2``)."""

    external_ref: str
    customer_order_ref: str
    lines: tuple[NewOrderLine, ...]
    warehouse: str | None = None  # None: the warehouse from InflowSettings
    zone: str | None = None
    carrier: str | None = None


@dataclass(frozen=True, slots=True)
class PickedFrom:
    bin: str
    zone: str
    qty: int


@dataclass(frozen=True, slots=True)
class OrderLine:
    line_no: int
    sku: str
    qty: int
    qty_picked: int
    marked: bool
    picked_from: tuple[PickedFrom, ...] = ()
    marking_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PickingFailure:
    """Why the warehouse could not pick a line (the order is then PICKING_ERROR)."""

    code: str  # ITEM_NOT_FOUND_IN_BIN | POSITION_UNAVAILABLE
    sku: str
    bin: str | None
    line_no: int
    reason: str


@dataclass(frozen=True, slots=True)
class PackageLine:
    line_no: int
    qty: int
    marking_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Package:
    sscc: str
    lines: tuple[PackageLine, ...] = ()


@dataclass(frozen=True, slots=True)
class Tracking:
    carrier: str
    number: str


@dataclass(frozen=True, slots=True)
class PickingOrder:
    id: str
    external_ref: str
    customer_order_ref: str
    warehouse: str
    status: InflowStatus
    version: int
    change_seq: int
    created_at: dt.datetime
    updated_at: dt.datetime
    lines: tuple[OrderLine, ...] = ()
    zone: str | None = None
    carrier: str | None = None
    error: PickingFailure | None = None
    packages: tuple[Package, ...] = ()
    tracking: Tracking | None = None
    cancel_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ChangesPage:
    """One page of the order changes feed. Persist ``next_cursor`` only after the orders are processed."""

    orders: tuple[PickingOrder, ...]
    next_cursor: str
    has_more: bool


@dataclass(frozen=True, slots=True)
class ReturnedLine:
    line_no: int
    sku: str
    qty: int
    disposition: str  # restock (sellable again) | quarantine (on hand, never sellable)
    marking_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReturnReceived:
    """Goods a customer sent back, as the warehouse received them against a shipped picking order."""

    id: str
    order_id: str
    external_ref: str
    warehouse: str
    received_at: dt.datetime
    lines: tuple[ReturnedLine, ...]


@dataclass(frozen=True, slots=True)
class ReturnsPage:
    returns: tuple[ReturnReceived, ...]
    next_cursor: str
    has_more: bool


@dataclass(frozen=True, slots=True)
class Shortage:
    sku: str
    requested: int
    available: int

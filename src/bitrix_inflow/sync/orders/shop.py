"""What the orders flow needs of the shop, as a protocol: the flow is written against this, not against REST."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from bitrix_inflow.domain.eligibility import OrderFacts

ORDERS_AT_ONCE = 50  # orders one read takes (a Bitrix batch: 50 commands)
WRITES_AT_ONCE = 49  # status writes one compare-and-set takes (its first batch: the check, then room to read)


def read_room(writes: int) -> int:
    """Orders a compare-and-set of ``writes`` statuses can read ahead: the room its two batches have to spare."""
    return (ORDERS_AT_ONCE - 1) + (ORDERS_AT_ONCE - writes)


@dataclass(frozen=True)
class ShopLine:
    """Units of one basket item in one shipment (an item may be split over shipments)."""

    basket_id: int
    shipment_id: int
    product_id: int | None  # None: not a catalogue product
    name: str
    qty: Decimal


@dataclass(frozen=True)
class ShopOrder:
    facts: OrderFacts
    account_number: str
    lines: tuple[ShopLine, ...]
    version: int | None = None  # the shop's save counter when this was read (None: the shop did not say)


@dataclass(frozen=True)
class Watermark:
    """Where the order poll resumes: the highest order id seen, the latest update time seen (the shop's own), and
    where an unfinished scan of changed orders goes on."""

    last_id: int = 0
    updated_at: dt.datetime | None = None
    resume_id: int = 0


@dataclass(frozen=True)
class ChangedOrders:
    ids: tuple[int, ...]  # new and changed orders, each once
    watermark: Watermark  # moves only past what was read
    complete: bool  # False: the poll stopped at its page bound; poll again soon
    versions: Mapping[int, int | None] = field(default_factory=dict)  # each order's save counter as read


@dataclass(frozen=True)
class StatusWrite:
    outcome: str  # changed | already_set | refused
    version: int | None = None  # the order's save counter after the write (None: not written, or not said)


@dataclass(frozen=True)
class StatusWant:
    """Set the order to ``status`` if its status now is one of ``allowed_from`` (compare-and-set)."""

    order_id: int
    status: str
    allowed_from: frozenset[str]


@dataclass(frozen=True)
class StatusWrites:
    """A batch of compare-and-sets: each order's write or the error about it, and the orders read ahead."""

    written: Mapping[int, StatusWrite | Exception]
    read: Mapping[int, ShopOrder]


@dataclass(frozen=True)
class CancelAnswer:
    outcome: str  # cancelled | already | refused
    why: str = ""  # the shop's reason for a refusal


class ShipmentRefused(Exception):
    """The shop would not mark a shipment shipped (deducted): its reason for a person."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class OrdersShop(Protocol):
    def changed_orders(self, since: Watermark, *, max_pages: int) -> ChangedOrders:
        """Orders created after ``since.last_id`` or updated since ``since.updated_at`` (with an overlap)."""
        ...

    def order(self, order_id: int) -> ShopOrder: ...

    def created_since(self, when: dt.datetime) -> tuple[list[int], bool]:
        """Ids of the orders created at or after ``when``, oldest first; False when that is not all of them."""
        ...

    def orders(self, order_ids: Sequence[int]) -> Mapping[int, ShopOrder]:
        """Up to ``ORDERS_AT_ONCE`` orders in one go; one that cannot be read is left out (``order`` says why)."""
        ...

    def set_statuses(self, wants: Sequence[StatusWant], *, also_read: Sequence[int] = ()) -> StatusWrites:
        """Compare-and-set of up to ``WRITES_AT_ONCE`` orders' statuses together; the spare room of its batches
        reads ``also_read`` orders (``read_room(len(wants))`` at most)."""
        ...

    def set_status(self, order_id: int, status_id: str, *, allowed_from: Collection[str]) -> StatusWrite:
        """Compare-and-set the order's status."""
        ...

    def update_shipment(self, shipment_id: int, *, tracking_number: str, shipped: bool) -> bool:
        """The shipment's tracking numbers, and shipped (deducted) when ``shipped``; True when it was written.
        ``ShipmentRefused`` when the shop will not deduct it (nothing is written then)."""
        ...

    def cancel(self, order_id: int, *, reason: str) -> CancelAnswer:
        """Cancel the order in the shop (the flag, which releases its reservations)."""
        ...

    def remove_line(self, basket_id: int) -> bool:
        """Remove a line from its order (its reservation released); False when it was gone already."""
        ...

    def add_line(self, order_id: int, product_id: int, qty: Decimal, *, key: str) -> tuple[int, bool]:
        """Add a catalogue product's line to the order once (``key`` marks it; a line with it is the answer):
        (its basket id, added now). It is in no shipment until ``put_in_shipment``."""
        ...

    def put_in_shipment(self, shipment_id: int, basket_id: int, qty: Decimal) -> bool:
        """Put units of a line in a shipment (reserved there); False when the shipment held it already."""
        ...


@dataclass(frozen=True)
class QueueFeatures:
    """What the shop's plan allows of its offline event queue."""

    reserve: bool  # records are reserved until cleared (rest_offline_extended); else removed when read
    own_writes_kept_out: (
        bool  # a write with the service's auth_connector queues no record (rest_auth_connector)
    )


@dataclass(frozen=True)
class QueuePage:
    process_id: str | None  # the reservation to clear; None: already removed
    orders: tuple[int | None, ...]  # the order of each order record (None: the record did not say)
    full: bool  # as many records as one page holds: more may wait
    records: int = 0  # records of any event on the page (0: nothing to act on or clear)


class OfflineQueue(Protocol):
    """The shop's offline event queue, for shops that log their events rather than post them."""

    def features(self) -> QueueFeatures: ...

    def bind(self) -> bool:
        """The queue's binding for order saves, made unless it exists; True when made now."""
        ...

    def take(self, process_id: str | None, *, reserve: bool) -> QueuePage:
        """A page of order records, reserved (``reserve``; else removed as read); ``process_id`` re-reads an
        earlier reservation."""
        ...

    def clear(self, process_id: str) -> None: ...

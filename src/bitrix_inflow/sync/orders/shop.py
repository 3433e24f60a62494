"""What the orders flow needs of the shop, as a protocol: the flow is written against this, not against REST."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from bitrix_inflow.domain.eligibility import OrderFacts


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


class OrdersShop(Protocol):
    def order(self, order_id: int) -> ShopOrder: ...

    def set_status(self, order_id: int, status_id: str, *, allowed_from: Collection[str]) -> str:
        """Compare-and-set the order's status; the outcome: ``changed``, ``already_set`` or ``refused``."""
        ...

"""What the marking flow needs of the shop, as a protocol (the flow is written against this, not against REST)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class ShopLine:
    """A shipment line of an order, with the product it sells and the codes its units carry in the shop."""

    shipment_id: int
    basket_id: int
    product_id: int
    group: str  # the product's marking group as the shop names it; "" = not marked in the shop
    codes: tuple[str, ...]


@dataclass(frozen=True)
class ProductFacts:
    barcodes: tuple[str, ...]
    group: str


class CodesRefused(Exception):
    """The shop would not take a line's codes (a deducted shipment, a product it does not see as marked, no way to
    write them at all): a person must act; asking again changes nothing."""

    def __init__(self, why: str, *, kind: str = "refused") -> None:
        super().__init__(why)
        self.why = why
        self.kind = (
            kind  # refused (by the shop, for good) | no_module (missing, or no rights: a person fixes it)
        )


class MarkingShop(Protocol):
    # True when codes written to the shop reach the fiscal receipt by themselves (the module fills the lines' store
    # barcodes); False when a person must still enter them in the shipment (basket-line properties, no module).
    reaches_receipt: bool

    def lines(self, order_id: int) -> list[ShopLine]:
        """Every shipment line of the order."""
        ...

    def products(self, product_ids: Sequence[int]) -> dict[int, ProductFacts]:
        """Barcodes and marking group of each product (those the shop has)."""
        ...

    def saves_for(self, shipment_id: int, basket_id: int, codes: Sequence[str]) -> int:
        """How many times writing ``codes`` will save the shop's order (0: the line carries them already): each save
        sends an event the service must know for its own before it comes."""
        ...

    def write(self, shipment_id: int, basket_id: int, codes: Sequence[str]) -> bool:
        """The line's units carry exactly ``codes``; ``CodesRefused`` when the shop will not. True when the shop
        changed (and saved the order: its event is the service's own)."""
        ...

    def release(self, basket_id: int) -> Decimal:
        """Let go of one line's reservation (the line stays); the units released."""
        ...

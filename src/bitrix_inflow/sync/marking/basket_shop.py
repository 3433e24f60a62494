"""The marking flow's ``MarkingShop`` for a shop without the companion module (Bitrix24 in the cloud installs none).

No standard REST method reaches the codes a fiscal receipt reads (a shipment line's store barcodes, bitrix-rest.md
§2.6), nor a product's barcodes or marking group. So: the group and the GTIN come from catalog properties
(``[marking] group_property``, ``gtin_property``), and the checked codes go to the basket line as properties, one
per unit, where the manager sees them in the order. They do not reach the receipt by themselves: the shipment stays
held, and the manager enters the codes in the shipment and deducts it (``reaches_receipt`` is False).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, TypeVar

from bitrix_inflow.adapters.bitrix import BitrixGateway, EntityNotFoundError, InsufficientScopeError
from bitrix_inflow.adapters.bitrix.models import CatalogItem
from bitrix_inflow.errors import AuthError, PermanentError
from bitrix_inflow.sync.marking.shop import CodesRefused, ProductFacts, ShopLine

PROPERTY_CODE = "MARKING_CODE"
PROPERTY_NAMES = {"ru": "Код маркировки", "en": "Marking code"}
XML_PREFIX = "bitrix-inflow"

NO_KEYS = (
    "without the companion module the service reads a product's marking group and GTIN from catalog properties: "
    "set [marking] group_property and gtin_property (propertyN), or install the module (bitrix-module/)"
)
NO_RELEASE = (
    "one line's reservation cannot be released without the companion module: release it in the order by hand"
)
NO_RIGHTS = (
    "the webhook cannot change the order's basket: give it the scope sale and its user the sale right W"
)

T = TypeVar("T")


@dataclass(frozen=True)
class CatalogKeys:
    """Where the catalog keeps what the module would read (``propertyN`` of each iblock)."""

    group: str | None = None
    offer_group: str | None = None
    gtin: str | None = None
    offer_gtin: str | None = None


def unit_tag(shipment_id: int, code: str) -> str:
    """The xmlId of the property carrying one unit's code on one shipment: found again after a lost answer, and
    told apart from the shop's own properties and from another shipment's units of the same line."""
    digest = hashlib.sha256(code.encode()).hexdigest()[:24]
    return f"{XML_PREFIX}:{shipment_id}:{digest}"


def _of_shipment(shipment_id: int) -> str:
    return f"{XML_PREFIX}:{shipment_id}:"


class BasketMarkingShop:
    reaches_receipt = False

    def __init__(
        self, gateway: BitrixGateway, *, keys: CatalogKeys, language: Literal["ru", "en"] = "ru"
    ) -> None:
        self.gateway = gateway
        self.keys = keys
        self.property_name = PROPERTY_NAMES[language]

    def lines(self, order_id: int) -> list[ShopLine]:
        bundle = self._asking(lambda: self.gateway.get_order(order_id))
        basket = {line.id: line for line in bundle.basket}
        found = []
        for shipment in bundle.shipments:
            for item in shipment.lines:
                line = basket.get(item.basket_id)
                if line is None or line.product_id is None:
                    continue
                prefix = _of_shipment(shipment.id)
                codes = tuple(p.value for p in line.properties if (p.xml_id or "").startswith(prefix))
                found.append(ShopLine(shipment.id, line.id, line.product_id, "", codes))
        return found

    def products(self, product_ids: Sequence[int]) -> dict[int, ProductFacts]:
        keys = self.keys
        if not keys.group or not keys.gtin:
            raise CodesRefused(NO_KEYS, kind="no_module")
        wanted = sorted(set(product_ids))
        if not wanted:
            return {}
        # An offer without a group property of its own takes its product's; one without a GTIN property has none.
        groups = self._values(keys.group, keys.offer_group, wanted)
        gtins = self._values(keys.gtin, keys.offer_gtin, wanted)
        parents = {item.parent_id for item in groups.values() if item.is_offer and item.parent_id}
        parent_groups = self._values(keys.group, None, sorted(parents)) if parents else {}
        facts = {}
        for product_id, item in groups.items():
            group = item.key if not item.is_offer or keys.offer_group else None
            if not group and item.parent_id in parent_groups:
                group = parent_groups[item.parent_id].key
            gtin_item = gtins.get(product_id)
            gtin = gtin_item.key if gtin_item and (not gtin_item.is_offer or keys.offer_gtin) else None
            facts[product_id] = ProductFacts(barcodes=(gtin,) if gtin else (), group=group or "")
        return facts

    def _values(self, key: str, offer_key: str | None, ids: Sequence[int]) -> dict[int, CatalogItem]:
        # The offers' iblock has property ids of its own: without offer_key it is read by xmlId and its value unused.
        try:
            items = self.gateway.catalog_items(key=key, offer_key=offer_key or "xmlId", product_ids=ids)
            return self._asking(lambda: {item.id: item for item in items})
        except CodesRefused as exc:
            # A property the iblock does not have is the configuration's fault: checked again once it is fixed.
            raise CodesRefused(f"reading {key} from the catalog: {exc.why}", kind="no_module") from exc

    def saves_for(self, shipment_id: int, basket_id: int, codes: Sequence[str]) -> int:
        """Each property added or deleted saves the order once (``BasketProperties::addAction``/``deleteAction``)."""
        stale, missing = self._asking(lambda: self._difference(shipment_id, basket_id, codes))
        return len(stale) + len(missing)

    def _difference(
        self, shipment_id: int, basket_id: int, codes: Sequence[str]
    ) -> tuple[list[int], list[tuple[str, str]]]:
        """(ids of the line's properties of this shipment to delete, (tag, code) to add)."""
        wanted = {unit_tag(shipment_id, code): code for code in codes}
        prefix = _of_shipment(shipment_id)
        kept: set[str] = set()
        stale = []
        for prop in self.gateway.basket_properties(basket_id):
            tag = prop.xml_id or ""
            if not tag.startswith(prefix):
                continue
            if tag in wanted and prop.value == wanted[tag] and tag not in kept:
                kept.add(tag)
            elif prop.id is not None:
                stale.append(prop.id)
        return stale, [(tag, code) for tag, code in wanted.items() if tag not in kept]

    def write(self, shipment_id: int, basket_id: int, codes: Sequence[str]) -> bool:
        def change() -> bool:
            stale, missing = self._difference(shipment_id, basket_id, codes)
            for property_id in stale:
                self.gateway.delete_basket_property(property_id)
            for number, (tag, code) in enumerate(missing, start=1):
                # CODE unique per unit: Bitrix keys a line's properties by CODE (getPropertyValues, redefine), so
                # units sharing one would collapse into one.
                self.gateway.add_basket_property(
                    basket_id,
                    name=f"{self.property_name} {number}",
                    code=f"{PROPERTY_CODE}_{tag.rsplit(':', 1)[-1].upper()}",
                    value=code,
                    xml_id=tag,
                )
            return bool(stale or missing)

        return self._asking(change)

    def release(self, basket_id: int) -> Decimal:
        raise CodesRefused(NO_RELEASE, kind="no_module")

    @staticmethod
    def _asking(call: Callable[[], T]) -> T:
        try:
            return call()
        except (InsufficientScopeError, AuthError) as exc:
            raise CodesRefused(f"{NO_RIGHTS} ({exc})", kind="no_module") from exc
        except EntityNotFoundError as exc:
            raise CodesRefused(str(exc)) from exc
        except PermanentError as exc:
            raise CodesRefused(str(exc)) from exc

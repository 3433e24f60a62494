"""The marking flow's ``MarkingShop`` over the Bitrix gateway and the companion module (``bitrix-module/``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Literal, TypeVar

from bitrix_inflow.adapters.bitrix import (
    BitrixGateway,
    EntityNotFoundError,
    InsufficientScopeError,
    MarkingRefusedError,
    MethodNotFoundError,
)
from bitrix_inflow.config import Settings
from bitrix_inflow.config.settings import MarkingSettings
from bitrix_inflow.errors import AuthError
from bitrix_inflow.sync.marking.basket_shop import BasketMarkingShop, CatalogKeys
from bitrix_inflow.sync.marking.shop import CodesRefused, ProductFacts, ShopLine

NO_MODULE = (
    "the shop has no bitrix-inflow companion module (bitrix-module/): install it in local/modules/ so marking "
    "codes reach the shipment lines and the receipt"
)


def marking_shop(
    gateway: BitrixGateway, *, settings: MarkingSettings, profile: str, language: Literal["ru", "en"] = "ru"
) -> BitrixMarkingShop | BasketMarkingShop:
    """The shop's marking port as ``[marking] companion_module`` says (unset: Site Management has the module,
    Bitrix24 in the cloud cannot); without it, the basket-line properties stand in (``basket_shop``)."""
    module = settings.companion_module if settings.companion_module is not None else profile == "site"
    if module:
        return BitrixMarkingShop(gateway)
    keys = CatalogKeys(
        group=settings.group_property,
        offer_group=settings.offer_group_property,
        gtin=settings.gtin_property,
        offer_gtin=settings.offer_gtin_property,
    )
    return BasketMarkingShop(gateway, keys=keys, language=language)


def marking_shop_for(settings: Settings, gateway: BitrixGateway) -> BitrixMarkingShop | BasketMarkingShop:
    """The marking port a job uses, from the whole configuration."""
    bitrix = settings.bitrix
    return marking_shop(
        gateway,
        settings=settings.marking,
        profile=bitrix.profile if bitrix is not None else "site",
        language=bitrix.language if bitrix is not None else "ru",
    )


T = TypeVar("T")

NO_RIGHTS = (
    "the webhook cannot use the companion module: give it the scope bitrixinflow and its user the sale module's "
    "right W"
)


class BitrixMarkingShop:
    reaches_receipt = True

    def __init__(self, gateway: BitrixGateway) -> None:
        self.gateway = gateway

    def lines(self, order_id: int) -> list[ShopLine]:
        found = _through_module(lambda: self.gateway.marking_codes(order_id))
        return [ShopLine(ln.shipment_id, ln.basket_id, ln.product_id, ln.group, ln.codes) for ln in found]

    def products(self, product_ids: Sequence[int]) -> dict[int, ProductFacts]:
        found = _through_module(lambda: self.gateway.product_marking(product_ids))
        return {pid: ProductFacts(p.barcodes, p.group) for pid, p in found.items()}

    def saves_for(self, shipment_id: int, basket_id: int, codes: Sequence[str]) -> int:
        # The module replaces the line's codes in one save, or none when they are there already (write says).
        return 1

    def write(self, shipment_id: int, basket_id: int, codes: Sequence[str]) -> bool:
        try:
            return _through_module(lambda: self.gateway.set_marking_codes(shipment_id, basket_id, codes))
        except (MarkingRefusedError, EntityNotFoundError) as exc:
            raise CodesRefused(str(exc)) from exc

    def release(self, basket_id: int) -> Decimal:
        return _through_module(lambda: self.gateway.release_reservation(basket_id))


def _through_module(call: Callable[[], T]) -> T:
    """A companion-module call; a shop without the module, or a webhook without its scope or rights, is a refusal
    a person fixes (``no_module``: checked again on later runs)."""
    try:
        return call()
    except MethodNotFoundError as exc:
        raise CodesRefused(NO_MODULE, kind="no_module") from exc
    except (InsufficientScopeError, AuthError) as exc:
        raise CodesRefused(f"{NO_RIGHTS} ({exc})", kind="no_module") from exc

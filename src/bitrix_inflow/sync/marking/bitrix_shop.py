"""The marking flow's ``MarkingShop`` over the Bitrix gateway and the companion module (``bitrix-module/``)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bitrix_inflow.adapters.bitrix import (
    BitrixGateway,
    EntityNotFoundError,
    InsufficientScopeError,
    MarkingRefusedError,
    MethodNotFoundError,
)
from bitrix_inflow.errors import AuthError
from bitrix_inflow.sync.marking.shop import CodesRefused, ProductFacts, ShopLine

NO_MODULE = (
    "the shop has no bitrix-inflow companion module (bitrix-module/): install it in local/modules/ so marking "
    "codes reach the shipment lines and the receipt"
)


def marking_shop(gateway: BitrixGateway, *, module: bool | None, profile: str) -> BitrixMarkingShop:
    """The shop's marking port as ``[marking] companion_module`` says (unset: Site Management has the module,
    Bitrix24 in the cloud cannot)."""
    return BitrixMarkingShop(gateway, module=module if module is not None else profile == "site")


NO_RIGHTS = (
    "the webhook cannot use the companion module: give it the scope bitrixinflow and its user the sale module's "
    "right W"
)


class BitrixMarkingShop:
    """``module=False`` (``[marking] companion_module``): the shop is known to have no module, so nothing is asked
    of it (a cloud shop's every request counts against its rate limit)."""

    def __init__(self, gateway: BitrixGateway, *, module: bool = True) -> None:
        self.gateway = gateway
        self.module = module

    def lines(self, order_id: int) -> list[ShopLine]:
        if not self.module:
            raise CodesRefused(NO_MODULE, kind="no_module")
        try:
            found = self.gateway.marking_codes(order_id)
        except MethodNotFoundError as exc:
            raise CodesRefused(NO_MODULE, kind="no_module") from exc
        except (InsufficientScopeError, AuthError) as exc:
            raise CodesRefused(f"{NO_RIGHTS} ({exc})", kind="no_module") from exc
        return [ShopLine(ln.shipment_id, ln.basket_id, ln.product_id, ln.group, ln.codes) for ln in found]

    def products(self, product_ids: Sequence[int]) -> dict[int, ProductFacts]:
        if not self.module:
            raise CodesRefused(NO_MODULE, kind="no_module")
        try:
            found = self.gateway.product_marking(product_ids)
        except MethodNotFoundError as exc:
            raise CodesRefused(NO_MODULE, kind="no_module") from exc
        except (InsufficientScopeError, AuthError) as exc:
            raise CodesRefused(f"{NO_RIGHTS} ({exc})", kind="no_module") from exc
        return {pid: ProductFacts(p.barcodes, p.group) for pid, p in found.items()}

    def write(self, shipment_id: int, basket_id: int, codes: Sequence[str]) -> bool:
        if not self.module:
            raise CodesRefused(NO_MODULE, kind="no_module")
        try:
            return self.gateway.set_marking_codes(shipment_id, basket_id, codes)
        except MethodNotFoundError as exc:
            raise CodesRefused(NO_MODULE, kind="no_module") from exc
        except (InsufficientScopeError, AuthError) as exc:
            raise CodesRefused(f"{NO_RIGHTS} ({exc})", kind="no_module") from exc
        except (MarkingRefusedError, EntityNotFoundError) as exc:
            raise CodesRefused(str(exc)) from exc

    def release(self, basket_id: int) -> Decimal:
        if not self.module:
            raise CodesRefused(NO_MODULE, kind="no_module")
        try:
            return self.gateway.release_reservation(basket_id)
        except MethodNotFoundError as exc:
            raise CodesRefused(NO_MODULE, kind="no_module") from exc
        except (InsufficientScopeError, AuthError) as exc:
            raise CodesRefused(f"{NO_RIGHTS} ({exc})", kind="no_module") from exc

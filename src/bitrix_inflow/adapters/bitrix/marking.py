"""The companion module's methods (``bitrixinflow.*``, ``bitrix-module/``): marking codes on shipment lines, the
products' barcodes and marking groups, one line's reservation. No standard REST method reaches any of them
(bitrix-rest.md §2.6); a shop without the module answers ``MethodNotFoundError``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from bitrix_inflow.errors import IntegrationError

from .arguments import positive_id
from .models import ProductMarking, ShipmentLineCodes
from .replies import payload_id
from .transport import Transport


class Marking:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def set_codes(self, shipment_id: int, basket_id: int, codes: Sequence[str], *, store_id: int = 0) -> bool:
        """The shipment line's units carry exactly ``codes`` (the module replaces what it held: a repeat is
        harmless, so the transport may retry it). True when the shop changed (and saved the order)."""
        params: dict[str, Any] = {
            "shipmentId": positive_id(shipment_id, "shipment_id"),
            "basketId": positive_id(basket_id, "basket_id"),
            "codes": list(codes),
        }
        if store_id:
            params["storeId"] = positive_id(store_id, "store_id")
        answer = self._transport.call("bitrixinflow.marking.set", self._transport.as_writer(params))
        result = answer.get("result")
        return bool(result.get("changed", True)) if isinstance(result, Mapping) else True

    def codes_of_order(self, order_id: int) -> list[ShipmentLineCodes]:
        answer = self._transport.call(
            "bitrixinflow.marking.get", {"orderId": positive_id(order_id, "order_id")}
        )
        result = answer.get("result")
        items = result.get("items") if isinstance(result, Mapping) else None
        if not isinstance(items, list):
            raise IntegrationError(f"bitrixinflow.marking.get answered without items: {answer!r}")
        return [_line(item) for item in items]

    def products(self, product_ids: Sequence[int]) -> dict[int, ProductMarking]:
        ids = [positive_id(i, "product_id") for i in dict.fromkeys(product_ids)]
        if not ids:
            return {}
        answer = self._transport.call("bitrixinflow.barcode.list", {"productIds": ids})
        result = answer.get("result")
        found = result.get("products") if isinstance(result, Mapping) else None
        if not isinstance(found, Mapping):
            raise IntegrationError(f"bitrixinflow.barcode.list answered without products: {answer!r}")
        return {
            payload_id(key, field="bitrixinflow.barcode.list.products"): ProductMarking(
                barcodes=tuple(str(b) for b in (value.get("barcodes") or ()) if b),
                group=str(value.get("markingGroup") or ""),
            )
            for key, value in found.items()
            if isinstance(value, Mapping)
        }

    def release_reservation(self, basket_id: int) -> Decimal:
        """The line's reservation let go; the units released (0 when it held none, e.g. on a retry)."""
        answer = self._transport.call(
            "bitrixinflow.reservation.release",
            self._transport.as_writer({"basketId": positive_id(basket_id, "basket_id")}),
        )
        result = answer.get("result")
        if not isinstance(result, Mapping):
            raise IntegrationError(f"bitrixinflow.reservation.release answered: {answer!r}")
        return Decimal(str(result.get("released") or 0))


def _line(item: object) -> ShipmentLineCodes:
    if not isinstance(item, Mapping):
        raise IntegrationError(f"bitrixinflow.marking.get: an item is not an object: {item!r}")
    codes = item.get("codes") or []
    return ShipmentLineCodes(
        shipment_id=payload_id(item.get("shipmentId"), field="bitrixinflow.marking.get.items.shipmentId"),
        basket_id=payload_id(item.get("basketId"), field="bitrixinflow.marking.get.items.basketId"),
        product_id=payload_id(item.get("productId"), field="bitrixinflow.marking.get.items.productId"),
        quantity=Decimal(str(item.get("quantity") or 0)),
        group=str(item.get("markingGroup") or ""),
        deducted=item.get("deducted") == "Y",
        codes=tuple(str(c) for c in codes if c) if isinstance(codes, list) else (),
    )

"""The orders flow's ``OrdersShop`` over the Bitrix gateway: the flow's words in, REST's out."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal

from bitrix_inflow.adapters.bitrix import (
    BitrixGateway,
    CancelRefusedError,
    DeductRefusedError,
    OrderBundle,
    OrderWatermark,
    StatusRequest,
)
from bitrix_inflow.domain.eligibility import OrderFacts, ShipmentFacts
from bitrix_inflow.errors import IntegrationError, ValidationError
from bitrix_inflow.sync.orders.shop import (
    CancelAnswer,
    ChangedOrders,
    QueueFeatures,
    QueuePage,
    ShipmentRefused,
    ShopLine,
    ShopOrder,
    StatusWant,
    StatusWrite,
    StatusWrites,
    Watermark,
)


class BitrixOrdersShop:
    def __init__(self, gateway: BitrixGateway) -> None:
        self.gateway = gateway

    def changed_orders(self, since: Watermark, *, max_pages: int) -> ChangedOrders:
        found = self.gateway.orders_changed_since(
            OrderWatermark(last_id=since.last_id, updated_at=since.updated_at, resume_id=since.resume_id),
            max_pages=max_pages,
        )
        ids = tuple(dict.fromkeys(order.id for order in found.all))
        mark = Watermark(found.watermark.last_id, found.watermark.updated_at, found.watermark.resume_id)
        return ChangedOrders(ids, mark, found.complete, {order.id: order.version for order in found.all})

    def order(self, order_id: int) -> ShopOrder:
        return shop_order(self.gateway.get_order(order_id))

    def created_since(self, when: dt.datetime) -> tuple[list[int], bool]:
        return self.gateway.orders_created_since(when)

    def orders(self, order_ids: Sequence[int]) -> Mapping[int, ShopOrder]:
        found = self.gateway.get_orders(order_ids)
        return {i: shop_order(bundle) for i, bundle in found.items() if isinstance(bundle, OrderBundle)}

    def set_statuses(self, wants: Sequence[StatusWant], *, also_read: Sequence[int] = ()) -> StatusWrites:
        done = self.gateway.set_order_statuses(
            [StatusRequest(w.order_id, w.status, w.allowed_from) for w in wants], also_read=also_read
        )
        written: dict[int, StatusWrite | Exception] = {
            i: c if isinstance(c, Exception) else StatusWrite(c.outcome.value, c.version)
            for i, c in done.changes.items()
        }
        read: dict[int, ShopOrder] = {}
        for order_id, bundle in done.read.items():
            if isinstance(bundle, OrderBundle):
                with contextlib.suppress(
                    IntegrationError
                ):  # read ahead: one that cannot be taken is read again
                    read[order_id] = shop_order(bundle)
        return StatusWrites(written, read)

    def set_status(self, order_id: int, status_id: str, *, allowed_from: Collection[str]) -> StatusWrite:
        change = self.gateway.set_order_status(order_id, status_id, allowed_from=allowed_from)
        return StatusWrite(change.outcome.value, change.version)

    def update_shipment(self, shipment_id: int, *, tracking_number: str, shipped: bool) -> bool:
        # The gateway echoes the status, prices and flags it does not change (the real update resets them).
        try:
            written = self.gateway.update_shipment(
                shipment_id,
                tracking_number=tracking_number,
                status_id=None,
                deducted=True if shipped else None,
                allow_delivery=None,
                delivery_doc_num=None,
            )
        except DeductRefusedError as refused:
            raise ShipmentRefused(str(refused)) from refused
        except ValidationError as refused:
            # The shop's refusals of a deduction carry codes of their own (SALE_PROVIDER_SHIPMENT_QUANTITY_NOT_ENOUGH,
            # DDCT_DEDUCTION_QUANTITY_STORE_ERROR…): judged by effect, the caller writes the tracking alone next,
            # and a request that was itself wrong fails there again.
            if not shipped:
                raise
            raise ShipmentRefused(str(refused)) from refused
        if shipped and not written.deducted:
            raise ShipmentRefused(f"the shop kept shipment {shipment_id} undeducted without saying why")
        return True

    def cancel(self, order_id: int, *, reason: str) -> CancelAnswer:
        try:
            return CancelAnswer("cancelled" if self.gateway.cancel_order(order_id, reason) else "already")
        except CancelRefusedError as refused:
            return CancelAnswer("refused", str(refused))

    def remove_line(self, basket_id: int) -> bool:
        return self.gateway.delete_basket_item(basket_id)

    def add_line(self, order_id: int, product_id: int, qty: Decimal, *, key: str) -> tuple[int, bool]:
        return self.gateway.add_basket_item(order_id, product_id, qty, xml_id=key)

    def put_in_shipment(self, shipment_id: int, basket_id: int, qty: Decimal) -> bool:
        return self.gateway.add_shipment_item(shipment_id, basket_id, qty)


class BitrixOfflineQueue:
    """``OfflineQueue`` over the gateway: the shop's offline records of order saves."""

    EVENT = "ONSALEORDERSAVED"  # a shipment's save saves its order too: one event covers both

    def __init__(self, gateway: BitrixGateway) -> None:
        self.gateway = gateway

    def features(self) -> QueueFeatures:
        return QueueFeatures(
            reserve=self.gateway.feature("rest_offline_extended"),
            own_writes_kept_out=self.gateway.offline_connector() is not None,
        )

    def bind(self) -> bool:
        return self.gateway.bind_offline(self.EVENT)

    def take(self, process_id: str | None, *, reserve: bool) -> QueuePage:
        batch = self.gateway.take_offline(process_id, reserve=reserve)
        orders = tuple(r.entity_id for r in batch.records if r.event == self.EVENT)
        return QueuePage(batch.process_id, orders, full=batch.full, records=len(batch.records))

    def clear(self, process_id: str) -> None:
        self.gateway.clear_offline(process_id)


def shop_order(bundle: OrderBundle) -> ShopOrder:
    header = bundle.order
    basket = {line.id: line for line in bundle.basket}
    lines = tuple(
        ShopLine(
            basket_id=line.basket_id,
            shipment_id=shipment.id,
            product_id=basket[line.basket_id].product_id if line.basket_id in basket else None,
            name=basket[line.basket_id].name if line.basket_id in basket else f"basket item {line.basket_id}",
            qty=line.quantity,
        )
        for shipment in bundle.shipments
        for line in shipment.lines
    )
    facts = OrderFacts(
        id=header.id,
        status_id=header.status_id,
        canceled=header.canceled,
        paid=header.paid,
        site=header.site_id or "",
        person_type=header.person_type_id or 0,
        created_at=header.date_insert,
        shipments=tuple(ShipmentFacts(s.id, s.delivery_id, s.allow_delivery) for s in bundle.shipments),
    )
    return ShopOrder(facts, header.account_number, lines, header.version)

"""Shipments (``sale.shipment.*``): tracking number, status and flags of one shipment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bitrix_inflow.errors import PermanentError, ValidationError

from . import mappers, replies
from .arguments import positive_id
from .errors import DeductRefusedError, concerning
from .models import Shipment
from .transport import JSON, Transport
from .wire import yn


class Shipments:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def update_shipment(
        self,
        shipment_id: int,
        *,
        tracking_number: str | None,
        status_id: str | None,
        deducted: bool | None,
        allow_delivery: bool | None,
        delivery_doc_num: str | None,
    ) -> Shipment:
        shipment_id = positive_id(shipment_id, "shipment_id")
        changes = (tracking_number, status_id, deducted, allow_delivery, delivery_doc_num)
        if all(change is None for change in changes):
            raise ValidationError(
                "update_shipment", "nothing to change", "pass tracking_number, status_id, deducted, ..."
            )
        for name, flag in (("deducted", deducted), ("allow_delivery", allow_delivery)):
            if flag is not None and not isinstance(flag, bool):
                raise ValidationError(name, f"must be True/False, got {flag!r}")
        with concerning("shipment", shipment_id):
            current = replies.obj(
                replies.wrapped(
                    self._transport.call("sale.shipment.get", {"id": shipment_id}),
                    "shipment",
                    "sale.shipment.get",
                ),
                field="sale.shipment.get.shipment",
            )
            now = replies.mapped("sale.shipment.get", mappers.shipment, [current])[0]
            # Bitrix re-requires allowDelivery, deducted and deliveryId on every update, and what an update does not
            # send it does not keep: the status falls back to DN and both delivery prices to 0
            # (sale-shipment-update.md). Everything the caller does not change is echoed as it is.
            fields: JSON = {
                "allowDelivery": yn(now.allow_delivery if allow_delivery is None else allow_delivery),
                "deducted": yn(now.deducted if deducted is None else deducted),
                "deliveryId": now.delivery_id,
                "statusId": _echoed(current, "statusId") if status_id is None else status_id,
                "basePriceDelivery": _echoed(current, "basePriceDelivery"),
                "priceDelivery": _echoed(current, "priceDelivery"),
            }
            if tracking_number is not None:
                fields["trackingNumber"] = tracking_number
            if delivery_doc_num is not None:
                fields["deliveryDocNum"] = delivery_doc_num
            try:
                reply = self._transport.call(
                    "sale.shipment.update", self._transport.as_writer({"id": shipment_id, "fields": fields})
                )
            except ValidationError as exc:
                # The shop's own refusal of the deduction (code 0 with its reason): the request itself was good.
                if deducted and not now.deducted and exc.field == "sale.shipment.update.fields":
                    raise DeductRefusedError(
                        f"the shop would not deduct shipment {shipment_id}: {exc.problem}"
                    ) from exc
                raise
        row = replies.obj(
            replies.wrapped(reply, "shipment", "sale.shipment.update"), field="sale.shipment.update.shipment"
        )
        merged = {**current, **row} if "shipmentItems" in row else {**current, **row, "shipmentItems": []}
        return replies.mapped("sale.shipment.update", lambda r: mappers.shipment(r, now.lines), [merged])[0]


def _echoed(shipment: Mapping[str, Any], key: str) -> object:
    """A value as the shop sent it; a shipment answer without it cannot be written back safely."""
    value = shipment.get(key)
    if value is None:
        raise PermanentError(
            f"sale.shipment.get: no {key} in the answer; an update without it would reset it (to DN or 0)"
        )
    return value

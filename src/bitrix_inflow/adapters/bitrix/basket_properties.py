"""Properties of basket lines (``sale.basketproperties.*``): where a shop without the companion module keeps the
marking codes of a line's units, one property per unit (a value holds at most 255 characters, enough for any code;
a shipment property's 500 would hold three shoe codes)."""

from __future__ import annotations

from collections.abc import Mapping

from bitrix_inflow.errors import IntegrationError, ValidationError

from . import mappers
from .arguments import positive_id
from .errors import EntityNotFoundError
from .models import BasketProperty
from .paging import models_by_id
from .replies import payload_id, wrapped
from .transport import JSON, Transport

VALUE_LIMIT = 255  # b_sale_basket_props.VALUE (BasketPropertyTable's validator)


class BasketProperties:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def of_line(self, basket_id: int) -> list[BasketProperty]:
        params: JSON = {
            "select": ["id", "basketId", "code", "name", "value", "xmlId"],
            "filter": {"basketId": positive_id(basket_id, "basket_id")},
        }
        return list(
            models_by_id(
                self._transport,
                "sale.basketproperties.list",
                params,
                "basketProperties",
                mappers.basket_property,
            )
        )

    def add(self, basket_id: int, *, name: str, code: str, value: str, xml_id: str) -> int:
        """A new property on the line; the caller lists the line first, so an attempt whose answer was lost is
        found by its ``xml_id`` and not added twice (the transport does not retry it)."""
        if len(value) > VALUE_LIMIT:
            raise ValidationError(
                "value", f"{len(value)} characters, the shop keeps at most {VALUE_LIMIT}", "shorten the value"
            )
        fields = {
            "basketId": positive_id(basket_id, "basket_id"),
            "name": name,
            "code": code,
            "value": value,
            "xmlId": xml_id,
        }
        answer = self._transport.call(
            "sale.basketproperties.add", self._transport.as_writer({"fields": fields}), idempotent=False
        )
        row = wrapped(answer, "basketProperty", "sale.basketproperties.add")
        if not isinstance(row, Mapping):
            raise IntegrationError(f"sale.basketproperties.add answered without the property: {answer!r}")
        return payload_id(row.get("id"), field="sale.basketproperties.add.basketProperty.id")

    def delete(self, property_id: int) -> bool:
        """True when deleted now, False when it was gone already."""
        try:
            self._transport.call(
                "sale.basketproperties.delete",
                self._transport.as_writer({"id": positive_id(property_id, "property_id")}),
            )
        except EntityNotFoundError:
            return False
        return True

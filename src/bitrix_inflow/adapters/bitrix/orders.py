"""Orders (``sale.order.*``): polling for new and changed ones, reading one whole, compare-and-set of its
status, and the statuses the shop has configured (``sale.status.list``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import timedelta
from functools import partial
from typing import Any

from bitrix_inflow.errors import ValidationError

from . import mappers, replies
from .arguments import positive_id
from .errors import EntityNotFoundError, StatusOverruledError, concerning
from .models import (
    ChangedOrders,
    OrderBundle,
    OrderHeader,
    OrderWatermark,
    SaleStatus,
    Shipment,
    ShipmentLine,
    StatusChange,
    StatusOutcome,
)
from .paging import PAGE, all_pages, next_of, rest_of_list
from .settings import BitrixSettings
from .transport import JSON, Transport
from .wire import format_dt, to_id


class Orders:
    def __init__(self, transport: Transport, settings: BitrixSettings) -> None:
        self._transport = transport
        self._settings = settings
        self._sdk = transport.token.get_client()

    def orders_changed_since(self, watermark: OrderWatermark, *, max_pages: int) -> ChangedOrders:
        if not isinstance(max_pages, int) or max_pages < 1:
            raise ValidationError("max_pages", f"must be a positive number of pages, got {max_pages!r}")
        if watermark.last_id < 0:
            raise ValidationError("watermark.last_id", "must be 0 or a Bitrix order id")
        if watermark.updated_at is not None and watermark.updated_at.tzinfo is None:
            raise ValidationError(
                "watermark.updated_at", "must be timezone-aware", "store it with its offset"
            )
        if watermark.resume_id < 0:
            raise ValidationError("watermark.resume_id", "must be 0 or a Bitrix order id")
        # New orders first, by id. Only once they are all read does the scan of changed ones run (by dateUpdate,
        # with an overlap), and a scan longer than the page bound goes on from its last id at the next call: a
        # burst of changes larger than one call can read never makes the poll start over and jam.
        new, new_complete = self._scan_orders({}, after_id=watermark.last_id, max_pages=max_pages)
        last_id = max([watermark.last_id, *(o.id for o in new)])
        if not new_complete or watermark.updated_at is None:
            stamps = [o.date_update for o in new if o.date_update is not None]
            updated_at = watermark.updated_at
            if new_complete:  # the very first poll: its watermark is the newest update it read
                updated_at = max(stamps, default=None)
            return ChangedOrders(
                new=tuple(new),
                changed=(),
                watermark=OrderWatermark(
                    last_id=last_id, updated_at=updated_at, resume_id=watermark.resume_id
                ),
                complete=new_complete,
            )
        since = watermark.updated_at - timedelta(seconds=self._settings.change_overlap_seconds)
        changed, changed_complete = self._scan_orders(
            {">=dateUpdate": format_dt(since), "<=id": watermark.last_id},
            after_id=watermark.resume_id,
            max_pages=max_pages,
        )
        if not changed_complete:
            resume = max([watermark.resume_id, *(o.id for o in changed)])
            mark = OrderWatermark(last_id=last_id, updated_at=watermark.updated_at, resume_id=resume)
            return ChangedOrders(new=tuple(new), changed=tuple(changed), watermark=mark, complete=False)
        stamps = [o.date_update for o in (*new, *changed) if o.date_update is not None]
        updated_at = max([*stamps, watermark.updated_at])
        return ChangedOrders(
            new=tuple(new),
            changed=tuple(changed),
            watermark=OrderWatermark(last_id=last_id, updated_at=updated_at),
            complete=True,
        )

    def _scan_orders(self, filter_: JSON, *, after_id: int, max_pages: int) -> tuple[list[OrderHeader], bool]:
        found: list[OrderHeader] = []
        cursor = after_id
        for _ in range(max_pages):
            reply = self._transport.call(
                "sale.order.list",
                {
                    "select": list(mappers.ORDER_SELECT),
                    "filter": {**filter_, ">id": cursor},
                    "order": {"id": "asc"},
                    "start": -1,
                },
            )
            rows = replies.rows(
                replies.wrapped(reply, "orders", "sale.order.list"), field="sale.order.list.orders"
            )
            page = replies.mapped("sale.order.list", mappers.order_header, rows)
            found.extend(page)
            if len(rows) < PAGE:
                return found, True
            cursor = max(o.id for o in page)
        return found, False

    def get_order(self, order_id: int) -> OrderBundle:
        order_id = positive_id(order_id, "order_id")
        with concerning("order", order_id):
            return self._bundle(order_id)

    def _bundle(self, order_id: int) -> OrderBundle:
        by_order = {"filter": {"orderId": order_id}, "order": {"id": "asc"}}
        commands: dict[str, tuple[str, JSON]] = {
            "order": ("sale.order.get", {"id": order_id}),
            "basket": ("sale.basketitem.list", dict(by_order)),
            "shipments": ("sale.shipment.list", dict(by_order)),
        }
        reply = self._transport.batch(commands)
        replies.raise_first(reply, *commands)

        def all_rows(command: str, key: str) -> list[Mapping[str, Any]]:
            # The batch read each list's first page; a long list goes on from where it stopped.
            method, params = commands[command]
            first, next_start = reply.results.get(command), reply.nexts.get(command)
            return rest_of_list(self._transport, method, params, key, first=first, next_start=next_start)

        order_row = replies.obj(
            replies.wrapped({"result": reply.results.get("order")}, "order", "sale.order.get"),
            field="sale.order.get",
        )
        header = replies.mapped("sale.order.get", mappers.order_header, [order_row])[0]
        basket = replies.mapped(
            "sale.basketitem.list", mappers.basket_line, all_rows("basket", "basketItems")
        )
        shipment_rows = all_rows("shipments", "shipments")
        shipments = self._with_lines(
            order_row, [r for r in shipment_rows if not mappers.is_system_shipment(r)]
        )
        properties = replies.mapped(
            "sale.order.get",
            mappers.property_value,
            replies.rows(order_row.get("propertyValues"), field="sale.order.get.order.propertyValues"),
        )
        return OrderBundle(
            order=header, basket=tuple(basket), shipments=shipments, properties=tuple(properties)
        )

    def _with_lines(
        self, order_row: Mapping[str, Any], rows: list[Mapping[str, Any]]
    ) -> tuple[Shipment, ...]:
        # sale.order.get nests shipments[].shipmentItems; read them from there, asking separately only if
        # this server left them out.
        nested: dict[int, tuple[ShipmentLine, ...]] = {}
        for row in replies.rows(order_row.get("shipments"), field="sale.order.get.order.shipments"):
            if "shipmentItems" in row:
                owner = replies.payload_id(row.get("id"), field="sale.order.get.order.shipments.id")
                nested[owner] = tuple(
                    replies.mapped(
                        "sale.order.get",
                        partial(mappers.shipment_line, shipment_id=owner),
                        replies.rows(row.get("shipmentItems"), field="shipmentItems"),
                    )
                )
        ids = [replies.payload_id(r.get("id"), field="sale.shipment.list.shipments.id") for r in rows]
        missing = [i for i in ids if i not in nested]
        if missing:
            params: JSON = {"filter": {"@orderDeliveryId": missing}, "order": {"id": "asc"}}
            first = self._transport.call("sale.shipmentitem.list", params)
            items = rest_of_list(
                self._transport,
                "sale.shipmentitem.list",
                params,
                "shipmentItems",
                first=first.get("result"),
                next_start=next_of(first),
            )
            lines = replies.mapped("sale.shipmentitem.list", mappers.shipment_line, items)
            for sid in missing:
                nested[sid] = tuple(line for line in lines if line.shipment_id == sid)
        return tuple(
            replies.mapped(
                "sale.shipment.list", lambda r: mappers.shipment(r, nested[to_id(r["id"], field="id")]), rows
            )
        )

    def set_order_status(
        self, order_id: int, status_id: str, *, allowed_from: Collection[str]
    ) -> StatusChange:
        order_id = positive_id(order_id, "order_id")
        if not isinstance(status_id, str) or not status_id.strip():
            raise ValidationError("status_id", "must be a non-empty Bitrix status code", "e.g. 'P'")
        if isinstance(allowed_from, str) or not all(isinstance(s, str) for s in allowed_from):
            # A plain string would be matched by substring ("NP" would allow "N" and "P" and "NP").
            raise ValidationError("allowed_from", "must be a collection of status codes", "e.g. {'N', 'P'}")
        with concerning("order", order_id):
            current = self._current_status(order_id)
            if current == status_id:
                return StatusChange(order_id, StatusOutcome.ALREADY_SET, current, current)
            if current not in allowed_from:
                return StatusChange(order_id, StatusOutcome.REFUSED, current, current)
            reply = self._transport.call(
                "sale.order.update", {"id": order_id, "fields": {"statusId": status_id}}
            )
        written = replies.obj(
            replies.wrapped(reply, "order", "sale.order.update"), field="sale.order.update.order"
        )
        now = written.get("statusId", status_id)
        if now != status_id:
            raise StatusOverruledError(
                f"order {order_id}: asked for status {status_id!r}, Bitrix kept {now!r} (a shop rule won)",
                order_id=order_id,
                requested=status_id,
                kept=str(now),
            )
        version = written.get("version")
        return StatusChange(
            order_id,
            StatusOutcome.CHANGED,
            current,
            str(now),
            version=None
            if version in (None, "")
            else to_id(version, field="sale.order.update.order.version"),
        )

    def _current_status(self, order_id: int) -> str:
        reply = self._transport.call(
            "sale.order.list", {"select": ["id", "statusId"], "filter": {"id": order_id}, "start": -1}
        )
        rows = replies.rows(
            replies.wrapped(reply, "orders", "sale.order.list"), field="sale.order.list.orders"
        )
        for row in rows:
            if replies.payload_id(row.get("id"), field="order.id") == order_id:
                return str(row.get("statusId"))
        raise EntityNotFoundError(
            f"order {order_id} does not exist in Bitrix", entity="order", entity_id=order_id
        )

    def statuses(self) -> list[SaleStatus]:
        rows = all_pages(
            self._transport,
            lambda start: self._sdk.sale.status.list(order={"sort": "asc"}, start=start).response,
            "statuses",
            "sale.status.list",
        )
        return replies.mapped("sale.status.list", mappers.sale_status, rows)

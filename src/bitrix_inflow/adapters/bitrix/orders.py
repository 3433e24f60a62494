"""Orders (``sale.order.*``): polling for new and changed ones, reading one whole, compare-and-set of its
status, and the statuses the shop has configured (``sale.status.list``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from bitrix_inflow.errors import IntegrationError, ValidationError

from . import mappers, replies
from .arguments import positive_id
from .errors import AlreadyThereError, EntityNotFoundError, StatusOverruledError, concerning
from .models import (
    ChangedOrders,
    OrderBundle,
    OrderHeader,
    OrderWatermark,
    SaleStatus,
    Shipment,
    ShipmentLine,
    StatusBatch,
    StatusChange,
    StatusOutcome,
    StatusRequest,
)
from .paging import BATCH, PAGE, all_pages, every_row, rest_of_list
from .settings import BitrixSettings
from .transport import JSON, BatchReply, Transport
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

    def orders_created_since(self, since: datetime, *, max_pages: int) -> tuple[list[int], bool]:
        """Ids of the orders created at or after ``since`` (oldest first), and whether that is all of them (False:
        ``max_pages`` ran out)."""
        if since.tzinfo is None:
            raise ValidationError("since", "must be timezone-aware", "pass it with its offset")
        found, complete = self._scan_orders(
            {">=dateInsert": format_dt(since)}, after_id=0, max_pages=max_pages
        )
        return [o.id for o in found], complete

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
        found = self.get_orders([order_id])[order_id]
        if isinstance(found, IntegrationError):
            raise found
        return found

    def get_orders(self, order_ids: Sequence[int]) -> dict[int, OrderBundle | IntegrationError]:
        """Up to 50 orders whole, in one ``batch`` of ``sale.order.get`` (each nests its basket and shipments):
        each order's bundle, or the error about it (not found, unreadable). Limits, auth and server trouble are
        about the whole call, and raised."""
        ids = list(dict.fromkeys(positive_id(i, "order_ids") for i in order_ids))
        if len(ids) > BATCH:
            raise ValidationError(
                "order_ids", f"at most {BATCH} orders a call, got {len(ids)}", "split the list"
            )
        commands: dict[str, tuple[str, JSON]] = {f"o{i}": ("sale.order.get", {"id": i}) for i in ids}
        return self._bundles_in(self._transport.batch(commands), ids)

    def _bundles_in(
        self, reply: BatchReply, order_ids: Sequence[int], *, raise_global: bool = True
    ) -> dict[int, OrderBundle | IntegrationError]:
        """The orders a batch read (``o{id}`` commands): each bundle, or the error about that order. An error about
        the whole call (limits, auth, server trouble) is raised, unless ``raise_global`` is False."""
        found: dict[int, OrderBundle | IntegrationError] = {}
        for order_id in order_ids:
            key = f"o{order_id}"
            try:
                with concerning("order", order_id):
                    replies.raise_first(reply, key)
                    found[order_id] = self._bundle(order_id, reply.results[key])
            except IntegrationError as error:
                if raise_global:
                    replies.raise_if_global(error)
                found[order_id] = error
        return found

    def _bundle(self, order_id: int, answer: object) -> OrderBundle:
        order_row = replies.obj(
            replies.wrapped({"result": answer}, "order", "sale.order.get"), field="sale.order.get"
        )
        header = replies.mapped("sale.order.get", mappers.order_header, [order_row])[0]
        if "basketItems" in order_row and "shipments" in order_row:
            # The order nests its whole basket and its shipments (the docs' example): nothing else to read.
            basket_rows = replies.rows(order_row["basketItems"], field="sale.order.get.order.basketItems")
            shipment_rows = replies.rows(order_row["shipments"], field="sale.order.get.order.shipments")
        else:
            basket_rows, shipment_rows = self._lists_of(order_id)
        basket = replies.mapped("sale.basketitem.list", mappers.basket_line, basket_rows)
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

    def _lists_of(self, order_id: int) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
        """An order's basket and shipments from their own lists, for a server whose ``sale.order.get`` leaves
        them out."""
        by_order = {"filter": {"orderId": order_id}, "order": {"id": "asc"}}
        commands: dict[str, tuple[str, JSON]] = {
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

        return all_rows("basket", "basketItems"), all_rows("shipments", "shipments")

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
            items = every_row(self._transport, "sale.shipmentitem.list", params, "shipmentItems")
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
        request = _checked(StatusRequest(order_id, status_id, allowed_from))
        with concerning("order", request.order_id):
            reply = self._transport.call(
                "sale.order.list",
                {"select": ["id", "statusId"], "filter": {"id": request.order_id}, "start": -1},
            )
            current = _statuses_listed(reply).get(request.order_id)
            change = _compare(request, current)
            if change is not None:
                return change
            method, params = _update_of(request)
            answer = self._transport.call(method, self._transport.as_writer(params))
        return _written(request, str(current), answer.get("result"))

    def cancel_order(self, order_id: int, reason: str) -> bool:
        """``sale.order.update`` with ``canceled: Y`` (the flag, not a status): True when it was cancelled now, False
        when it was cancelled already. ``CancelRefusedError`` when the shop refuses (a paid payment, a shipped
        shipment); a missing order raises ``EntityNotFoundError``."""
        order_id = positive_id(order_id, "order_id")
        with concerning("order", order_id):
            reply = self._transport.call(
                "sale.order.list",
                {"select": ["id", "canceled"], "filter": {"id": order_id}, "start": -1},
            )
            rows = replies.rows(
                replies.wrapped(reply, "orders", "sale.order.list"), field="sale.order.list.orders"
            )
            if not rows:
                raise EntityNotFoundError(
                    f"order {order_id} not found in Bitrix", entity="order", entity_id=order_id
                )
            if str(rows[0].get("canceled", "N")) == "Y":
                return False
            fields = {"canceled": "Y", "reasonCanceled": reason}
            self._transport.call(
                "sale.order.update", self._transport.as_writer({"id": order_id, "fields": fields})
            )
        return True

    def delete_basket_item(self, basket_id: int) -> bool:
        """``sale.basketitem.delete``: the line leaves the order (and its reservation is released). True when deleted
        now, False when it was gone already."""
        basket_id = positive_id(basket_id, "basket_id")
        try:
            self._transport.call("sale.basketitem.delete", self._transport.as_writer({"id": basket_id}))
        except EntityNotFoundError:
            return False
        return True

    def add_basket_item(
        self, order_id: int, product_id: int, quantity: Decimal, *, xml_id: str
    ) -> tuple[int, bool]:
        """``sale.basketitem.add`` of a catalogue product (name and price from the catalogue, the order's
        currency), once: the item carries ``xml_id``, and an item of the order that has it already (an earlier
        attempt whose answer was lost) is the answer instead. (basket item id, added now)."""
        order_id = positive_id(order_id, "order_id")
        product_id = positive_id(product_id, "product_id")
        if not xml_id:
            raise ValidationError(
                "xml_id", "an added line needs its own xmlId", "pass a key unique to the change"
            )
        commands: dict[str, tuple[str, JSON]] = {
            "found": (
                "sale.basketitem.list",
                {"select": ["id", "xmlId"], "filter": {"orderId": order_id, "xmlId": xml_id}},
            ),
            "order": (
                "sale.order.list",
                {"select": ["id", "currency"], "filter": {"id": order_id}, "start": -1},
            ),
        }
        reply = self._transport.batch(commands)
        replies.raise_first(reply, *commands)
        found = replies.rows(
            replies.wrapped({"result": reply.results.get("found")}, "basketItems", "sale.basketitem.list"),
            field="sale.basketitem.list.basketItems",
        )
        if found:
            return replies.payload_id(found[0].get("id"), field="sale.basketitem.list.basketItems.id"), False
        orders = replies.rows(
            replies.wrapped({"result": reply.results.get("order")}, "orders", "sale.order.list"),
            field="sale.order.list.orders",
        )
        if not orders:
            raise EntityNotFoundError(
                f"order {order_id} not found in Bitrix", entity="order", entity_id=order_id
            )
        fields = {
            "orderId": order_id,
            "productId": product_id,
            "quantity": float(quantity),
            "currency": str(orders[0].get("currency") or ""),
            "xmlId": xml_id,
        }
        # Not retried by the transport: a lost answer is found by its xmlId on the next attempt instead.
        answer = self._transport.call(
            "sale.basketitem.add", self._transport.as_writer({"fields": fields}), idempotent=False
        )
        item = replies.wrapped(answer, "basketItem", "sale.basketitem.add")
        if not isinstance(item, Mapping):
            raise IntegrationError(f"sale.basketitem.add answered without the item: {answer!r}")
        return replies.payload_id(item.get("id"), field="sale.basketitem.add.basketItem.id"), True

    def add_shipment_item(self, shipment_id: int, basket_id: int, quantity: Decimal) -> bool:
        """``sale.shipmentitem.add``: units of a basket item go into a shipment (and are reserved there). True when
        added now, False when the shipment held the item already."""
        fields = {
            "orderDeliveryId": positive_id(shipment_id, "shipment_id"),
            "basketId": positive_id(basket_id, "basket_id"),
            "quantity": float(quantity),
        }
        try:
            self._transport.call(
                "sale.shipmentitem.add", self._transport.as_writer({"fields": fields}), idempotent=False
            )
        except AlreadyThereError:
            return False
        return True

    def set_order_statuses(
        self, requests: Sequence[StatusRequest], *, also_read: Sequence[int] = ()
    ) -> StatusBatch:
        """Compare-and-set of up to 49 orders' statuses in two requests: one reads their statuses (one list), the
        next writes those whose status allows it, all in one ``batch``. The room both batches have to spare reads
        ``also_read`` orders whole (a caller reads ahead: up to 99 less the writes). Each order's outcome, or the
        error about it."""
        wanted = {r.order_id: r for r in map(_checked, requests)}
        reads = list(dict.fromkeys(positive_id(i, "also_read") for i in also_read))
        if len(wanted) > BATCH - 1:
            raise ValidationError("requests", f"at most {BATCH - 1} status writes a call", "split the list")
        if wanted and len(reads) > 2 * BATCH - 1 - len(wanted):
            raise ValidationError(
                "also_read",
                f"at most {2 * BATCH - 1 - len(wanted)} orders to read with these writes",
                "read fewer",
            )
        if not wanted:
            if len(reads) > BATCH:
                raise ValidationError("also_read", f"at most {BATCH} orders to read a call", "read fewer")
            return StatusBatch({}, self.get_orders(reads) if reads else {})
        first_reads, later_reads = reads[: BATCH - 1], reads[BATCH - 1 :]
        commands: dict[str, tuple[str, JSON]] = {
            "check": (
                "sale.order.list",
                {"select": ["id", "statusId"], "filter": {"@id": list(wanted)}, "start": -1},
            ),
            **{f"o{i}": ("sale.order.get", {"id": i}) for i in first_reads},
        }
        first = self._transport.batch(commands)
        replies.raise_first(first, "check")
        current = _statuses_listed({"result": first.results["check"]})
        changes: dict[int, StatusChange | IntegrationError] = {}
        updates: dict[str, tuple[str, JSON]] = {}
        for order_id, request in wanted.items():
            try:
                with concerning("order", order_id):
                    change = _compare(request, current.get(order_id))
            except IntegrationError as error:
                changes[order_id] = error
                continue
            if change is not None:
                changes[order_id] = change
            else:
                method, params = _update_of(request)
                updates[f"u{order_id}"] = (method, self._transport.as_writer(params))
        # Written right after the check, and never sent again: a repeat after a wait would write over a status a
        # person set in between. An update this batch did not apply comes back as its order's error, and the
        # order's next run checks afresh.
        written = self._transport.batch(
            {**updates, **{f"o{i}": ("sale.order.get", {"id": i}) for i in later_reads}},
            idempotent=False,
            retry=False,
        )
        for key in updates:
            order_id = int(key[1:])
            try:
                with concerning("order", order_id):
                    replies.raise_first(written, key)
                    changes[order_id] = _written(wanted[order_id], current[order_id], written.results[key])
            except IntegrationError as error:
                changes[order_id] = error
        # What was read ahead is a saving, not the caller's business: an order it could not read is not read.
        read = self._bundles_in(first, first_reads, raise_global=False)
        read.update(self._bundles_in(written, later_reads, raise_global=False))
        return StatusBatch(changes, read)

    def statuses(self) -> list[SaleStatus]:
        rows = all_pages(
            self._transport,
            lambda start: self._sdk.sale.status.list(order={"sort": "asc"}, start=start).response,
            "statuses",
            "sale.status.list",
        )
        return replies.mapped("sale.status.list", mappers.sale_status, rows)

    def status_names(self, language: str) -> dict[str, str]:
        """Each status's name in ``language`` (``sale.statusLang.list``); a status without one is left out."""
        params: JSON = {"select": ["statusId", "lid", "name"], "filter": {"lid": language}}
        rows = every_row(self._transport, "sale.statusLang.list", params, "statusLangs")
        return {str(row.get("statusId")): str(row.get("name") or "") for row in rows if row.get("statusId")}


def _checked(request: StatusRequest) -> StatusRequest:
    order_id = positive_id(request.order_id, "order_id")
    if not isinstance(request.status_id, str) or not request.status_id.strip():
        raise ValidationError("status_id", "must be a non-empty Bitrix status code", "e.g. 'P'")
    allowed = request.allowed_from
    if isinstance(allowed, str) or not all(isinstance(s, str) for s in allowed):
        # A plain string would be matched by substring ("NP" would allow "N" and "P" and "NP").
        raise ValidationError("allowed_from", "must be a collection of status codes", "e.g. {'N', 'P'}")
    return StatusRequest(order_id, request.status_id, allowed)


def _statuses_listed(reply: Mapping[str, Any]) -> dict[int, str]:
    rows = replies.rows(replies.wrapped(reply, "orders", "sale.order.list"), field="sale.order.list.orders")
    return {replies.payload_id(r.get("id"), field="order.id"): str(r.get("statusId")) for r in rows}


def _compare(request: StatusRequest, current: str | None) -> StatusChange | None:
    """What the status read says before any write: nothing to do (already set), not ours to change (refused),
    or ``None``: write."""
    if current is None:
        raise EntityNotFoundError(
            f"order {request.order_id} does not exist in Bitrix", entity="order", entity_id=request.order_id
        )
    if current == request.status_id:
        return StatusChange(request.order_id, StatusOutcome.ALREADY_SET, current, current)
    if current not in request.allowed_from:
        return StatusChange(request.order_id, StatusOutcome.REFUSED, current, current)
    return None


def _update_of(request: StatusRequest) -> tuple[str, JSON]:
    return "sale.order.update", {"id": request.order_id, "fields": {"statusId": request.status_id}}


def _written(request: StatusRequest, before: str, answer: object) -> StatusChange:
    written = replies.obj(
        replies.wrapped({"result": answer}, "order", "sale.order.update"), field="sale.order.update.order"
    )
    now = written.get("statusId", request.status_id)
    if now != request.status_id:
        raise StatusOverruledError(
            f"order {request.order_id}: asked for status {request.status_id!r}, Bitrix kept {now!r} "
            "(a shop rule won)",
            order_id=request.order_id,
            requested=request.status_id,
            kept=str(now),
        )
    version = written.get("version")
    return StatusChange(
        request.order_id,
        StatusOutcome.CHANGED,
        before,
        str(now),
        version=None if version in (None, "") else to_id(version, field="sale.order.update.order.version"),
    )

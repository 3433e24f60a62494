"""BitrixGateway: the one place bitrix-inflow talks to 1C-Bitrix (on-prem "Site Management" or Bitrix24).

Written from the documented REST contract (shared/reference/bitrix-rest.md). Every method returns frozen
models or raises an error of ``bitrix_inflow.errors``; nothing of b24pysdk or ``requests`` leaks out.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from bitrix_inflow.errors import (
    AuthError,
    ConflictError,
    IntegrationError,
    NotFoundError,
    PermanentError,
    TransientError,
    ValidationError,
)
from bitrix_inflow.timing import Clock

from . import error_map, mapping
from .models import (
    AccessReport,
    ChangedOrders,
    Notice,
    NoticeKind,
    OrderBundle,
    OrderHeader,
    OrderStatus,
    OrderWatermark,
    QuantityUpdate,
    Shipment,
    ShipmentLine,
    StatusChange,
    StatusOutcome,
    StockDocument,
    StockLine,
    Store,
)
from .pacing import Backoff
from .settings import BitrixSettings
from .transport import JSON, BatchReply, TokenListener, Transport
from .wire import as_mapping, as_rows, assert_wire_safe, format_dt, to_id, yn

PAGE = 50  # Bitrix's fixed page size (IRestService::LIST_LIMIT)
BATCH = 50  # commands per batch request

T = TypeVar("T")

# What the sync flows call; checked by check_access().
_NEEDED_METHODS = (
    "sale.order.list",
    "sale.order.get",
    "sale.order.update",
    "sale.basketitem.list",
    "sale.shipment.list",
    "sale.shipment.update",
    "sale.status.list",
    "catalog.product.update",
    "catalog.store.list",
    "catalog.document.add",
    "im.notify.system.add",
)

# Stock document types (catalog.enum.getStoreDocumentTypes) and which stores their lines need.
_DOC_STORES = {
    "A": ("storeTo",),  # receipt
    "S": ("storeTo",),  # stock adjustment (acquisition)
    "M": ("storeFrom", "storeTo"),  # transfer
    "R": ("storeTo",),  # return
    "D": ("storeFrom",),  # write-off
}


class BitrixGateway:
    """Typed access to the Bitrix REST methods the sync flows need.

    One gateway per shop; calls are sequential (Bitrix wants one worker per portal), the leaky bucket and
    the back-off are per gateway.
    """

    def __init__(
        self,
        settings: BitrixSettings,
        *,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        on_token_refreshed: TokenListener | None = None,
    ) -> None:
        self.settings = settings
        self.transport = Transport(
            settings, clock=clock, backoff=backoff, on_token_refreshed=on_token_refreshed
        )
        # b24pysdk's typed wrappers; the second client marks its calls as not safe to repeat after a timeout.
        self._sdk = self.transport.token.get_client()
        self._sdk_once = self.transport.token.get_client(idempotent=False)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> BitrixGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- start-up -----------------------------------------------------------------------------------------

    def check_access(self) -> AccessReport:
        """Which needed scopes and methods this webhook/app lacks, in one ``batch`` request.

        On-prem REST lags the cloud and modules may be missing, so the docs advise checking at install time.
        """
        needed = _NEEDED_METHODS + (("tasks.task.add",) if self.settings.profile == "bitrix24" else ())
        commands: dict[str, tuple[str, JSON]] = {"scope": ("scope", {})}
        commands.update({f"m{i}": ("method.get", {"name": name}) for i, name in enumerate(needed)})
        reply = self.transport.batch(commands)
        _raise_first(reply, "scope")
        granted = tuple(str(s) for s in _rows_or_scalars(reply.results.get("scope")))
        wanted_scopes = {"sale", "catalog", "im"} | (
            {"task"} if self.settings.profile == "bitrix24" else set()
        )
        unavailable: dict[str, str] = {}
        for i, name in enumerate(needed):
            key = f"m{i}"
            if key in reply.errors:
                unavailable[name] = str(reply.errors[key])
                continue
            info = reply.results.get(key)
            if not isinstance(info, Mapping) or not info.get("isExisting"):
                unavailable[name] = "not on this Bitrix (module not installed or edition without it)"
            elif not info.get("isAvailable"):
                unavailable[name] = f"needs the scope {error_map.scope_for(name)}"
        return AccessReport(
            scopes=granted,
            missing_scopes=tuple(sorted(wanted_scopes - set(granted))),
            unavailable_methods=unavailable,
        )

    # -- orders -------------------------------------------------------------------------------------------

    def orders_changed_since(self, watermark: OrderWatermark, *, max_pages: int = 20) -> ChangedOrders:
        """New orders (``>id`` the watermark) and changed ones (``>=dateUpdate`` minus the overlap buffer).

        Both use the bulk read Bitrix recommends: ``order {id: asc}``, ``start=-1`` (no COUNT), an ``>id``
        cursor, stop on a short page. Changed orders repeat across polls inside the overlap window: callers
        deduplicate on (id, date_update). ``max_pages`` bounds one poll; the watermark only moves past
        what was really read.
        """
        if not isinstance(max_pages, int) or max_pages < 1:
            raise ValidationError("max_pages", f"must be a positive number of pages, got {max_pages!r}")
        if watermark.last_id < 0:
            raise ValidationError("watermark.last_id", "must be 0 or a Bitrix order id")
        if watermark.updated_at is not None and watermark.updated_at.tzinfo is None:
            raise ValidationError(
                "watermark.updated_at", "must be timezone-aware", "store it with its offset"
            )
        new, new_complete = self._scan_orders({}, after_id=watermark.last_id, max_pages=max_pages)
        changed: list[OrderHeader] = []
        changed_complete = True
        if watermark.updated_at is not None:
            since = watermark.updated_at - timedelta(seconds=self.settings.change_overlap_seconds)
            changed, changed_complete = self._scan_orders(
                {">=dateUpdate": format_dt(since), "<=id": watermark.last_id}, after_id=0, max_pages=max_pages
            )
        last_id = max([watermark.last_id, *(o.id for o in new)])
        updated_at = watermark.updated_at
        if changed_complete and (new_complete or watermark.updated_at is None):
            stamps = [o.date_update for o in (*new, *changed) if o.date_update is not None]
            updated_at = max([*stamps, *([updated_at] if updated_at else [])], default=None)
        return ChangedOrders(
            new=tuple(new),
            changed=tuple(changed),
            watermark=OrderWatermark(last_id=last_id, updated_at=updated_at),
            complete=new_complete and changed_complete,
        )

    def _scan_orders(self, filter_: JSON, *, after_id: int, max_pages: int) -> tuple[list[OrderHeader], bool]:
        found: list[OrderHeader] = []
        cursor = after_id
        for _ in range(max_pages):
            reply = self.transport.call(
                "sale.order.list",
                {
                    "select": list(mapping.ORDER_SELECT),
                    "filter": {**filter_, ">id": cursor},
                    "order": {"id": "asc"},
                    "start": -1,
                },
            )
            rows = _rows(_wrapped(reply, "orders", "sale.order.list"), field="sale.order.list.orders")
            page = _mapped("sale.order.list", mapping.order_header, rows)
            found.extend(page)
            if len(rows) < PAGE:
                return found, True
            cursor = max(o.id for o in page)
        return found, False

    def get_order(self, order_id: int) -> OrderBundle:
        """The order, its basket, shipments with their lines and properties: one ``batch`` request."""
        order_id = _positive_id(order_id, "order_id")
        by_order = {"filter": {"orderId": order_id}, "order": {"id": "asc"}}
        reply = self.transport.batch(
            {
                "order": ("sale.order.get", {"id": order_id}),
                "basket": ("sale.basketitem.list", dict(by_order)),
                "shipments": ("sale.shipment.list", dict(by_order)),
            }
        )
        _raise_first(reply, "order", "basket", "shipments")
        order_row = _obj(
            _wrapped({"result": reply.results.get("order")}, "order", "sale.order.get"),
            field="sale.order.get",
        )
        header = _mapped("sale.order.get", mapping.order_header, [order_row])[0]
        basket_rows = self._rest_of_list(
            "sale.basketitem.list",
            by_order,
            "basketItems",
            first=reply.results.get("basket"),
            next_start=reply.nexts.get("basket"),
        )
        basket = _mapped("sale.basketitem.list", mapping.basket_line, basket_rows)
        shipment_rows = self._rest_of_list(
            "sale.shipment.list",
            by_order,
            "shipments",
            first=reply.results.get("shipments"),
            next_start=reply.nexts.get("shipments"),
        )
        shipments = self._with_lines(
            order_row, [r for r in shipment_rows if not mapping.is_system_shipment(r)]
        )
        properties = _mapped(
            "sale.order.get",
            mapping.property_value,
            _rows(order_row.get("propertyValues"), field="sale.order.get.order.propertyValues"),
        )
        return OrderBundle(
            order=header, basket=tuple(basket), shipments=shipments, properties=tuple(properties)
        )

    def _rest_of_list(
        self, method: str, params: JSON, key: str, *, first: object, next_start: int | None
    ) -> list[Mapping[str, Any]]:
        rows = _rows(_wrapped({"result": first}, key, method), field=f"{method}.{key}")
        while next_start is not None:
            page = self.transport.call(method, {**params, "start": next_start})
            rows += _rows(_wrapped(page, key, method), field=f"{method}.{key}")
            following = _next_of(page)
            next_start = following if following is not None and following > next_start else None
        return rows

    def _with_lines(
        self, order_row: Mapping[str, Any], rows: list[Mapping[str, Any]]
    ) -> tuple[Shipment, ...]:
        # sale.order.get nests shipments[].shipmentItems; read them from there, asking separately only if
        # this server left them out.
        nested: dict[int, tuple[ShipmentLine, ...]] = {}
        for row in _rows(order_row.get("shipments"), field="sale.order.get.order.shipments"):
            if "shipmentItems" in row:
                owner = _payload_id(row.get("id"), field="sale.order.get.order.shipments.id")
                nested[owner] = tuple(
                    _mapped(
                        "sale.order.get",
                        partial(mapping.shipment_line, shipment_id=owner),
                        _rows(row.get("shipmentItems"), field="shipmentItems"),
                    )
                )
        ids = [_payload_id(r.get("id"), field="sale.shipment.list.shipments.id") for r in rows]
        missing = [i for i in ids if i not in nested]
        if missing:
            params: JSON = {"filter": {"@orderDeliveryId": missing}, "order": {"id": "asc"}}
            first = self.transport.call("sale.shipmentitem.list", params)
            items = self._rest_of_list(
                "sale.shipmentitem.list",
                params,
                "shipmentItems",
                first=first.get("result"),
                next_start=_next_of(first),
            )
            lines = _mapped("sale.shipmentitem.list", mapping.shipment_line, items)
            for sid in missing:
                nested[sid] = tuple(line for line in lines if line.shipment_id == sid)
        return tuple(
            _mapped(
                "sale.shipment.list", lambda r: mapping.shipment(r, nested[to_id(r["id"], field="id")]), rows
            )
        )

    def set_order_status(
        self, order_id: int, status_id: str, *, allowed_from: Collection[str]
    ) -> StatusChange:
        """Compare-and-set: write ``status_id`` only if the order's current status is in ``allowed_from``.

        Bitrix has no conditional update, so this is read-then-write; the window between them is one
        request long. The answer says what happened; nothing is written unless the outcome is CHANGED.
        """
        order_id = _positive_id(order_id, "order_id")
        if not isinstance(status_id, str) or not status_id.strip():
            raise ValidationError("status_id", "must be a non-empty Bitrix status code", "e.g. 'P'")
        if isinstance(allowed_from, str) or not all(isinstance(s, str) for s in allowed_from):
            # A plain string would be matched by substring ("NP" would allow "N" and "P" and "NP").
            raise ValidationError("allowed_from", "must be a collection of status codes", "e.g. {'N', 'P'}")
        try:
            current = self._current_status(order_id)
        except NotFoundError as exc:
            if str(order_id) in str(exc):
                raise
            raise NotFoundError(f"order {order_id}: {exc}") from exc
        if current == status_id:
            return StatusChange(order_id, StatusOutcome.ALREADY_SET, current, current)
        if current not in allowed_from:
            return StatusChange(order_id, StatusOutcome.REFUSED, current, current)
        reply = self.transport.call("sale.order.update", {"id": order_id, "fields": {"statusId": status_id}})
        written = _obj(_wrapped(reply, "order", "sale.order.update"), field="sale.order.update.order")
        now = written.get("statusId", status_id)
        if now != status_id:
            raise ConflictError(
                f"order {order_id}: asked for status {status_id!r}, Bitrix kept {now!r} (a shop rule won)"
            )
        return StatusChange(order_id, StatusOutcome.CHANGED, current, str(now))

    def _current_status(self, order_id: int) -> str:
        reply = self.transport.call(
            "sale.order.list", {"select": ["id", "statusId"], "filter": {"id": order_id}, "start": -1}
        )
        rows = _rows(_wrapped(reply, "orders", "sale.order.list"), field="sale.order.list.orders")
        for row in rows:
            if _payload_id(row.get("id"), field="order.id") == order_id:
                return str(row.get("statusId"))
        raise NotFoundError(f"order {order_id} does not exist in Bitrix")

    # -- shipments ----------------------------------------------------------------------------------------

    def update_shipment(
        self,
        shipment_id: int,
        *,
        tracking_number: str | None = None,
        status_id: str | None = None,
        deducted: bool | None = None,
        allow_delivery: bool | None = None,
        delivery_doc_num: str | None = None,
    ) -> Shipment:
        """Change a shipment. Bitrix re-requires ``allowDelivery``, ``deducted`` and ``deliveryId`` on every
        update, so the current values are read first and echoed back unless the caller changes them."""
        shipment_id = _positive_id(shipment_id, "shipment_id")
        changes = (tracking_number, status_id, deducted, allow_delivery, delivery_doc_num)
        if all(change is None for change in changes):
            raise ValidationError(
                "update_shipment", "nothing to change", "pass tracking_number, status_id, deducted, ..."
            )
        for name, flag in (("deducted", deducted), ("allow_delivery", allow_delivery)):
            if flag is not None and not isinstance(flag, bool):
                raise ValidationError(name, f"must be True/False, got {flag!r}")
        current = _obj(
            _wrapped(
                self.transport.call("sale.shipment.get", {"id": shipment_id}), "shipment", "sale.shipment.get"
            ),
            field="sale.shipment.get.shipment",
        )
        now = _mapped("sale.shipment.get", mapping.shipment, [current])[0]
        fields: JSON = {
            "allowDelivery": yn(now.allow_delivery if allow_delivery is None else allow_delivery),
            "deducted": yn(now.deducted if deducted is None else deducted),
            "deliveryId": now.delivery_id,
        }
        if tracking_number is not None:
            fields["trackingNumber"] = tracking_number
        if status_id is not None:
            fields["statusId"] = status_id
        if delivery_doc_num is not None:
            fields["deliveryDocNum"] = delivery_doc_num
        reply = self.transport.call("sale.shipment.update", {"id": shipment_id, "fields": fields})
        row = _obj(_wrapped(reply, "shipment", "sale.shipment.update"), field="sale.shipment.update.shipment")
        merged = {**current, **row} if "shipmentItems" in row else {**current, **row, "shipmentItems": []}
        return _mapped("sale.shipment.update", lambda r: mapping.shipment(r, now.lines), [merged])[0]

    # -- catalog ------------------------------------------------------------------------------------------

    def set_product_quantities(self, quantities: Mapping[int, Decimal | int]) -> QuantityUpdate:
        """Total available quantity per product (no inventory management), 50 products per request.

        Per-product refusals (unknown product, bad value, read-only quantity) are reported in ``failed``;
        limits, auth and server trouble raise, since they concern the whole call.
        """
        items = [
            (_positive_id(pid, f"quantities[{pid}]"), _quantity(qty, f"quantities[{pid}]"))
            for pid, qty in quantities.items()
        ]
        updated: list[int] = []
        failed: dict[int, str] = {}
        for chunk in _chunks(items, BATCH):
            commands = {
                f"p{pid}": ("catalog.product.update", {"id": pid, "fields": {"quantity": qty}})
                for pid, qty in chunk
            }
            reply = self.transport.batch(commands)
            for pid, qty in chunk:
                key = f"p{pid}"
                error = reply.errors.get(key)
                if error is not None:
                    _raise_if_global(error)
                    failed[pid] = str(error)
                    continue
                echoed = _echoed_quantity(reply.results.get(key))
                if echoed is not None and echoed != Decimal(str(qty)):
                    failed[pid] = (
                        f"Bitrix kept quantity {echoed} instead of {qty}: quantity is read-only while "
                        "inventory management is on (use post_stock_document)"
                    )
                    continue
                updated.append(pid)
        return QuantityUpdate(updated=tuple(updated), failed=failed)

    def post_stock_document(
        self,
        doc_type: str,
        lines: Sequence[StockLine],
        *,
        currency: str = "RUB",
        responsible_id: int | None = None,
        title: str = "Inflow WMS stock sync",
        conduct: bool = True,
    ) -> StockDocument:
        """Inventory-management mode: ``catalog.document.add`` → ``element.add`` per line → ``conduct``.

        Adds are not repeated after an ambiguous failure (a timeout may have created the document); the
        error then names the draft document so nothing is booked twice.
        """
        if doc_type not in _DOC_STORES:
            raise ValidationError(
                "doc_type", f"unknown stock document type {doc_type!r}", "one of A, S, M, R, D"
            )
        if not lines:
            raise ValidationError("lines", "a stock document needs at least one line")
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
            raise ValidationError("currency", f"expected an ISO 4217 code, got {currency!r}", "e.g. 'RUB'")
        element_fields = [_element_fields(doc_type, i, line) for i, line in enumerate(lines)]
        header: JSON = {"docType": doc_type, "currency": currency, "title": title}
        if responsible_id is not None or self.settings.manager_user_id is not None:
            header["responsibleId"] = responsible_id or self.settings.manager_user_id
        reply = self.transport.call("catalog.document.add", {"fields": header}, idempotent=False)
        doc_id = _result_id(reply.get("result"), "document", "catalog.document.add")
        element_ids: list[int] = []
        for chunk_no, chunk in enumerate(_chunks(element_fields, BATCH)):
            commands = {
                f"e{chunk_no * BATCH + i}": (
                    "catalog.document.element.add",
                    {"fields": {"docId": doc_id, **f}},
                )
                for i, f in enumerate(chunk)
            }
            batch = self.transport.batch(commands, idempotent=False)
            for key in commands:
                if key in batch.errors:
                    raise _with_context(batch.errors[key], f"stock document {doc_id} (draft) line {key[1:]}")
                element_ids.append(
                    _result_id(batch.results.get(key), "documentElement", "catalog.document.element.add")
                )
        conducted = False
        if conduct:
            try:
                reply = self.transport.call("catalog.document.conduct", {"id": doc_id}, idempotent=False)
            except IntegrationError as error:
                # e.g. a write-off beyond the stock: the draft stays for an operator to fix or delete.
                raise _with_context(error, f"stock document {doc_id} (draft, not conducted)") from None
            result = reply.get("result")
            if result in (False, None):
                raise PermanentError(
                    f"stock document {doc_id}: Bitrix refused to conduct it (answer {result!r})"
                )
            conducted = True
        return StockDocument(
            id=doc_id, doc_type=doc_type, element_ids=tuple(element_ids), conducted=conducted
        )

    def stores(self) -> list[Store]:
        rows = self._all_pages(
            lambda start: (
                self._sdk.catalog.store.list(
                    select=["id", "title", "active", "code", "xmlId", "address"],
                    order={"id": "ASC"},
                    start=start,
                ).response
            ),
            "stores",
            "catalog.store.list",
        )
        return _mapped("catalog.store.list", mapping.store, rows)

    def statuses(self) -> list[OrderStatus]:
        """Order (``O``) and delivery (``D``) statuses as configured in the shop; read them, never assume."""
        rows = self._all_pages(
            lambda start: self._sdk.sale.status.list(order={"sort": "asc"}, start=start).response,
            "statuses",
            "sale.status.list",
        )
        return _mapped("sale.status.list", mapping.order_status, rows)

    def _all_pages(self, fetch: Callable[[int], Any], key: str, method: str) -> list[Mapping[str, Any]]:
        rows: list[Mapping[str, Any]] = []
        start = 0
        while True:
            response = self.transport.guard(method, partial(fetch, start))
            rows += _rows(_wrapped({"result": response.result}, key, method), field=f"{method}.{key}")
            nxt = response.next
            if not isinstance(nxt, int) or nxt <= start:
                return rows
            start = nxt

    # -- telling people -----------------------------------------------------------------------------------

    def notify_manager(self, message: str, *, user_id: int | None = None, tag: str | None = None) -> Notice:
        """A system notification (``im.notify.system.add``) to the manager; BB-codes allowed."""
        target = self._manager(user_id)
        if not message.strip():
            raise ValidationError("message", "must not be empty")
        extra: JSON = {"tag": tag} if tag else {}
        response = self.transport.guard(
            "im.notify.system.add",
            lambda: self._sdk_once.im.notify.system.add(user_id=target, message=message, **extra).response,
        )
        result = response.result
        if result is False or result is None:
            raise PermanentError(
                f"im.notify.system.add: Bitrix did not create the notification for user {target}"
            )
        return Notice(NoticeKind.NOTIFICATION, _payload_id(result, field="im.notify.system.add.result"))

    def create_task(
        self,
        title: str,
        description: str,
        *,
        responsible_id: int | None = None,
        deadline: datetime | None = None,
    ) -> Notice:
        """A task for the manager on Bitrix24; on-prem "site" has no tasks module: a notification."""
        target = self._manager(responsible_id)
        if not title.strip():
            raise ValidationError("title", "a task needs a title")
        if self.settings.profile == "bitrix24":
            fields: JSON = {"TITLE": title, "DESCRIPTION": description, "RESPONSIBLE_ID": target}
            if deadline is not None:
                if deadline.tzinfo is None:
                    raise ValidationError(
                        "deadline", "must be timezone-aware", "attach the shop's UTC offset"
                    )
                fields["DEADLINE"] = format_dt(deadline)
            try:
                response = self.transport.guard(
                    "tasks.task.add", lambda: self._sdk_once.tasks.task.add(fields=fields).response
                )
            except PermanentError as exc:
                if "ERROR_METHOD_NOT_FOUND" not in str(exc):
                    raise
            else:
                task = _obj(
                    _wrapped({"result": response.result}, "task", "tasks.task.add"),
                    field="tasks.task.add.task",
                )
                return Notice(NoticeKind.TASK, _payload_id(task.get("id"), field="tasks.task.add.task.id"))
        text = f"[b]{title}[/b]\n{description}"
        return self.notify_manager(text, user_id=target)

    def _manager(self, user_id: int | None) -> int:
        target = user_id if user_id is not None else self.settings.manager_user_id
        if target is None:
            raise ValidationError(
                "manager_user_id", "no Bitrix user to notify", "set manager_user_id in settings"
            )
        return _positive_id(target, "user_id")


# -- helpers ----------------------------------------------------------------------------------------------


def _positive_id(value: object, field: str) -> int:
    try:
        number = to_id(value, field=field)
    except (ValueError, TypeError) as exc:
        raise ValidationError(field, str(exc), "pass the numeric Bitrix id") from None
    if number <= 0:
        raise ValidationError(field, f"must be a positive id, got {number}", "pass the numeric Bitrix id")
    return number


def _quantity(value: object, field: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValidationError(field, f"expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise ValidationError(field, f"expected a number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValidationError(field, f"must be a finite number >= 0, got {value!r}")
    return int(number) if number == number.to_integral_value() else float(number)


def _element_fields(doc_type: str, index: int, line: StockLine) -> JSON:
    field = f"lines[{index}]"
    fields: JSON = {
        "elementId": _positive_id(line.product_id, f"{field}.product_id"),
        "amount": _quantity(line.amount, f"{field}.amount"),
    }
    for key in _DOC_STORES[doc_type]:
        store = line.store_to if key == "storeTo" else line.store_from
        if store is None:
            wanted = "store_to" if key == "storeTo" else "store_from"
            raise ValidationError(
                f"{field}.{wanted}", f"document type {doc_type} needs it", "give the store id"
            )
        fields[key] = _positive_id(store, f"{field}.{key}")
    if line.purchasing_price is not None:
        fields["purchasingPrice"] = _quantity(line.purchasing_price, f"{field}.purchasing_price")
    assert_wire_safe(fields, field)
    return fields


def _echoed_quantity(result: object) -> Decimal | None:
    """The quantity ``catalog.product.update`` answers with (``{"element": {...}}``), if it says one."""
    element = result.get("element") if isinstance(result, Mapping) else None
    value = element.get("quantity") if isinstance(element, Mapping) else None
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _next_of(envelope: Mapping[str, Any]) -> int | None:
    value = envelope.get("next")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _rows_or_scalars(value: object) -> list[object]:
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        return list(value.values())
    raise PermanentError(f"scope: expected a list of scopes, got {str(value)[:100]}")


def _payload_id(value: object, *, field: str) -> int:
    try:
        return to_id(value, field=field)
    except (ValueError, TypeError) as exc:
        raise PermanentError(f"Bitrix sent an answer we cannot read ({exc})") from exc


def _rows(value: object, *, field: str) -> list[Mapping[str, Any]]:
    try:
        return as_rows(value, field=field)
    except (ValueError, TypeError) as exc:
        raise PermanentError(f"Bitrix sent an answer we cannot read ({exc})") from exc


def _obj(value: object, *, field: str) -> Mapping[str, Any]:
    try:
        return as_mapping(value, field=field)
    except (ValueError, TypeError) as exc:
        raise PermanentError(f"Bitrix sent an answer we cannot read ({exc})") from exc


def _wrapped(reply: Mapping[str, Any], key: str, method: str) -> Any:
    """sale/catalog answers wrap their payload: ``{"result": {"orders": [...]}}``."""
    result = reply.get("result")
    if isinstance(result, Mapping) and key in result:
        return result[key]
    if isinstance(result, list) and not result and key not in ("order", "shipment", "task", "document"):
        return []  # PHP's empty map
    raise TransientError(f"{method}: answer without result.{key}: {str(result)[:200]}")


def _mapped(method: str, convert: Callable[[Any], T], rows: Sequence[Any]) -> list[T]:
    try:
        return [convert(row) for row in rows]
    except (ValueError, KeyError, TypeError) as exc:
        raise PermanentError(f"{method}: Bitrix sent a row we cannot read ({exc})") from exc


def _result_id(result: object, key: str, method: str) -> int:
    if isinstance(result, Mapping):
        inner = result.get(key, result)
        value = inner.get("id") if isinstance(inner, Mapping) else inner
    else:
        value = result
    try:
        return to_id(value, field=f"{method}.result.{key}.id")
    except (ValueError, TypeError) as exc:
        raise PermanentError(f"{method}: no id in the answer ({exc})") from exc


def _raise_first(reply: BatchReply, *keys: str) -> None:
    for key in keys:
        if key in reply.errors:
            raise reply.errors[key]
        if key not in reply.results:
            raise TransientError(f"batch: no answer for command {key!r}")


def _raise_if_global(error: IntegrationError) -> None:
    """A per-command error that concerns the whole call (limits, auth, server trouble) aborts it."""
    if isinstance(error, TransientError | AuthError):
        raise error


def _with_context(error: IntegrationError, context: str) -> IntegrationError:
    error.args = (f"{context}: {error}",)
    return error


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

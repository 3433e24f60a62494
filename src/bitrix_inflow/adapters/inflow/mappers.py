"""Canonical JSON values (contract names) <-> the frozen models. Both transports deliver canonical values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from bitrix_inflow.adapters.inflow.models import (
    AvailableStock,
    BinStock,
    ChangesPage,
    NewPickingOrder,
    OrderLine,
    Package,
    PackageLine,
    PickedFrom,
    PickingFailure,
    PickingOrder,
    ReturnedLine,
    ReturnReceived,
    ReturnsPage,
    StockPage,
    Tracking,
)
from bitrix_inflow.adapters.inflow.problems import ContractViolationError
from bitrix_inflow.domain.vocabulary import InflowStatus

T = TypeVar("T")


def timestamp(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        # zeep brings its own UTC tzinfo class; normalise so equal instants compare and print alike.
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def wire_timestamp(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parsed(what: str, build: Callable[[Mapping[str, Any]], T], value: Any) -> T:
    try:
        return build(value)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ContractViolationError(
            f"Inflow WMS sent a {what} the contract does not allow ({exc!r}): {value!r:.300}"
        ) from None


def _text(row: Mapping[str, Any], key: str) -> str:
    """A code the service keys on (a SKU, a warehouse): text, never a number or null passed along."""
    value = row[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key} must be a non-empty string, not {value!r}")
    return value


def _available(row: Mapping[str, Any]) -> AvailableStock:
    return AvailableStock(
        sku=_text(row, "sku"),
        warehouse=_text(row, "warehouse"),
        qty_available=int(row["qty_available"]),
        updated_at=timestamp(row["updated_at"]),
    )


def _bin(row: Mapping[str, Any]) -> BinStock:
    return BinStock(
        sku=_text(row, "sku"),
        warehouse=_text(row, "warehouse"),
        zone=row["zone"],
        bin=row["bin"],
        qty_on_hand=int(row["qty_on_hand"]),
        qty_reserved=int(row["qty_reserved"]),
        qty_in_picking=int(row["qty_in_picking"]),
        sellable=bool(row["sellable"]),
        updated_at=timestamp(row["updated_at"]),
    )


def available_page(page: Mapping[str, Any]) -> StockPage[AvailableStock]:
    rows = tuple(_parsed("stock row", _available, row) for row in page.get("items") or ())
    return StockPage(items=rows, next_cursor=page.get("next_cursor") or None)


def bin_page(page: Mapping[str, Any]) -> StockPage[BinStock]:
    rows = tuple(_parsed("bin stock row", _bin, row) for row in page.get("items") or ())
    return StockPage(items=rows, next_cursor=page.get("next_cursor") or None)


def _codes(value: Any) -> tuple[str, ...]:
    return tuple(str(code) for code in value or ())


def _line(row: Mapping[str, Any]) -> OrderLine:
    return OrderLine(
        line_no=int(row["line_no"]),
        sku=row["sku"],
        qty=int(row["qty"]),
        qty_picked=int(row["qty_picked"]),
        marked=bool(row["marked"]),
        picked_from=tuple(
            PickedFrom(bin=p["bin"], zone=p["zone"], qty=int(p["qty"])) for p in row.get("picked_from") or ()
        ),
        marking_codes=_codes(row.get("marking_codes")),
    )


def _order(row: Mapping[str, Any]) -> PickingOrder:
    error = row.get("error")
    tracking = row.get("tracking")
    return PickingOrder(
        id=str(row["id"]),
        external_ref=row["external_ref"],
        customer_order_ref=row["customer_order_ref"],
        warehouse=row["warehouse"],
        status=InflowStatus(row["status"]),
        version=int(row["version"]),
        change_seq=int(row["change_seq"]),
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        lines=tuple(_line(line) for line in row.get("lines") or ()),
        zone=row.get("zone"),
        carrier=row.get("carrier"),
        error=PickingFailure(
            code=error["code"],
            sku=error["sku"],
            bin=error.get("bin"),
            line_no=int(error["line_no"]),
            reason=error["reason"],
        )
        if error
        else None,
        packages=tuple(
            Package(
                sscc=p["sscc"],
                lines=tuple(
                    PackageLine(
                        line_no=int(pl["line_no"]),
                        qty=int(pl["qty"]),
                        marking_codes=_codes(pl.get("marking_codes")),
                    )
                    for pl in p.get("lines") or ()
                ),
            )
            for p in row.get("packages") or ()
        ),
        tracking=Tracking(carrier=tracking["carrier"], number=tracking["number"]) if tracking else None,
        cancel_reason=row.get("cancel_reason"),
    )


def order(row: Any) -> PickingOrder:
    return _parsed("picking order", _order, row)


def _feed_position(page: Mapping[str, Any], what: str) -> tuple[str, bool]:
    """A feed page's ``next_cursor`` and ``has_more``, which the contract requires on every page."""
    try:
        return str(page["next_cursor"]), bool(page["has_more"])
    except (KeyError, TypeError) as exc:
        raise ContractViolationError(f"Inflow WMS sent a {what} page without {exc}") from None


def changes_page(page: Mapping[str, Any]) -> ChangesPage:
    next_cursor, has_more = _feed_position(page, "changes")
    return ChangesPage(
        orders=tuple(order(row) for row in page.get("items") or ()),
        next_cursor=next_cursor,
        has_more=has_more,
    )


def _return(row: Mapping[str, Any]) -> ReturnReceived:
    lines = []
    for line in row["lines"]:
        disposition = str(line["disposition"])
        if disposition not in ("restock", "quarantine"):
            raise ValueError(f"disposition {disposition!r}")
        lines.append(
            ReturnedLine(
                line_no=int(line["line_no"]),
                sku=_text(line, "sku"),
                qty=int(line["qty"]),
                disposition=disposition,
                marking_codes=_codes(line.get("marking_codes")),
            )
        )
    return ReturnReceived(
        id=_text(row, "id"),
        order_id=_text(row, "order_id"),
        external_ref=_text(row, "external_ref"),
        warehouse=_text(row, "warehouse"),
        received_at=timestamp(row["received_at"]),
        lines=tuple(lines),
    )


def returns_page(page: Mapping[str, Any]) -> ReturnsPage:
    next_cursor, has_more = _feed_position(page, "returns")
    return ReturnsPage(
        returns=tuple(_parsed("return", _return, row) for row in page.get("items") or ()),
        next_cursor=next_cursor,
        has_more=has_more,
    )


def order_body(new: NewPickingOrder, warehouse: str) -> dict[str, Any]:
    """The canonical CreateOrder body; optional members are left out rather than sent as null."""
    body: dict[str, Any] = {
        "external_ref": new.external_ref,
        "customer_order_ref": new.customer_order_ref,
        "warehouse": new.warehouse or warehouse,
        "lines": [
            {"line_no": line.line_no, "sku": line.sku, "qty": line.qty}
            | ({"marking_codes": list(line.marking_codes)} if line.marking_codes else {})
            for line in new.lines
        ],
    }
    if new.zone is not None:
        body["zone"] = new.zone
    if new.carrier is not None:
        body["carrier"] = new.carrier
    return body

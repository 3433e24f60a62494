"""Returns received: goods a customer sent back to the warehouse, per line of a shipped picking order, with the
marking codes of the units that came back and what the warehouse did with them (restock: back on a sellable bin,
the bin it was picked from; quarantine: a bin of zone Q, on hand but never sellable). Read as a feed like the
order changes: ``GET /api/v1/returns?cursor=&limit=``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bitrix_inflow.sandboxes.wms import cursors
from bitrix_inflow.sandboxes.wms.clock import format_us
from bitrix_inflow.sandboxes.wms.gs1 import parse_marking_code
from bitrix_inflow.sandboxes.wms.order_model import Order
from bitrix_inflow.sandboxes.wms.problems import Problem, field_error, invalid
from bitrix_inflow.sandboxes.wms.stock import ZONE_INDEX, StockStore, bin_name, parse_bin_name

DISPOSITIONS = ("restock", "quarantine")
RETURNABLE = ("SHIPPED", "DELIVERED")


@dataclass
class ReturnLine:
    line_no: int
    sku: str
    qty: int
    disposition: str
    marking_codes: list[str] = field(default_factory=list)
    bin: str = ""


@dataclass
class Return:
    id: str
    order_id: str
    external_ref: str
    warehouse: str
    received_us: int
    lines: list[ReturnLine]
    seq: int = 0

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "order_id": self.order_id,
            "external_ref": self.external_ref,
            "warehouse": self.warehouse,
            "received_at": format_us(self.received_us),
            "lines": [asdict(line) for line in self.lines],
        }


class ReturnsBook:
    def __init__(self, stock: StockStore) -> None:
        self.stock = stock
        self.items: list[Return] = []
        self.returned: dict[tuple[str, int], int] = {}  # (order, line_no) → units returned so far
        self.returned_codes: set[str] = set()  # identities of units that came back

    def receive(self, order: Order, body: Any, now: int) -> Return:
        """Checked whole before anything changes: a refused return leaves stock and codes as they were."""
        if order.status not in RETURNABLE:
            raise invalid("order_id", f"order {order.id} is {order.status}: only shipped goods come back")
        raw_lines = body.get("lines") if isinstance(body, dict) else None
        if not isinstance(raw_lines, list) or not raw_lines:
            raise invalid(
                "lines", "a return needs at least one line: {line_no, qty, disposition, marking_codes?}"
            )
        by_no = {line.line_no: line for line in order.lines}
        errors = []
        lines: list[ReturnLine] = []
        seen: set[str] = set()
        for i, raw in enumerate(raw_lines):
            where = f"lines[{i}]"
            if not isinstance(raw, dict):
                errors.append(field_error(where, "must be an object"))
                continue
            line = by_no.get(raw.get("line_no"))  # type: ignore[arg-type]
            if line is None:
                errors.append(field_error(f"{where}.line_no", f"order {order.id} has no such line"))
                continue
            qty = raw.get("qty")
            left = line.qty_picked - self.returned.get((order.id, line.line_no), 0)
            if not isinstance(qty, int) or isinstance(qty, bool) or not 0 < qty <= left:
                errors.append(field_error(f"{where}.qty", f"must be a whole number from 1 to {left}"))
                continue
            disposition = raw.get("disposition")
            if disposition not in DISPOSITIONS:
                errors.append(field_error(f"{where}.disposition", "must be restock or quarantine"))
                continue
            codes = raw.get("marking_codes") or []
            if line.marked:
                shipped = {parse_marking_code(c).identity: c for c in line.marking_codes}
                if not isinstance(codes, list) or len(codes) != qty:
                    errors.append(
                        field_error(
                            f"{where}.marking_codes", f"a marked line needs one code per unit ({qty})"
                        )
                    )
                    continue
                for j, code in enumerate(codes):
                    try:
                        identity = parse_marking_code(str(code)).identity
                    except ValueError as exc:
                        errors.append(field_error(f"{where}.marking_codes[{j}]", str(exc)))
                        continue
                    if identity not in shipped:
                        errors.append(
                            field_error(f"{where}.marking_codes[{j}]", "not a unit this line shipped")
                        )
                    elif identity in self.returned_codes or identity in seen:
                        errors.append(
                            field_error(f"{where}.marking_codes[{j}]", "this unit came back already")
                        )
                    seen.add(identity)
            elif codes:
                errors.append(field_error(f"{where}.marking_codes", f"SKU {line.sku} is not marked"))
                continue
            lines.append(ReturnLine(line.line_no, line.sku, qty, str(disposition), [str(c) for c in codes]))
        if errors:
            raise Problem("validation", f"{len(errors)} problem(s) with the return", errors=errors)
        wh = self.stock._warehouse(order.warehouse)
        sku_of = self.stock.sku_index
        for ret_line in lines:
            source = by_no[ret_line.line_no]
            if ret_line.disposition == "restock" and source.picked_from:
                label = str(source.picked_from[0]["bin"])
            else:
                label = bin_name(ZONE_INDEX["Q"], wh.next_binno)
            parse_bin_name(label)
            slot = self.stock.ensure_slot(order.warehouse, sku_of[ret_line.sku], label, now)
            self.stock.adjust(slot, now, on_hand=ret_line.qty)
            ret_line.bin = self.stock.bin_of(slot)
            key = (order.id, ret_line.line_no)
            self.returned[key] = self.returned.get(key, 0) + ret_line.qty
            self.returned_codes.update(parse_marking_code(c).identity for c in ret_line.marking_codes)
        received = Return(
            id=f"RT-{len(self.items) + 1:08d}",
            order_id=order.id,
            external_ref=order.external_ref,
            warehouse=order.warehouse,
            received_us=now,
            lines=lines,
            seq=len(self.items) + 1,
        )
        self.items.append(received)
        return received

    def snapshot(self) -> dict[str, Any]:
        return {
            "items": [asdict(r) for r in self.items],
            "returned": [[order, line, qty] for (order, line), qty in self.returned.items()],
            "returned_codes": sorted(self.returned_codes),
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.items = [
            Return(**{**r, "lines": [ReturnLine(**line) for line in r["lines"]]})
            for r in data.get("items", [])
        ]
        self.returned = {(order, int(line)): int(qty) for order, line, qty in data.get("returned", [])}
        self.returned_codes = set(data.get("returned_codes", []))

    def page(self, cursor: str | None, limit: int) -> dict[str, Any]:
        after = 0
        if cursor is not None:
            pos = cursors.decode(cursor, {"feed": "returns"})
            if not isinstance(pos, int) or isinstance(pos, bool) or pos < 0:
                raise invalid("cursor", "not a cursor issued by this server")
            after = pos
        chosen = [r for r in self.items if r.seq > after][:limit]
        last = chosen[-1].seq if chosen else after
        return {
            "items": [r.document() for r in chosen],
            "next_cursor": cursors.encode(last, {"feed": "returns"}),
            "has_more": any(r.seq > last for r in self.items),
        }

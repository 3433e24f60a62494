"""The picking order document and its lines, as the warehouse keeps them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bitrix_inflow.sandboxes.wms.clock import format_us

FLOW = ("NEW", "ASSIGNED", "PICKING", "PICKED", "PACKING", "SHIPPED", "DELIVERED")
FINAL = frozenset({"DELIVERED", "CANCELLED", "PICKING_ERROR"})
STATUSES = (*FLOW, "CANCELLED", "PICKING_ERROR")


@dataclass
class Allocation:
    slot: int
    qty: int


@dataclass
class Line:
    line_no: int
    sku: str
    sku_idx: int
    qty: int
    marked: bool
    gtin: str
    given_codes: list[str]
    allocations: list[Allocation]
    stock_state: str = "reserved"  # reserved -> in_picking -> picked, or released
    qty_picked: int = 0
    picked_from: list[dict[str, Any]] = field(default_factory=list)
    marking_codes: list[str] = field(default_factory=list)
    marking_group: str | None = None  # 5408 shoes, 5140 light industry, 8258 perfume


@dataclass
class Order:
    id: str
    external_ref: str
    customer_order_ref: str
    warehouse: str
    zone: str | None
    carrier: str | None
    lines: list[Line]
    created_us: int
    updated_us: int
    status: str = "NEW"
    version: int = 1
    change_seq: int = 0
    error: dict[str, Any] | None = None
    packages: list[dict[str, Any]] = field(default_factory=list)
    tracking: dict[str, str] | None = None
    cancel_reason: str | None = None

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "external_ref": self.external_ref,
            "customer_order_ref": self.customer_order_ref,
            "warehouse": self.warehouse,
            "zone": self.zone,
            "carrier": self.carrier,
            "status": self.status,
            "version": self.version,
            "change_seq": self.change_seq,
            "created_at": format_us(self.created_us),
            "updated_at": format_us(self.updated_us),
            "lines": [
                {
                    "line_no": line.line_no,
                    "sku": line.sku,
                    "qty": line.qty,
                    "qty_picked": line.qty_picked,
                    "picked_from": [dict(p) for p in line.picked_from],
                    "marked": line.marked,
                    "marking_codes": list(line.marking_codes),
                }
                for line in self.lines
            ],
            "error": dict(self.error) if self.error else None,
            "packages": [
                {
                    "sscc": p["sscc"],
                    "lines": [dict(pl, marking_codes=list(pl["marking_codes"])) for pl in p["lines"]],
                }
                for p in self.packages
            ],
            "tracking": dict(self.tracking) if self.tracking else None,
            "cancel_reason": self.cancel_reason,
        }

    def snapshot(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Order:
        lines = [
            Line(**{**ln, "allocations": [Allocation(**a) for a in ln["allocations"]]})
            for ln in data["lines"]
        ]
        return cls(**{**data, "lines": lines})

"""What the warehouse prints: marking codes per unit (checked or issued), SSCC labels, tracking numbers."""

from __future__ import annotations

import random
from typing import Any

from bitrix_inflow.sandboxes.wms.faults import FaultSettings
from bitrix_inflow.sandboxes.wms.gs1 import make_marking_code, make_sscc, parse_marking_code, random_serial
from bitrix_inflow.sandboxes.wms.order_model import Line, Order
from bitrix_inflow.sandboxes.wms.problems import Problem, field_error

SSCC_COMPANY_PREFIX = "4601234"  # fictional GS1 Russia company prefix
UNITS_PER_PACKAGE = 10
DEFAULT_CARRIER = "SANDBOX-POST"


class Labels:
    def __init__(self, seed: int) -> None:
        self.used_codes: set[str] = set()  # КИ (GTIN + serial) of every code handed out or claimed
        self.counters = {"sscc": 0, "tracking": 0}
        self.codes_rng = random.Random(seed)
        self.shipped: dict[str, list[str]] = {}  # GTIN → codes packed in earlier orders (for the reuse fault)

    def check_given(self, lines: list[Line]) -> None:
        """Codes the client sent with an order: well-formed, of the SKU's GTIN, unique, not used elsewhere."""
        errors = []
        seen: set[str] = set()
        for i, line in enumerate(lines):
            if line.given_codes and not line.marked:
                errors.append(
                    field_error(f"lines[{i}].marking_codes", f"SKU {line.sku} is not a marked product")
                )
                continue
            if len(line.given_codes) > line.qty:
                errors.append(field_error(f"lines[{i}].marking_codes", f"more codes than qty ({line.qty})"))
            for j, code in enumerate(line.given_codes):
                where = f"lines[{i}].marking_codes[{j}]"
                try:
                    parsed = parse_marking_code(code)
                except ValueError as exc:
                    errors.append(field_error(where, str(exc)))
                    continue
                if parsed.gtin != line.gtin:
                    errors.append(
                        field_error(where, f"GTIN {parsed.gtin} is not the GTIN {line.gtin} of {line.sku}")
                    )
                elif parsed.identity in seen:
                    errors.append(field_error(where, "the same code appears twice in this order"))
                elif parsed.identity in self.used_codes:
                    errors.append(field_error(where, "this code is already used by another order"))
                seen.add(parsed.identity)
        if errors:
            raise Problem("invalid-marking-code", f"{len(errors)} marking code problem(s)", errors=errors)

    def claim_given(self, line: Line) -> None:
        for code in line.given_codes:
            self.used_codes.add(parse_marking_code(code).identity)

    def release_given(self, line: Line) -> None:
        """The units were never sold: their codes may come back with a replacement order."""
        for code in line.given_codes:
            self.used_codes.discard(parse_marking_code(code).identity)

    def tracking(self, order: Order) -> dict[str, str]:
        self.counters["tracking"] += 1
        return {"carrier": order.carrier or DEFAULT_CARRIER, "number": f"TRK{self.counters['tracking']:010d}"}

    def pack(self, order: Order, faults: FaultSettings | None = None) -> None:
        """One code per marked unit (given ones first), then packages of up to ten units with an SSCC each. The
        scanning faults, when set for a line's SKU, spoil the line's last unit."""
        units: list[tuple[int, str | None]] = []
        for line in order.lines:
            if line.marked:
                codes = list(line.given_codes)
                while len(codes) < line.qty:
                    codes.append(self.new_code(line.gtin, line.marking_group))
                earlier = self.shipped.setdefault(line.gtin, [])
                fresh = list(codes)
                spoilt: list[str | None] = list(codes)
                if faults is not None and spoilt:
                    if line.sku in faults.marking_missing_skus:
                        spoilt[-1] = None
                    elif line.sku in faults.marking_repeat_skus and len(spoilt) > 1:
                        spoilt[-1] = spoilt[0]
                    elif line.sku in faults.marking_reuse_skus and earlier:
                        spoilt[-1] = earlier[0]
                earlier.extend(fresh)
                line.marking_codes = [code for code in spoilt if code is not None]
                units.extend((line.line_no, code) for code in spoilt)
            else:
                units.extend((line.line_no, None) for _ in range(line.qty))
        for start in range(0, len(units), UNITS_PER_PACKAGE):
            self.counters["sscc"] += 1
            package_lines: dict[int, dict[str, Any]] = {}
            for line_no, code in units[start : start + UNITS_PER_PACKAGE]:
                entry = package_lines.setdefault(line_no, {"line_no": line_no, "qty": 0, "marking_codes": []})
                entry["qty"] += 1
                if code is not None:
                    entry["marking_codes"].append(code)
            order.packages.append(
                {
                    "sscc": make_sscc(SSCC_COMPANY_PREFIX, self.counters["sscc"]),
                    "lines": list(package_lines.values()),
                }
            )

    def new_code(self, gtin: str, group: str | None = None) -> str:
        while True:
            serial = random_serial(self.codes_rng)
            identity = f"01{gtin}21{serial}"
            if identity not in self.used_codes:
                self.used_codes.add(identity)
                return make_marking_code(gtin, serial, self.codes_rng, group=group)

"""Picking orders: reservation, the status machine driven by the warehouse clock, cancel, changes feed."""

from __future__ import annotations

from bisect import bisect_right
from typing import Any, Protocol

from bitrix_inflow.sandboxes.wms.clock import Timestamps
from bitrix_inflow.sandboxes.wms.faults import Faults
from bitrix_inflow.sandboxes.wms.labels import Labels
from bitrix_inflow.sandboxes.wms.order_model import FINAL, Allocation, Line, Order
from bitrix_inflow.sandboxes.wms.problems import Problem, field_error
from bitrix_inflow.sandboxes.wms.stock import ZONE_INDEX, ZONE_SELLABLE, StockStore


class OrderEvents(Protocol):
    def order_status_changed(self, order: Order, previous: str) -> None: ...

    def stock_changed(self, warehouse: str, skus: list[str]) -> None: ...


class OrderBook:
    def __init__(
        self, stock: StockStore, clock: Timestamps, faults: Faults, events: OrderEvents, seed: int
    ) -> None:
        self.stock = stock
        self.clock = clock
        self.faults = faults
        self.events = events
        self.orders: dict[str, Order] = {}
        self.by_ref: dict[tuple[str, str], str] = {}
        self.change_seqs: list[int] = []
        self.change_ids: list[str] = []
        self.last_seq = 0
        self.counters = {"order": 0}
        self.labels = Labels(seed)

    # ----------------------------------------------------------------- create
    def create(self, req: dict[str, Any]) -> Order:
        """``req`` is shape-validated already; check it against the warehouse and reserve (all or nothing)."""
        wh = req["warehouse"]
        if wh not in self.stock.warehouses:
            known = ", ".join(sorted(self.stock.warehouses)) or "none"
            raise Problem(
                "unknown-warehouse",
                f"warehouse {wh!r} does not exist (known: {known})",
                errors=[field_error("warehouse", "unknown warehouse code")],
            )
        zone = req.get("zone")
        if zone is not None and (zone not in ZONE_INDEX or not ZONE_SELLABLE[ZONE_INDEX[zone]]):
            sellable = ", ".join(z for z, i in ZONE_INDEX.items() if ZONE_SELLABLE[i])
            raise Problem(
                "unknown-warehouse",
                f"zone {zone!r} is not a sellable zone of {wh} (use one of {sellable})",
                errors=[field_error("zone", f"unknown zone; use one of {sellable}")],
            )
        existing = self.by_ref.get((wh, req["external_ref"]))
        if existing is not None:
            raise Problem(
                "duplicate-external-ref",
                f"external_ref {req['external_ref']!r} is already used by order {existing} in {wh}",
                errors=[field_error("external_ref", "already used in this warehouse")],
                extra={"existing_order_id": existing},
            )
        lines = self._resolve_lines(req["lines"])
        self.labels.check_given(lines)
        plans = self._plan(wh, zone, lines)
        now = self.clock.now_us()
        self.counters["order"] += 1
        order = Order(
            id=f"PO-{self.counters['order']:08d}",
            external_ref=req["external_ref"],
            customer_order_ref=req["customer_order_ref"],
            warehouse=wh,
            zone=zone,
            carrier=req.get("carrier"),
            lines=lines,
            created_us=now,
            updated_us=now,
        )
        for line, plan in zip(lines, plans, strict=True):
            line.allocations = plan
            for alloc in plan:
                self.stock.adjust(alloc.slot, now, reserved=alloc.qty)
            self.labels.claim_given(line)
        self.orders[order.id] = order
        self.by_ref[(wh, order.external_ref)] = order.id
        self._record_change(order, now)
        self.events.stock_changed(wh, sorted({line.sku for line in lines}))
        return order

    def _resolve_lines(self, raw_lines: list[dict[str, Any]]) -> list[Line]:
        errors = []
        lines = []
        for i, raw in enumerate(raw_lines):
            sku_idx = self.stock.sku_index.get(raw["sku"])
            if sku_idx is None:
                errors.append(field_error(f"lines[{i}].sku", f"unknown SKU {raw['sku']!r}"))
                continue
            sku = self.stock.skus[sku_idx]
            lines.append(
                Line(
                    line_no=raw["line_no"],
                    sku=sku.code,
                    sku_idx=sku_idx,
                    qty=raw["qty"],
                    marked=sku.marking_group is not None,
                    marking_group=sku.marking_group,
                    gtin=sku.gtin,
                    given_codes=list(raw.get("marking_codes") or []),
                    allocations=[],
                )
            )
        if errors:
            raise Problem("unknown-sku", f"{len(errors)} line(s) name an unknown SKU", errors=errors)
        return lines

    def _plan(self, wh: str, zone: str | None, lines: list[Line]) -> list[list[Allocation]]:
        """Most free stock first, ties by the oldest slot; lines of the same SKU share the free stock."""
        taken: dict[int, int] = {}
        plans: list[list[Allocation]] = []
        short: dict[str, dict[str, Any]] = {}
        errors = []
        zone_idx = ZONE_INDEX[zone] if zone is not None else None
        for i, line in enumerate(lines):
            candidates = [
                s
                for s in self.stock.slots_of(wh, line.sku_idx)
                if self.stock.sellable(s) and (zone_idx is None or self.stock.slot_zone[s] == zone_idx)
            ]
            candidates.sort(key=lambda s: (-(self.stock.free(s) - taken.get(s, 0)), s))
            need = line.qty
            plan = []
            for slot in candidates:
                free = self.stock.free(slot) - taken.get(slot, 0)
                if need == 0 or free <= 0:
                    break
                take = min(free, need)
                plan.append(Allocation(slot, take))
                taken[slot] = taken.get(slot, 0) + take
                need -= take
            if need:
                entry = short.setdefault(line.sku, {"sku": line.sku, "requested": 0, "available": 0})
                entry["requested"] += line.qty
                errors.append(
                    field_error(f"lines[{i}].qty", f"requested {line.qty}, only {line.qty - need} free")
                )
            plans.append(plan)
        if short:
            for entry in short.values():
                entry["requested"] = sum(line.qty for line in lines if line.sku == entry["sku"])
                idx = self.stock.sku_index[entry["sku"]]
                entry["available"] = self._available_in(wh, idx, zone_idx)
            where = f"{wh}" + (f" zone {zone}" if zone else "")
            raise Problem(
                "insufficient-stock",
                f"{len(short)} SKU(s) cannot be reserved in {where}; nothing was reserved",
                errors=errors,
                extra={"shortages": list(short.values())},
            )
        return plans

    def _available_in(self, wh: str, sku_idx: int, zone_idx: int | None) -> int:
        if zone_idx is None:
            return self.stock.available(wh, sku_idx)
        free = sum(
            self.stock.free(s)
            for s in self.stock.slots_of(wh, sku_idx)
            if self.stock.slot_zone[s] == zone_idx
        )
        return max(0, free)

    # ----------------------------------------------------------------- lookups
    def get(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise Problem(
                "not-found", f"no picking order {order_id!r}", errors=[field_error("id", "unknown order id")]
            )
        return order

    def changes(self, after: int, limit: int) -> tuple[list[Order], int, bool]:
        start = bisect_right(self.change_seqs, after)
        found: list[Order] = []
        last = after
        pos = start
        while pos < len(self.change_seqs) and len(found) < limit:
            seq, order_id = self.change_seqs[pos], self.change_ids[pos]
            order = self.orders[order_id]
            if order.change_seq == seq:
                found.append(order)
            last = seq
            pos += 1
        # A superseded entry at the tail can make has_more true for one final, empty page; that is harmless.
        return found, last, pos < len(self.change_seqs)

    # ----------------------------------------------------------------- the clock
    def step(self, order: Order) -> bool:
        """Advance one warehouse step; False when the order is final."""
        if order.status in FINAL:
            return False
        previous = order.status
        now = self.clock.now_us()
        touched: set[str] = set()
        if order.status == "NEW":
            order.status = "ASSIGNED"
        elif order.status == "ASSIGNED":
            self._start_picking(order, now, touched)
        elif order.status == "PICKING":
            self._pick_next_line(order, now, touched)
        elif order.status == "PICKED":
            self.labels.pack(order, self.faults.settings)
            order.status = "PACKING"
        elif order.status == "PACKING":
            order.tracking = self.labels.tracking(order)
            order.status = "SHIPPED"
        elif order.status == "SHIPPED":
            order.status = "DELIVERED"
        self._record_change(order, now)
        if touched:
            self.events.stock_changed(order.warehouse, sorted(touched))
        if order.status != previous:
            self.events.order_status_changed(order, previous)
        return True

    def _start_picking(self, order: Order, now: int, touched: set[str]) -> None:
        blocked = set(self.faults.settings.picking_error_skus)
        for line in order.lines:
            if line.sku in blocked:
                reason = f"{line.sku} is blocked for picking"
                self._picking_error(
                    order,
                    line,
                    code="POSITION_UNAVAILABLE",
                    bin_label=None,
                    reason=reason,
                    now=now,
                    touched=touched,
                )
                return
        for line in order.lines:
            for alloc in line.allocations:
                self.stock.adjust(alloc.slot, now, reserved=-alloc.qty, in_picking=alloc.qty)
            line.stock_state = "in_picking"
            touched.add(line.sku)
        order.status = "PICKING"

    def _pick_next_line(self, order: Order, now: int, touched: set[str]) -> None:
        line = next(ln for ln in order.lines if ln.stock_state == "in_picking")
        missing_bins = set(self.faults.settings.picking_error_bins)
        for alloc in line.allocations:
            bin_label = self.stock.bin_of(alloc.slot)
            if bin_label in missing_bins or self.faults.chance(
                self.faults.settings.picking_error_rate, "picking error"
            ):
                reason = f"{line.sku} not found in bin {bin_label}"
                self._picking_error(
                    order,
                    line,
                    code="ITEM_NOT_FOUND_IN_BIN",
                    bin_label=bin_label,
                    reason=reason,
                    now=now,
                    touched=touched,
                )
                return
        for alloc in line.allocations:
            self.stock.adjust(alloc.slot, now, in_picking=-alloc.qty, on_hand=-alloc.qty)
            line.picked_from.append(
                {
                    "bin": self.stock.bin_of(alloc.slot),
                    "zone": self.stock.zone_of(alloc.slot),
                    "qty": alloc.qty,
                }
            )
        line.qty_picked = line.qty
        line.stock_state = "picked"
        touched.add(line.sku)
        if all(ln.stock_state == "picked" for ln in order.lines):
            order.status = "PICKED"

    def _picking_error(
        self,
        order: Order,
        line: Line,
        *,
        code: str,
        bin_label: str | None,
        reason: str,
        now: int,
        touched: set[str],
    ) -> None:
        self._release(line, now)
        touched.add(line.sku)
        order.error = {
            "code": code,
            "sku": line.sku,
            "bin": bin_label,
            "line_no": line.line_no,
            "reason": reason,
        }
        order.status = "PICKING_ERROR"

    def _release(self, line: Line, now: int) -> None:
        for alloc in line.allocations:
            if line.stock_state == "reserved":
                self.stock.adjust(alloc.slot, now, reserved=-alloc.qty)
            elif line.stock_state == "in_picking":
                self.stock.adjust(alloc.slot, now, in_picking=-alloc.qty)
        if line.stock_state in ("reserved", "in_picking"):
            line.stock_state = "released"

    # ----------------------------------------------------------------- cancel
    def cancel(self, order_id: str, reason: str | None, if_match: int | None) -> Order:
        order = self.get(order_id)
        if if_match is not None and if_match != order.version:
            raise Problem(
                "version-mismatch",
                f"order {order.id} is at version {order.version}, not {if_match}",
                errors=[field_error("If-Match", f"current version is {order.version}")],
                extra={"current_version": order.version},
            )
        if order.status == "CANCELLED":
            return order
        picked = sum(line.qty_picked for line in order.lines)
        allowed = order.status in ("NEW", "ASSIGNED") or (
            order.status in ("PICKING", "PICKING_ERROR") and picked == 0
        )
        if not allowed:
            why = f"{picked} unit(s) already picked" if picked else "goods already left their bins"
            raise Problem(
                "cancel-rejected",
                f"order {order.id} is {order.status}: {why}; cancellation is not possible",
                extra={"order_status": order.status},
            )
        now = self.clock.now_us()
        for line in order.lines:
            self._release(line, now)
            self.labels.release_given(line)
        previous = order.status
        order.status = "CANCELLED"
        order.cancel_reason = reason
        self._record_change(order, now)
        self.events.stock_changed(order.warehouse, sorted({line.sku for line in order.lines}))
        self.events.order_status_changed(order, previous)
        return order

    def _record_change(self, order: Order, now: int) -> None:
        self.last_seq += 1
        if order.change_seq:
            order.version += 1
        order.change_seq = self.last_seq
        order.updated_us = now
        self.change_seqs.append(self.last_seq)
        self.change_ids.append(order.id)

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.status not in FINAL]

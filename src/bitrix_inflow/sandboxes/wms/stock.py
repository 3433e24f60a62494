"""Address-based stock: warehouses -> zones -> bins, one stock slot per (bin, SKU).

Slots live in flat typed arrays so that a million bins fit in tens of megabytes; every change also updates
the per-(warehouse, SKU) aggregate, so the available-stock export never rescans bins.
"""

from __future__ import annotations

import random
import re
from array import array
from bisect import bisect_right, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bitrix_inflow.sandboxes.wms.clock import format_us
from bitrix_inflow.sandboxes.wms.gs1 import MARKING_GROUPS, make_gtin14

# Zone letter -> sellable. A/B are storage zones, P the picking zone, Q quarantine (on hand, never sellable).
ZONES: tuple[tuple[str, bool], ...] = (("A", True), ("B", True), ("P", True), ("Q", False))
ZONE_INDEX = {name: i for i, (name, _) in enumerate(ZONES)}
ZONE_SELLABLE = tuple(sellable for _, sellable in ZONES)
BIN_PATTERN = re.compile(r"^([A-Z])-(\d{4})-(\d{3})$")
# Filters may skip many rows; bound the work of one page and hand out a cursor to continue from.
SCAN_BUDGET = 50_000


def bin_name(zone_idx: int, binno: int) -> str:
    return f"{ZONES[zone_idx][0]}-{binno // 1000:04d}-{binno % 1000:03d}"


def parse_bin_name(name: str) -> tuple[int, int]:
    match = BIN_PATTERN.match(name)
    if not match or match.group(1) not in ZONE_INDEX:
        zones = ", ".join(z for z, _ in ZONES)
        raise ValueError(f"bin must look like A-0001-002 (zone letter one of {zones})")
    return ZONE_INDEX[match.group(1)], int(match.group(2)) * 1000 + int(match.group(3))


class Aggregate:
    """Sums over the *sellable* slots of one SKU in one warehouse."""

    __slots__ = ("in_picking", "on_hand", "reserved", "slots", "updated_us")

    def __init__(self, updated_us: int) -> None:
        self.slots = array("i")
        self.on_hand = 0
        self.reserved = 0
        self.in_picking = 0
        self.updated_us = updated_us

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved - self.in_picking)


@dataclass
class Warehouse:
    code: str
    slot_ids: array[int] = field(default_factory=lambda: array("i"))
    aggregates: dict[int, Aggregate] = field(default_factory=dict)
    sorted_skus: list[str] = field(default_factory=list)
    next_binno: int = 0


@dataclass
class Sku:
    code: str
    gtin: str
    marking_group: str | None


def generated_skus(n_skus: int) -> list[Sku]:
    """The warehouse's own assortment (``--skus``): ``SKU-000001``..., every fourth marked, groups in turn."""
    return [
        Sku(
            code=f"SKU-{i + 1:06d}",
            gtin=make_gtin14(i + 1),
            marking_group=MARKING_GROUPS[(i // 4) % len(MARKING_GROUPS)] if i % 4 == 0 else None,
        )
        for i in range(n_skus)
    ]


class StockStore:
    def __init__(self) -> None:
        self.skus: list[Sku] = []
        self.sku_index: dict[str, int] = {}
        self.warehouses: dict[str, Warehouse] = {}
        self.slot_wh = array("i")
        self.slot_sku = array("i")
        self.slot_zone = array("b")
        self.slot_binno = array("i")
        self.on_hand = array("i")
        self.reserved = array("i")
        self.in_picking = array("i")
        self.updated = array("q")
        self._wh_codes: list[str] = []

    # ----------------------------------------------------------------- building
    def seed_skus(
        self,
        warehouses: Sequence[str],
        skus: Sequence[Sku],
        zones: Sequence[str] | None,
        *,
        n_bins: int,
        seed: int,
        qty_min: int,
        qty_max: int,
        now_us: int,
    ) -> None:
        """Replace everything with a deterministic warehouse: ``skus`` over ``n_bins`` bins per warehouse, bin j
        holding SKU j mod n. A SKU with a zone (A, B or P) keeps its bins there, except every fifth, which goes to
        quarantine Q; without zones the k-th bin of a SKU goes to A, B, P, A, Q in turn. Quantities come from
        ``random.Random(seed)``."""
        self.__init__()  # type: ignore[misc]
        rng = random.Random(seed)
        for sku in skus:
            self._add_sku(sku)
        n_skus = len(self.skus)
        zone_cycle = (0, 1, 2, 0, 3)
        home = [ZONE_INDEX[zone] for zone in zones] if zones is not None else None
        for wh_code in warehouses:
            wh = self._warehouse(wh_code)
            wh_idx = self._wh_codes.index(wh_code)
            randint = rng.randint
            for j in range(n_bins):
                sku_idx = j % n_skus
                turn = (j // n_skus) % 5
                # The fifth turn is quarantine in both modes (zone_cycle[4] is Q).
                zone = zone_cycle[turn] if home is None or turn == 4 else home[sku_idx]
                self._append_slot(wh, wh_idx, sku_idx, zone, j, randint(qty_min, qty_max), now_us)
            wh.next_binno = n_bins
            wh.sorted_skus = sorted(self.skus[s].code for s in wh.aggregates)

    def _add_sku(self, sku: Sku) -> int:
        self.sku_index[sku.code] = len(self.skus)
        self.skus.append(sku)
        return len(self.skus) - 1

    def _warehouse(self, code: str) -> Warehouse:
        if code not in self.warehouses:
            self.warehouses[code] = Warehouse(code=code)
            self._wh_codes.append(code)
        return self.warehouses[code]

    def _append_slot(  # noqa: PLR0917 - positional on purpose: the seeding hot loop
        self, wh: Warehouse, wh_idx: int, sku_idx: int, zone: int, binno: int, qty: int, now_us: int
    ) -> int:
        slot = len(self.slot_sku)
        self.slot_wh.append(wh_idx)
        self.slot_sku.append(sku_idx)
        self.slot_zone.append(zone)
        self.slot_binno.append(binno)
        self.on_hand.append(qty)
        self.reserved.append(0)
        self.in_picking.append(0)
        self.updated.append(now_us)
        wh.slot_ids.append(slot)
        agg = wh.aggregates.get(sku_idx)
        if agg is None:
            agg = wh.aggregates[sku_idx] = Aggregate(now_us)
        agg.slots.append(slot)
        if ZONE_SELLABLE[zone]:
            agg.on_hand += qty
        agg.updated_us = now_us
        return slot

    def add_sku(self, code: str, gtin: str, marking_group: str | None) -> None:
        self._add_sku(Sku(code=code, gtin=gtin, marking_group=marking_group))

    def ensure_slot(self, wh_code: str, sku_idx: int, bin_label: str | None, now_us: int) -> int:
        """The slot of ``sku_idx`` in ``bin_label`` (a new bin in zone A when None), created if missing."""
        wh = self._warehouse(wh_code)
        wh_idx = self._wh_codes.index(wh_code)
        if bin_label is None:
            zone, binno = 0, wh.next_binno
        else:
            zone, binno = parse_bin_name(bin_label)
            agg = wh.aggregates.get(sku_idx)
            for slot in agg.slots if agg else ():
                if self.slot_zone[slot] == zone and self.slot_binno[slot] == binno:
                    return slot
        wh.next_binno = max(wh.next_binno, binno + 1)
        is_new_sku = sku_idx not in wh.aggregates
        slot = self._append_slot(wh, wh_idx, sku_idx, zone, binno, 0, now_us)
        if is_new_sku:
            insort(wh.sorted_skus, self.skus[sku_idx].code)
        return slot

    # ----------------------------------------------------------------- changing
    def adjust(
        self, slot: int, now_us: int, *, on_hand: int = 0, reserved: int = 0, in_picking: int = 0
    ) -> None:
        self.on_hand[slot] += on_hand
        self.reserved[slot] += reserved
        self.in_picking[slot] += in_picking
        self.updated[slot] = now_us
        agg = self.aggregate_of_slot(slot)
        if ZONE_SELLABLE[self.slot_zone[slot]]:
            agg.on_hand += on_hand
            agg.reserved += reserved
            agg.in_picking += in_picking
        agg.updated_us = now_us

    # ----------------------------------------------------------------- reading
    def aggregate_of_slot(self, slot: int) -> Aggregate:
        wh = self.warehouses[self._wh_codes[self.slot_wh[slot]]]
        return wh.aggregates[self.slot_sku[slot]]

    def free(self, slot: int) -> int:
        return self.on_hand[slot] - self.reserved[slot] - self.in_picking[slot]

    def sellable(self, slot: int) -> bool:
        return ZONE_SELLABLE[self.slot_zone[slot]]

    def bin_of(self, slot: int) -> str:
        return bin_name(self.slot_zone[slot], self.slot_binno[slot])

    def zone_of(self, slot: int) -> str:
        return ZONES[self.slot_zone[slot]][0]

    def available(self, wh_code: str, sku_idx: int) -> int:
        wh = self.warehouses.get(wh_code)
        agg = wh.aggregates.get(sku_idx) if wh else None
        return agg.available if agg else 0

    def slot_row(self, slot: int) -> dict[str, Any]:
        return {
            "sku": self.skus[self.slot_sku[slot]].code,
            "warehouse": self._wh_codes[self.slot_wh[slot]],
            "zone": self.zone_of(slot),
            "bin": self.bin_of(slot),
            "qty_on_hand": self.on_hand[slot],
            "qty_reserved": self.reserved[slot],
            "qty_in_picking": self.in_picking[slot],
            "sellable": self.sellable(slot),
            "updated_at": format_us(self.updated[slot]),
        }

    def page_available(
        self,
        wh_code: str | None,
        sku: str | None,
        since_us: int | None,
        after: tuple[str, str] | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
        """Rows ordered by (warehouse, sku) after ``after``; the key to continue from, None at the end."""
        rows: list[dict[str, Any]] = []
        scanned = 0
        codes = (
            sorted(self.warehouses) if wh_code is None else [wh_code] if wh_code in self.warehouses else []
        )
        sku_idx = self.sku_index.get(sku) if sku is not None else None
        if sku is not None and sku_idx is None:
            return rows, None
        for code in codes:
            if after is not None and code < after[0]:
                continue
            wh = self.warehouses[code]
            candidates: Sequence[str] = wh.sorted_skus if sku is None else [sku]
            start = bisect_right(candidates, after[1]) if after is not None and code == after[0] else 0
            for pos in range(start, len(candidates)):
                if scanned >= SCAN_BUDGET or len(rows) >= limit:
                    return rows, (code, candidates[pos - 1]) if pos > 0 else after
                scanned += 1
                agg = wh.aggregates.get(self.sku_index[candidates[pos]])
                if agg is None or (since_us is not None and agg.updated_us < since_us):
                    continue
                rows.append(
                    {
                        "sku": candidates[pos],
                        "warehouse": code,
                        "qty_available": agg.available,
                        "updated_at": format_us(agg.updated_us),
                    }
                )
            after = (code, candidates[-1]) if candidates else after
        return rows, None

    def page_bins(
        self,
        wh_code: str | None,
        sku: str | None,
        since_us: int | None,
        after: int,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Slot rows with id > ``after`` (ascending); the id to continue from, None at the end."""
        candidates: Sequence[int]
        if sku is not None:
            sku_idx = self.sku_index.get(sku)
            if sku_idx is None:
                return [], None
            codes = self.warehouses if wh_code is None else [wh_code] if wh_code in self.warehouses else []
            merged: list[int] = []
            for code in codes:
                agg = self.warehouses[code].aggregates.get(sku_idx)
                merged.extend(agg.slots if agg else ())
            candidates = sorted(merged)
        elif wh_code is not None:
            candidates = self.warehouses[wh_code].slot_ids if wh_code in self.warehouses else array("i")
        else:
            candidates = range(len(self.slot_sku))
        rows: list[dict[str, Any]] = []
        start = bisect_right(candidates, after)
        end = min(len(candidates), start + SCAN_BUDGET)
        for pos in range(start, end):
            slot = candidates[pos]
            if since_us is not None and self.updated[slot] < since_us:
                continue
            rows.append(self.slot_row(slot))
            if len(rows) >= limit:
                return rows, (slot if pos + 1 < len(candidates) else None)
        if end < len(candidates):
            return rows, candidates[end - 1]
        return rows, None

    def slots_of(self, wh_code: str, sku_idx: int) -> Iterable[int]:
        wh = self.warehouses.get(wh_code)
        agg = wh.aggregates.get(sku_idx) if wh else None
        return agg.slots if agg else ()

    def counts(self) -> dict[str, int]:
        return {"skus": len(self.skus), "slots": len(self.slot_sku), "warehouses": len(self.warehouses)}

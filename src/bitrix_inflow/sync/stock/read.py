"""Reading what the warehouse can sell: per (SKU, warehouse), whole, since a cursor, or for named SKUs.

Either the WMS aggregates (``available_only=true``), or, for installations that cannot, the service reads the bin
rows and sums them (``domain.stock.available_from_bins``). An incremental read of bins names only the slots that
changed, and a sum over some of a SKU's bins is wrong: the SKUs it names are then read again whole.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Literal

from bitrix_inflow.adapters.inflow import BinStock, InflowPort
from bitrix_inflow.domain.stock import StockKey, available_from_bins


class Stopped(Exception):
    """Another part of the run failed: this read ends at its next row instead of reading on."""


def stop_if_asked(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise Stopped


@dataclass
class StockRead:
    available: dict[StockKey, int] = field(default_factory=dict)
    # The newest ``updated_at`` seen per warehouse: where the next incremental read starts (None: nothing seen).
    high_water: dict[str, dt.datetime | None] = field(default_factory=dict)
    rows: int = 0  # rows the WMS sent (for the run summary)
    stop: threading.Event | None = None  # set when the run failed elsewhere


def read_stock(
    wms: InflowPort,
    warehouses: Collection[str],
    *,
    aggregate: Literal["wms", "service"],
    since: dict[str, dt.datetime | None] | None = None,
    skus: Collection[str] | None = None,
    stop: threading.Event | None = None,
) -> StockRead:
    """Whole (``since`` None), incremental (``since`` per warehouse), or only ``skus`` (a targeted sync)."""
    result = StockRead(stop=stop)
    for warehouse in warehouses:
        start = None if since is None else since.get(warehouse)
        result.high_water[warehouse] = start
        if skus is not None:
            for sku in sorted(set(skus)):
                _read_one(wms, result, warehouse, aggregate, sku=sku, updated_since=None)
        elif aggregate == "wms" or start is None:
            _read_one(wms, result, warehouse, aggregate, sku=None, updated_since=start)
        else:
            changed = {row.sku for row in _bins(wms, result, warehouse, sku=None, updated_since=start)}
            for sku in sorted(changed):
                _read_one(wms, result, warehouse, aggregate, sku=sku, updated_since=None)
    return result


def _read_one(
    wms: InflowPort,
    result: StockRead,
    warehouse: str,
    aggregate: Literal["wms", "service"],
    *,
    sku: str | None,
    updated_since: dt.datetime | None,
) -> None:
    if aggregate == "wms":
        for row in wms.iter_available_stock(warehouse=warehouse, sku=sku, updated_since=updated_since):
            result.rows += 1
            _saw(result, warehouse, row.updated_at)
            # Interned: a SKU's rows in several warehouses and its level share one string (100,000s of rows).
            result.available[(sys.intern(row.sku), sys.intern(row.warehouse))] = max(0, row.qty_available)
        return
    summed = available_from_bins(_bins(wms, result, warehouse, sku=sku, updated_since=updated_since))
    result.available.update({(sys.intern(s), sys.intern(w)): qty for (s, w), qty in summed.items()})


def _bins(
    wms: InflowPort,
    result: StockRead,
    warehouse: str,
    *,
    sku: str | None,
    updated_since: dt.datetime | None,
) -> Iterable[BinStock]:
    for row in wms.iter_bin_stock(warehouse=warehouse, sku=sku, updated_since=updated_since):
        result.rows += 1
        _saw(result, warehouse, row.updated_at)
        yield row


def _saw(result: StockRead, warehouse: str, updated_at: dt.datetime) -> None:
    stop_if_asked(result.stop)
    seen = result.high_water.get(warehouse)
    if seen is None or updated_at > seen:
        result.high_water[warehouse] = updated_at

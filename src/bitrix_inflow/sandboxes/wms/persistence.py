"""``--state sqlite:PATH``: the whole sandbox state as a snapshot in a small SQLite file.

Stock arrays are stored as blobs (a million bins in a few megabytes), everything else as JSON. A snapshot is
written to a temporary file and renamed over the old one, so a crash never leaves half a state behind.
"""

from __future__ import annotations

import json
import sqlite3
from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bitrix_inflow.sandboxes.wms.order_model import Order
from bitrix_inflow.sandboxes.wms.stock import ZONE_SELLABLE, Aggregate, Warehouse
from bitrix_inflow.sandboxes.wms.webhooks import Subscription

if TYPE_CHECKING:
    from bitrix_inflow.sandboxes.wms.service import WmsService

_ARRAYS = ("slot_wh", "slot_sku", "slot_zone", "slot_binno", "on_hand", "reserved", "in_picking", "updated")


def exists(path: str) -> bool:
    return Path(path).is_file()


def save(service: WmsService, path: str) -> None:
    stock, book = service.stock, service.book
    meta: dict[str, Any] = {
        "format": 1,
        "skus": [[s.code, s.gtin, s.marking_group] for s in stock.skus],
        "warehouses": [[w.code, w.next_binno] for w in stock.warehouses.values()],
        "wh_codes": stock._wh_codes,
        "orders": [o.snapshot() for o in book.orders.values()],
        "change_seqs": book.change_seqs,
        "change_ids": book.change_ids,
        "last_seq": book.last_seq,
        "counters": book.counters,
        "label_counters": book.labels.counters,
        "used_codes": sorted(book.labels.used_codes),
        "shipped_codes": book.labels.shipped,
        "returns": service.returns.snapshot(),
        "codes_rng": book.labels.codes_rng.getstate(),
        "subscriptions": [vars(s) for s in service.hub.subscriptions.values()],
        "clock": service.clock.now_us(),
    }
    tmp = f"{path}.tmp"
    Path(tmp).unlink(missing_ok=True)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(tmp) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("CREATE TABLE arrays (name TEXT PRIMARY KEY, typecode TEXT NOT NULL, data BLOB NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('state', ?)", (json.dumps(meta),))
        for name in _ARRAYS:
            arr: array[int] = getattr(stock, name)
            db.execute("INSERT INTO arrays VALUES (?, ?, ?)", (name, arr.typecode, arr.tobytes()))
    db.close()
    Path(tmp).replace(path)


def load(service: WmsService, path: str) -> None:
    with sqlite3.connect(path) as db:
        meta = json.loads(db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()[0])
        blobs = {
            name: (code, data) for name, code, data in db.execute("SELECT name, typecode, data FROM arrays")
        }
    db.close()
    stock = service.stock
    stock.__init__()  # type: ignore[misc]
    for code, gtin, group in meta["skus"]:
        stock.add_sku(code, gtin, group)
    for name in _ARRAYS:
        typecode, data = blobs[name]
        arr = array(typecode)
        arr.frombytes(data)
        setattr(stock, name, arr)
    stock._wh_codes = list(meta["wh_codes"])
    for code, next_binno in meta["warehouses"]:
        stock.warehouses[code] = Warehouse(code=code, next_binno=next_binno)
    _rebuild_aggregates(service)
    book = service.book
    for data in meta["orders"]:
        order = Order.restore(data)
        book.orders[order.id] = order
        book.by_ref[(order.warehouse, order.external_ref)] = order.id
    book.change_seqs = list(meta["change_seqs"])
    book.change_ids = list(meta["change_ids"])
    book.last_seq = meta["last_seq"]
    book.counters = dict(meta["counters"])
    book.labels.counters = dict(meta["label_counters"])
    book.labels.used_codes = set(meta["used_codes"])
    book.labels.shipped = {gtin: list(codes) for gtin, codes in meta.get("shipped_codes", {}).items()}
    service.returns.restore(meta.get("returns", {}))
    state = meta["codes_rng"]
    book.labels.codes_rng.setstate((state[0], tuple(state[1]), state[2]))
    for sub in meta["subscriptions"]:
        service.hub.subscriptions[sub["id"]] = Subscription(**sub)
    service.clock.observe(meta["clock"])


def _rebuild_aggregates(service: WmsService) -> None:
    stock = service.stock
    codes = stock._wh_codes
    for slot in range(len(stock.slot_sku)):
        wh = stock.warehouses[codes[stock.slot_wh[slot]]]
        wh.slot_ids.append(slot)
        sku_idx = stock.slot_sku[slot]
        agg = wh.aggregates.get(sku_idx)
        if agg is None:
            agg = wh.aggregates[sku_idx] = Aggregate(stock.updated[slot])
        agg.slots.append(slot)
        if ZONE_SELLABLE[stock.slot_zone[slot]]:
            agg.on_hand += stock.on_hand[slot]
            agg.reserved += stock.reserved[slot]
            agg.in_picking += stock.in_picking[slot]
        agg.updated_us = max(agg.updated_us, stock.updated[slot])
    for wh in stock.warehouses.values():
        wh.sorted_skus = sorted(stock.skus[s].code for s in wh.aggregates)


__all__ = ["exists", "load", "save"]

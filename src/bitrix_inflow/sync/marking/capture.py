"""A picking order's marking codes and packages as the warehouse reported them at packing, kept on its part in the
feed's transaction (no I/O): the apply job checks and writes them before the shipment may be deducted."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection

from bitrix_inflow.adapters.inflow import PickingOrder
from bitrix_inflow.domain.vocabulary import InflowStatus
from bitrix_inflow.store import orders as store

# From PACKING on, the warehouse has a code for every marked unit (contract §12).
PACKED = (InflowStatus.PACKING, InflowStatus.SHIPPED, InflowStatus.DELIVERED)


def reported(picking: PickingOrder) -> dict[str, Any] | None:
    """The marked lines' codes and picked quantities, and each code's package; None when nothing is marked or the
    order is not packed yet."""
    if picking.status not in PACKED:
        return None
    marked = {line.line_no: line for line in picking.lines if line.marked}
    if not marked:
        return None
    sscc = {
        code: package.sscc
        for package in picking.packages
        for package_line in package.lines
        if package_line.line_no in marked
        for code in package_line.marking_codes
    }
    return {
        "lines": {
            str(no): {"codes": list(line.marking_codes), "qty": line.qty_picked}
            for no, line in sorted(marked.items())
        },
        "sscc": sscc,
    }


def capture(conn: Connection, part: store.Part, picking: PickingOrder, *, now: dt.datetime) -> bool:
    """Keep what the warehouse reported for the part (once; again only when it corrects codes held as a problem)."""
    marking = reported(picking)
    if marking is None:
        return False
    return store.capture_marking(conn, part.id, marking, now=now)

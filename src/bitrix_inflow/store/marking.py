"""The marking ledger's SQL: recording shipped units once, the states they come to, and reading them for export.

That a unit is sold once lives in the schema (a partial unique index on its identity, returned units excepted):
recording it again for the same picking order is a no-op, recording it for another order is a clash the caller
turns into an incident.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, select, update
from sqlalchemy.exc import IntegrityError

from bitrix_inflow.store.sql import batched
from bitrix_inflow.store.tables import marking_ledger

STATES = ("shipped", "receipt_rejected", "returned")


@dataclass(frozen=True)
class Unit:
    identity: str
    code: str
    gtin: str
    bitrix_order_id: int
    picking_ref: str
    shipment_id: int | None = None
    basket_id: int | None = None
    sscc: str | None = None
    state: str = "shipped"
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class Recorded:
    added: tuple[str, ...]  # identities recorded now
    already: tuple[str, ...]  # recorded before for this same picking order (a retry)
    sold_elsewhere: tuple[Unit, ...]  # held by another order: a unit is sold once


def record_shipped(
    conn: Connection, connection_id: str, units: Sequence[Unit], *, now: dt.datetime
) -> Recorded:
    """The units as shipped, each once; a unit shipped before under another picking order is not recorded again
    but returned, with where it went."""
    added: list[str] = []
    already: list[str] = []
    clashes: list[Unit] = []
    for unit in units:
        try:
            with conn.begin_nested():
                conn.execute(
                    marking_ledger.insert().values(
                        connection_id=connection_id,
                        identity=unit.identity,
                        code=unit.code,
                        gtin=unit.gtin,
                        bitrix_order_id=unit.bitrix_order_id,
                        shipment_id=unit.shipment_id,
                        basket_id=unit.basket_id,
                        picking_ref=unit.picking_ref,
                        sscc=unit.sscc,
                        state="shipped",
                        created_at=now,
                        updated_at=now,
                    )
                )
            added.append(unit.identity)
        except IntegrityError:
            held = holder(conn, connection_id, unit.identity)
            if held is not None and held.picking_ref == unit.picking_ref:
                already.append(unit.identity)
            elif held is not None:
                clashes.append(held)
            else:  # (returned meanwhile by another transaction: the next attempt records it)
                raise
    return Recorded(tuple(added), tuple(already), tuple(clashes))


def holder(conn: Connection, connection_id: str, identity: str) -> Unit | None:
    """Where a unit is now (not returned), if it is anywhere."""
    c = marking_ledger.c
    row = conn.execute(
        select(marking_ledger).where(
            c.connection_id == connection_id, c.identity == identity, c.state != "returned"
        )
    ).first()
    return None if row is None else _unit(row)


def sold(conn: Connection, connection_id: str, identities: Collection[str]) -> dict[str, Unit]:
    """Which of these units are sold (shipped, or a receipt rejected), with where."""
    c = marking_ledger.c
    query = select(marking_ledger).where(c.connection_id == connection_id, c.state != "returned")
    found = [
        _unit(row)
        for batch in batched(sorted(identities))
        for row in conn.execute(query.where(c.identity.in_(batch)))
    ]
    return {unit.identity: unit for unit in found}


def move(
    conn: Connection,
    connection_id: str,
    identities: Collection[str],
    *,
    state: str,
    now: dt.datetime,
    order_id: int | None = None,
) -> int:
    """Units not returned move to ``state`` (a receipt rejected, or returned); how many moved. ``order_id``: only
    units sold on that order (a return names the order its goods left with)."""
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}")
    c = marking_ledger.c
    moved = 0
    for identity in sorted(set(identities)):
        moved += conn.execute(
            update(marking_ledger)
            .where(
                c.connection_id == connection_id,
                c.identity == identity,
                c.state != "returned",
                *(() if order_id is None else (c.bitrix_order_id == order_id,)),
            )
            .values(state=state, updated_at=now)
        ).rowcount
    return moved


def forget_unsold(conn: Connection, connection_id: str, picking_ref: str, *, keep: Collection[str]) -> int:
    """A picking order's shipped units that its corrected report no longer holds: never sold, so forgotten (they
    would otherwise stay on the shop's line and block the unit for every other order)."""
    c = marking_ledger.c
    rows = conn.execute(
        select(c.id, c.identity).where(
            c.connection_id == connection_id, c.picking_ref == picking_ref, c.state == "shipped"
        )
    ).all()
    gone = [row.id for row in rows if row.identity not in keep]
    for row_id in gone:
        conn.execute(marking_ledger.delete().where(c.id == row_id))
    return len(gone)


def codes_of_lines(conn: Connection, connection_id: str, order_id: int) -> dict[tuple[int, int], list[str]]:
    """What each (shipment, basket line) of an order carries in the ledger: the full codes of its units not
    returned, oldest first: exactly what the shop's shipment line must hold."""
    c = marking_ledger.c
    rows = conn.execute(
        select(c.shipment_id, c.basket_id, c.code)
        .where(
            c.connection_id == connection_id,
            c.bitrix_order_id == order_id,
            c.state != "returned",
            c.shipment_id.is_not(None),
            c.basket_id.is_not(None),
        )
        .order_by(c.id)
    )
    lines: dict[tuple[int, int], list[str]] = {}
    for row in rows:
        lines.setdefault((int(row.shipment_id), int(row.basket_id)), []).append(row.code)
    return lines


def listed(
    conn: Connection,
    connection_id: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    order_id: int | None = None,
    gtin: str | None = None,
) -> list[Unit]:
    """The ledger for an audit or a fiscal provider, oldest first, narrowed by date, order and GTIN."""
    c = marking_ledger.c
    query = select(marking_ledger).where(c.connection_id == connection_id)
    if since is not None:
        query = query.where(c.created_at >= since)
    if until is not None:
        query = query.where(c.created_at < until)
    if order_id is not None:
        query = query.where(c.bitrix_order_id == order_id)
    if gtin is not None:
        query = query.where(c.gtin == gtin)
    return [_unit(row) for row in conn.execute(query.order_by(c.created_at, c.id))]


def _unit(row: Row[Any]) -> Unit:
    r = row._mapping
    return Unit(
        identity=r["identity"],
        code=r["code"],
        gtin=r["gtin"],
        bitrix_order_id=int(r["bitrix_order_id"]),
        picking_ref=r["picking_ref"],
        shipment_id=None if r["shipment_id"] is None else int(r["shipment_id"]),
        basket_id=None if r["basket_id"] is None else int(r["basket_id"]),
        sscc=r["sscc"],
        state=r["state"],
        created_at=r["created_at"],
    )

"""The status mapping table of each connection, as stored in the database (edited without a deployment), and its
audit trail: every change, in the transaction that makes it, with who, when, the old and the new status."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, select

from bitrix_inflow.domain.status_mapping import StatusMapping
from bitrix_inflow.store.tables import status_map, status_map_audit


def load(conn: Connection, connection_id: str) -> StatusMapping:
    rows = conn.execute(
        select(status_map.c.inflow_status, status_map.c.bitrix_status).where(
            status_map.c.connection_id == connection_id
        )
    ).all()
    return StatusMapping({inflow: bitrix for inflow, bitrix in rows})


def set_entry(
    conn: Connection,
    connection_id: str,
    inflow_status: str,
    bitrix_status: str | None,
    *,
    now: dt.datetime,
    by: str,
) -> None:
    """Map one Inflow status (``None``: remove its mapping) inside the caller's transaction; a change is audited."""
    old = conn.execute(
        select(status_map.c.bitrix_status).where(
            status_map.c.connection_id == connection_id, status_map.c.inflow_status == inflow_status
        )
    ).scalar_one_or_none()
    if old != bitrix_status:
        conn.execute(
            status_map_audit.insert().values(
                connection_id=connection_id,
                inflow_status=inflow_status,
                old=old,
                new=bitrix_status,
                changed_at=now,
                changed_by=by,
            )
        )
    conn.execute(
        delete(status_map).where(
            status_map.c.connection_id == connection_id, status_map.c.inflow_status == inflow_status
        )
    )
    if bitrix_status is not None:
        conn.execute(
            status_map.insert().values(
                connection_id=connection_id,
                inflow_status=inflow_status,
                bitrix_status=bitrix_status,
                updated_at=now,
                updated_by=by,
            )
        )


def replace(
    conn: Connection, connection_id: str, entries: Mapping[str, str], *, now: dt.datetime, by: str
) -> None:
    """Swap the whole table in one transaction: readers see the old table or the new one, never a mix. Each entry
    that changes (added, altered, removed) is audited."""
    current = load(conn, connection_id).entries
    for inflow_status in sorted(set(current) - set(entries)):
        set_entry(conn, connection_id, inflow_status, None, now=now, by=by)
    for inflow_status, bitrix_status in entries.items():
        set_entry(conn, connection_id, inflow_status, bitrix_status, now=now, by=by)


@dataclass(frozen=True)
class MappingChange:
    inflow_status: str
    old: str | None
    new: str | None
    changed_at: dt.datetime
    changed_by: str


def history(conn: Connection, connection_id: str, *, limit: int = 100) -> list[MappingChange]:
    """The latest changes first."""
    a = status_map_audit.c
    rows = conn.execute(
        select(a.inflow_status, a.old, a.new, a.changed_at, a.changed_by)
        .where(a.connection_id == connection_id)
        .order_by(a.id.desc())
        .limit(limit)
    ).all()
    return [MappingChange(*row) for row in rows]


def latest_change(conn: Connection, connection_id: str) -> int:
    """The id of the table's latest change (0: none): a form shown before it is stale."""
    a = status_map_audit.c
    return int(conn.execute(select(func.max(a.id)).where(a.connection_id == connection_id)).scalar() or 0)

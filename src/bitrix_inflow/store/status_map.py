"""The status mapping table of each connection, as stored in the database (edited without a deployment)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import Connection, delete, select

from bitrix_inflow.domain.status_mapping import StatusMapping
from bitrix_inflow.store.tables import status_map


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
    """Map one Inflow status (``None``: remove its mapping) inside the caller's transaction."""
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
    """Swap the whole table in one transaction: readers see the old table or the new one, never a mix."""
    conn.execute(delete(status_map).where(status_map.c.connection_id == connection_id))
    for inflow_status, bitrix_status in entries.items():
        set_entry(conn, connection_id, inflow_status, bitrix_status, now=now, by=by)

"""The ``connections`` table: one row per tenant (shop/warehouse pair), which every other table's rows belong to."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select

from bitrix_inflow.store.sql import dialect_insert
from bitrix_inflow.store.tables import connections


def ensure(conn: Connection, connection_id: str, *, now: dt.datetime) -> None:
    """The tenant's row, made on its first start (several instances starting together make one)."""
    conn.execute(
        dialect_insert(conn, connections)
        .values(id=connection_id, name=connection_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
    )


def known(conn: Connection) -> list[str]:
    return list(conn.scalars(select(connections.c.id).order_by(connections.c.id)))

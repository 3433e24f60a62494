"""Small dialect-portable SQL helpers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from bitrix_inflow.store.tables import workers


def insert_ignoring_conflict(
    conn: Connection,
    table: Table,
    values: dict[str, Any],
    index_elements: list[str],
    index_where: ColumnElement[bool] | None = None,
) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id; ``None`` when a unique constraint already held the row."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        pg_stmt = postgresql.insert(table).values(**values)
        stmt: Any = pg_stmt.on_conflict_do_nothing(index_elements=index_elements, index_where=index_where)
    elif dialect == "sqlite":
        lite_stmt = sqlite.insert(table).values(**values)
        stmt = lite_stmt.on_conflict_do_nothing(index_elements=index_elements, index_where=index_where)
    else:  # pragma: no cover - only the two dialects are supported
        raise NotImplementedError(f"unsupported database dialect {dialect!r}")
    row = conn.execute(stmt.returning(table.c.id)).first()
    return None if row is None else int(row[0])


def upsert_worker(conn: Connection, worker_id: str, *, hostname: str, pid: int, now: dt.datetime) -> None:
    """Record that a worker is alive (insert on first beat, refresh ``heartbeat_at`` afterwards)."""
    values = {"id": worker_id, "hostname": hostname, "pid": pid, "started_at": now, "heartbeat_at": now}
    dialect = conn.dialect.name
    if dialect == "postgresql":
        pg_stmt = postgresql.insert(workers).values(**values)
        conn.execute(pg_stmt.on_conflict_do_update(index_elements=["id"], set_={"heartbeat_at": now}))
    else:
        lite_stmt = sqlite.insert(workers).values(**values)
        conn.execute(lite_stmt.on_conflict_do_update(index_elements=["id"], set_={"heartbeat_at": now}))

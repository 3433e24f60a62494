"""Small dialect-portable SQL helpers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement, TextClause


def dialect_insert(conn: Connection, table: Table) -> Any:
    """An INSERT with ``on_conflict_do_nothing``/``on_conflict_do_update``: both dialects spell them alike."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database dialect {dialect!r}")  # pragma: no cover


def insert_ignoring_conflict(
    conn: Connection,
    table: Table,
    values: dict[str, Any],
    index_elements: list[str],
    index_where: ColumnElement[bool] | TextClause | None = None,
) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id; ``None`` when a unique constraint already held the row."""
    stmt = (
        dialect_insert(conn, table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=index_elements, index_where=index_where)
    )
    row = conn.execute(stmt.returning(table.c.id)).first()
    return None if row is None else int(row[0])

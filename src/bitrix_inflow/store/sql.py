"""Small dialect-portable SQL helpers."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import BindParameter, Connection, Select, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement, TextClause

S = TypeVar("S")


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
    index_where: TextClause | None = None,
) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id; ``None`` when a unique constraint already held the row.
    ``index_where`` is literal SQL (the partial index's own predicate), which also keys the prepared statement."""
    names = tuple(sorted(values))

    def build() -> Any:
        return (
            dialect_insert(conn, table)
            .values({n: param(table, n) for n in names})
            .on_conflict_do_nothing(index_elements=index_elements, index_where=index_where)
            .returning(table.c.id)
        )

    key = ("insert_ignoring", table, conn.dialect.name, names, tuple(index_elements), str(index_where))
    row = conn.execute(prepared(key, build), {f"p_{n}": v for n, v in values.items()}).first()
    return None if row is None else int(row[0])


_prepared: dict[Hashable, Any] = {}


def prepared(key: Hashable, build: Callable[[], S]) -> S:
    """A statement built once per process and then run with its parameters: building one (and its cache key) costs
    about three times what running it does, and the flows' hot paths run the same few statements per order."""
    found = _prepared.get(key)
    if found is None:
        found = _prepared.setdefault(key, build())
    return cast("S", found)


def param(table: Table, column: str, prefix: str = "p_") -> BindParameter[Any]:
    """A named parameter for ``column`` of ``table``, typed like the column (so its values are converted alike)."""
    return bindparam(f"{prefix}{column}", type_=table.c[column].type)


# SQLite allows 32,766 bound parameters per statement; stay well below with every IN list and multi-row insert.
CHUNK = 500


def batched(items: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    """Lists of ``size`` from a stream: the rows of a big write are built one batch at a time, not all first (a
    100,000-SKU full sync upserts 300,000 level rows)."""
    stream = iter(items)
    while batch := list(itertools.islice(stream, size)):
        yield batch


def select_in(
    conn: Connection, query: Select[Any], column: ColumnElement[Any], values: Collection[Any] | None
) -> Iterator[Sequence[Any]]:
    """The rows of ``query``, narrowed to ``column IN values`` a batch at a time (None: not narrowed)."""
    if values is None:
        yield from conn.execute(query)
        return
    for batch in batched(sorted(values)):
        yield from conn.execute(query.where(column.in_(batch)))

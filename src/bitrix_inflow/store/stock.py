"""Every statement on the stock sync's tables: products table, links, unmatched report, snapshot, cursors, journal."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from bitrix_inflow.errors import ConflictError
from bitrix_inflow.store.sql import batched, dialect_insert, prepared, select_in
from bitrix_inflow.store.tables import (
    product_links,
    product_table,
    stock_cursors,
    stock_documents,
    stock_hints,
    stock_levels,
    stock_pushed,
    stock_unmatched,
)


def _upsert(
    conn: Connection, table: Table, rows: Iterable[dict[str, Any]], *, key: list[str], update: list[str]
) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE SET update = excluded.update, a batch of rows per statement."""
    for batch in batched(rows):
        stmt = dialect_insert(conn, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=key, set_={column: stmt.excluded[column] for column in update}
        )
        conn.execute(stmt, batch)


# -- the operator's products table -----------------------------------------------------------------------------


def replace_product_table(
    conn: Connection, connection_id: str, rows: Mapping[str, int], *, now: dt.datetime, by: str
) -> None:
    """Swap the whole table in the caller's transaction: readers see the old table or the new one."""
    conn.execute(delete(product_table).where(product_table.c.connection_id == connection_id))
    values = [
        {"connection_id": connection_id, "sku": sku, "product_id": pid, "imported_at": now, "imported_by": by}
        for sku, pid in rows.items()
    ]
    for chunk in batched(values):
        conn.execute(product_table.insert(), chunk)


def load_product_table(conn: Connection, connection_id: str) -> dict[str, int]:
    rows = conn.execute(
        select(product_table.c.sku, product_table.c.product_id).where(
            product_table.c.connection_id == connection_id
        )
    ).all()
    return {sku: int(pid) for sku, pid in rows}


# -- the binder ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    sku: str
    product_id: int
    parent_id: int | None
    origin: str  # table | key
    barcode_multi: bool = False
    group: str | None = None  # the product group of the group safety buffers (read by the full sync)


def replace_links(conn: Connection, connection_id: str, links: Iterable[Link], *, now: dt.datetime) -> None:
    """The whole binder, as a full matching found it."""
    conn.execute(delete(product_links).where(product_links.c.connection_id == connection_id))
    add_links(conn, connection_id, links, now=now)


def add_links(conn: Connection, connection_id: str, links: Iterable[Link], *, now: dt.datetime) -> None:
    """Links added to the binder (new SKUs matched between full syncs); ``uq_product_links_product`` refuses a
    product linked to a second SKU."""
    values = [
        {
            "connection_id": connection_id,
            "sku": link.sku,
            "product_id": link.product_id,
            "parent_id": link.parent_id,
            "origin": link.origin,
            "barcode_multi": link.barcode_multi,
            "product_group": link.group,
            "matched_at": now,
        }
        for link in links
    ]
    for chunk in batched(values):
        conn.execute(product_links.insert(), chunk)


def load_links(conn: Connection, connection_id: str, skus: Collection[str] | None = None) -> dict[str, Link]:
    c = product_links.c
    query = select(c.sku, c.product_id, c.parent_id, c.origin, c.barcode_multi, c.product_group).where(
        c.connection_id == connection_id
    )
    return {
        sku: Link(sku, int(pid), parent, origin, bool(multi), group)
        for sku, pid, parent, origin, multi, group in select_in(conn, query, c.sku, skus)
    }


def skus_of_products(conn: Connection, connection_id: str, product_ids: Collection[int]) -> dict[int, str]:
    """The warehouse SKU each shop product (or offer) holds the stock of, from the binder."""

    def build() -> Any:
        c = product_links.c
        return select(c.product_id, c.sku).where(
            c.connection_id == bindparam("p_connection"),
            c.product_id.in_(bindparam("p_products", expanding=True)),
        )

    found: dict[int, str] = {}
    for batch in batched(sorted(product_ids)):  # an order's handful: one statement, prepared once
        rows = conn.execute(
            prepared("skus_of_products", build), {"p_connection": connection_id, "p_products": batch}
        )
        found.update((int(pid), sku) for pid, sku in rows)
    return found


# -- the unmatched report ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unmatched:
    side: str  # warehouse | shop | ambiguous | table | document
    item: str
    detail: str


def replace_unmatched(
    conn: Connection,
    connection_id: str,
    items: Iterable[Unmatched],
    *,
    now: dt.datetime,
    sides: Collection[str],
) -> None:
    """Replace the report of ``sides`` (what this run looked at); other sides keep their last word."""
    conn.execute(
        delete(stock_unmatched).where(
            stock_unmatched.c.connection_id == connection_id, stock_unmatched.c.side.in_(list(sides))
        )
    )
    note_unmatched(conn, connection_id, items, now=now)


def note_unmatched(
    conn: Connection, connection_id: str, items: Iterable[Unmatched], *, now: dt.datetime
) -> None:
    """Add or refresh single rows of the report (what a run between full syncs found); the rest stays."""
    values = (
        {
            "connection_id": connection_id,
            "side": u.side,
            "item": u.item[:100],
            "detail": u.detail,
            "seen_at": now,
        }
        for u in items
    )
    _upsert(
        conn, stock_unmatched, values, key=["connection_id", "side", "item"], update=["detail", "seen_at"]
    )


def forget_unmatched(conn: Connection, connection_id: str, side: str, items: Collection[str]) -> None:
    """Take rows off the report: what they named has been matched since."""
    for chunk in batched(sorted(items)):
        conn.execute(
            delete(stock_unmatched).where(
                stock_unmatched.c.connection_id == connection_id,
                stock_unmatched.c.side == side,
                stock_unmatched.c.item.in_(list(chunk)),
            )
        )


def load_unmatched(conn: Connection, connection_id: str) -> list[Unmatched]:
    rows = conn.execute(
        select(stock_unmatched.c.side, stock_unmatched.c.item, stock_unmatched.c.detail)
        .where(stock_unmatched.c.connection_id == connection_id)
        .order_by(stock_unmatched.c.side, stock_unmatched.c.item)
    ).all()
    return [Unmatched(side, item, detail) for side, item, detail in rows]


# -- what the warehouse last said -----------------------------------------------------------------------------------

LevelKey = tuple[str, str]  # (sku, warehouse)


def record_levels(
    conn: Connection, connection_id: str, levels: Mapping[LevelKey, int], *, now: dt.datetime
) -> None:
    values = (
        {"connection_id": connection_id, "sku": sku, "warehouse": wh, "available": qty, "read_at": now}
        for (sku, wh), qty in levels.items()
    )
    _upsert(
        conn, stock_levels, values, key=["connection_id", "sku", "warehouse"], update=["available", "read_at"]
    )


def load_levels(
    conn: Connection, connection_id: str, skus: Collection[str] | None = None
) -> dict[LevelKey, int]:
    query = select(stock_levels.c.sku, stock_levels.c.warehouse, stock_levels.c.available).where(
        stock_levels.c.connection_id == connection_id
    )
    return {
        (sys.intern(sku), sys.intern(wh)): int(qty)
        for sku, wh, qty in select_in(conn, query, stock_levels.c.sku, skus)
    }


# -- what the shop was last given ------------------------------------------------------------------------------------

PushKey = tuple[int, int]  # (product id, store id; 0 = the product's own quantity)


def load_pushed(
    conn: Connection, connection_id: str, product_ids: Collection[int] | None = None
) -> dict[PushKey, int]:
    query = select(stock_pushed.c.product_id, stock_pushed.c.store_id, stock_pushed.c.quantity).where(
        stock_pushed.c.connection_id == connection_id
    )
    rows = select_in(conn, query, stock_pushed.c.product_id, product_ids)
    return {(int(pid), int(store)): int(qty) for pid, store, qty in rows}


def record_pushed(
    conn: Connection, connection_id: str, quantities: Mapping[PushKey, int], *, now: dt.datetime
) -> None:
    """Upsert what was just written, in the caller's transaction (with the cursor, when it is the last write)."""
    values = (
        {
            "connection_id": connection_id,
            "product_id": pid,
            "store_id": store,
            "quantity": qty,
            "pushed_at": now,
        }
        for (pid, store), qty in quantities.items()
    )
    _upsert(
        conn,
        stock_pushed,
        values,
        key=["connection_id", "product_id", "store_id"],
        update=["quantity", "pushed_at"],
    )


# -- doorbells from the warehouse ----------------------------------------------------------------------------------


def add_hints(
    conn: Connection, connection_id: str, warehouse: str, skus: Iterable[str], *, now: dt.datetime
) -> int:
    values = [
        {"connection_id": connection_id, "sku": sku[:100], "warehouse": warehouse, "hinted_at": now}
        for sku in sorted(set(skus))
    ]
    _upsert(conn, stock_hints, values, key=["connection_id", "sku", "warehouse"], update=["hinted_at"])
    return len(values)


def load_hints(conn: Connection, connection_id: str) -> dict[tuple[str, str], dt.datetime]:
    rows = conn.execute(
        select(stock_hints.c.sku, stock_hints.c.warehouse, stock_hints.c.hinted_at).where(
            stock_hints.c.connection_id == connection_id
        )
    ).all()
    return {(sku, wh): at for sku, wh, at in rows}


def clear_hints(conn: Connection, connection_id: str, taken: Mapping[tuple[str, str], dt.datetime]) -> None:
    """Drop the hints a sync has handled; one hinted again meanwhile (a newer ``hinted_at``) stays for the next."""
    for (sku, wh), at in taken.items():
        conn.execute(
            delete(stock_hints).where(
                stock_hints.c.connection_id == connection_id,
                stock_hints.c.sku == sku,
                stock_hints.c.warehouse == wh,
                stock_hints.c.hinted_at <= at,
            )
        )


# -- where reading resumes ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    updated_since: dt.datetime | None
    full_at: dt.datetime | None


def load_cursor(conn: Connection, connection_id: str, warehouse: str) -> Cursor:
    row = conn.execute(
        select(stock_cursors.c.updated_since, stock_cursors.c.full_at).where(
            stock_cursors.c.connection_id == connection_id, stock_cursors.c.warehouse == warehouse
        )
    ).first()
    return Cursor(None, None) if row is None else Cursor(row[0], row[1])


def save_cursor(conn: Connection, connection_id: str, warehouse: str, cursor: Cursor) -> None:
    stmt = dialect_insert(conn, stock_cursors).values(
        connection_id=connection_id,
        warehouse=warehouse,
        updated_since=cursor.updated_since,
        full_at=cursor.full_at,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["connection_id", "warehouse"],
            set_={"updated_since": cursor.updated_since, "full_at": cursor.full_at},
        )
    )


# -- the stock-document journal --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalledDocument:
    id: int
    run: str
    doc_type: str
    title: str
    bitrix_id: int | None
    state: str
    lines: list[dict[str, int]]


def plan_document(
    conn: Connection,
    connection_id: str,
    *,
    run: str,
    doc_type: str,
    title: str,
    lines: list[dict[str, int]],
    now: dt.datetime,
) -> int:
    """Journal a document before it exists in the shop; refused while another one is still open."""
    try:
        with conn.begin_nested():
            return int(
                conn.execute(
                    stock_documents.insert()
                    .values(
                        connection_id=connection_id,
                        run=run,
                        doc_type=doc_type,
                        title=title,
                        state="planned",
                        lines=lines,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(stock_documents.c.id)
                ).scalar_one()
            )
    except IntegrityError as exc:
        raise ConflictError(
            f"stock document {doc_type} of run {run}: another stock document of this connection is still open; "
            "it is resolved (conducted or deleted) first"
        ) from exc


def set_document_state(
    conn: Connection, document_id: int, *, state: str, now: dt.datetime, bitrix_id: int | None = None
) -> None:
    values: dict[str, Any] = {"state": state, "updated_at": now}
    if bitrix_id is not None:
        values["bitrix_id"] = bitrix_id
    conn.execute(update(stock_documents).where(stock_documents.c.id == document_id).values(**values))


def open_documents(conn: Connection, connection_id: str) -> list[JournalledDocument]:
    rows = conn.execute(
        select(stock_documents)
        .where(
            stock_documents.c.connection_id == connection_id,
            stock_documents.c.state.in_(["planned", "added"]),
        )
        .order_by(stock_documents.c.id)
    ).mappings()
    return [
        JournalledDocument(
            int(r["id"]), r["run"], r["doc_type"], r["title"], r["bitrix_id"], r["state"], list(r["lines"])
        )
        for r in rows
    ]

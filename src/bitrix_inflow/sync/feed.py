"""Reading one of the warehouse's cursor feeds (order changes, returns) exactly once: each page is taken in one
transaction that also moves the stored cursor, so a run killed anywhere re-reads at most the page it was on, and
what that page did is either all there or not at all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from sqlalchemy import Connection, Engine

from bitrix_inflow.store import orders as store
from bitrix_inflow.timing import Clock


class FeedPage(Protocol):
    @property
    def next_cursor(self) -> str: ...

    @property
    def has_more(self) -> bool: ...


PageT = TypeVar("PageT", bound=FeedPage)


def walk(
    engine: Engine,
    connection_id: str,
    cursor_name: str,
    fetch: Callable[[str | None], PageT],
    take: Callable[[Connection, PageT], None],
    *,
    clock: Clock,
) -> int:
    """Every page after the stored cursor, each taken by ``take`` in the transaction that stores the next cursor;
    the number of pages read."""
    with engine.connect() as conn:
        saved = store.load_cursor(conn, connection_id, cursor_name)
    cursor = str(saved["cursor"]) if saved and saved.get("cursor") is not None else None
    pages = 0
    while True:
        page = fetch(cursor)
        with engine.begin() as conn:
            take(conn, page)
            store.save_cursor(conn, connection_id, cursor_name, {"cursor": page.next_cursor}, now=clock.now())
        pages += 1
        if not page.has_more or page.next_cursor == cursor:
            return pages
        cursor = page.next_cursor

"""Bitrix's fixed sizes (50 rows a page, 50 commands a batch) and reading a list to its last page."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from . import replies
from .transport import JSON, Transport

PAGE = 50  # Bitrix's fixed page size (IRestService::LIST_LIMIT)
BATCH = 50  # commands per batch request

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def next_of(envelope: Mapping[str, Any]) -> int | None:
    value = envelope.get("next")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def rest_of_list(
    transport: Transport, method: str, params: JSON, key: str, *, first: object, next_start: int | None
) -> list[Mapping[str, Any]]:
    """The rows of a list whose first page has been read already (inside a batch, or by the caller)."""
    rows = replies.rows(replies.wrapped({"result": first}, key, method), field=f"{method}.{key}")
    while next_start is not None:
        page = transport.call(method, {**params, "start": next_start})
        rows += replies.rows(replies.wrapped(page, key, method), field=f"{method}.{key}")
        following = next_of(page)
        next_start = following if following is not None and following > next_start else None
    return rows


def all_pages(
    transport: Transport, fetch: Callable[[int], Any], key: str, method: str
) -> list[Mapping[str, Any]]:
    """Every row of a list read through a b24pysdk typed wrapper (``fetch(start)`` → its response)."""
    rows: list[Mapping[str, Any]] = []
    start = 0
    while True:
        response = transport.guard(method, partial(fetch, start))
        rows += replies.rows(
            replies.wrapped({"result": response.result}, key, method), field=f"{method}.{key}"
        )
        nxt = response.next
        if not isinstance(nxt, int) or nxt <= start:
            return rows
        start = nxt

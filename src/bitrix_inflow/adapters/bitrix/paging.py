"""Bitrix's fixed sizes (50 rows a page, 50 commands a batch), reading a list to its last page, and streaming a
long one by an ``>id`` cursor."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from bitrix_inflow.errors import PermanentError, TransientError

from . import replies
from .transport import JSON, Transport

PAGE = 50  # Bitrix's fixed page size (IRestService::LIST_LIMIT)
BATCH = 50  # commands per batch request
FILTER_VALUES = 50  # values per IN filter: one page's worth, so a request body stays small

# start=-1 skips the COUNT Bitrix runs for ``total`` (settings/performance/huge-data.md). The catalog.* list
# pages do not mention it, but they are engine controllers, and the REST layer in front of every one of them
# (rest module, Engine\RestManager::DONT_CALCULATE_COUNT) reads -1 as "first page, no count": the same rows.
NO_COUNT = -1

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


def every_row(transport: Transport, method: str, params: JSON, key: str) -> list[Mapping[str, Any]]:
    """Every row of a plain list method, its first page and then the rest by ``start``."""
    first = transport.call(method, params)
    return rest_of_list(transport, method, params, key, first=first.get("result"), next_start=next_of(first))


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


def by_id(
    transport: Transport, method: str, params: JSON, key: str, *, start: int = NO_COUNT
) -> Iterator[list[Mapping[str, Any]]]:
    """The pages of a list ordered by ``id`` with an ``>id`` cursor (``params`` holds the select and filter; ``id``
    must be selected). Stops on a short page.

    A cursor, unlike ``start`` offsets, neither skips nor repeats rows when others are added or deleted while a
    long list is read, and a page costs the same at row 100,000 as at row 0. The first page is one request; after
    a full one the following pages come several to a ``batch``, each command's cursor a ``$result`` reference to
    the last id of the page before it (settings/performance/huge-data.md; b24pysdk's ``call_list_fast`` does the
    same): up to 2,500 rows a request instead of 50.

    The chain grows (2, 4, 8 … 50 pages) so a list of a few pages does not pay for 50 commands: the commands after
    the last short page read from a cursor that is no id, and their answers are thrown away. For the same reason
    the chain is sent once, not retried whole: a failure among those answers means nothing, and one before them is
    retried from the last page read, not from the first.
    """
    base_filter = dict(params.get("filter") or {})

    def page_params(cursor: object) -> JSON:
        return {**params, "filter": {**base_filter, ">id": cursor}, "order": {"id": "asc"}, "start": start}

    reply = transport.call(method, page_params(0))
    rows = replies.rows(replies.wrapped(reply, key, method), field=f"{method}.{key}")
    if rows:
        yield rows
    if len(rows) < PAGE:
        return
    cursor = _advanced(method, key, rows, 0)
    size, attempt = 2, 0
    while True:
        names = [f"p{n}" for n in range(size)]
        commands = {
            name: (
                method,
                page_params(cursor if n == 0 else f"$result[{names[n - 1]}][{key}][{PAGE - 1}][id]"),
            )
            for n, name in enumerate(names)
        }
        # halt: a failed page stops the chain, whose later cursors would point at nothing.
        batch = transport.batch(commands, halt=True, retry=False)
        for name in names:
            failure = batch.errors.get(name)
            if failure is None and name not in batch.results:
                failure = TransientError(f"batch: no answer for command {name!r} of {method}")
            if failure is not None:
                attempt += 1
                if not transport.pause_before_retry(failure, attempt, method, idempotent=True):
                    raise failure
                break  # the chain again, from the last page read
            attempt = 0
            rows = replies.rows(
                replies.wrapped({"result": batch.results[name]}, key, method), field=f"{method}.{key}"
            )
            if rows:
                yield rows
            if len(rows) < PAGE:
                return
            cursor = _advanced(method, key, rows, cursor)
        else:
            size = min(BATCH, size * 2)


def _advanced(method: str, key: str, rows: Sequence[Mapping[str, Any]], cursor: int) -> int:
    ids = [replies.payload_id(row.get("id"), field=f"{method}.{key}.id") for row in rows]
    if ids[-1] <= cursor:
        # A server that ignores the ">id" filter hands out the same page forever.
        raise PermanentError(f"{method}: the >id cursor did not advance past {cursor}; Bitrix ignored it")
    if ids != sorted(ids):
        # The next page starts after the last row's id (the chain's $result reference says so): rows that were
        # not in order would be skipped.
        raise PermanentError(f"{method}: rows are not ordered by id; Bitrix ignored the order")
    return ids[-1]


def models_by_id(
    transport: Transport,
    method: str,
    params: JSON,
    key: str,
    convert: Callable[[Mapping[str, Any]], T],
) -> Iterator[T]:
    """``by_id``, each row mapped to a model as its page arrives."""
    for page in by_id(transport, method, params, key):
        yield from replies.mapped(method, convert, page)

"""Reading Bitrix answers, for every entity: rows, objects and ids out of the ``result`` envelope, and the
per-command errors of a ``batch``. Nothing here sends a request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from bitrix_inflow.errors import AuthError, IntegrationError, PermanentError, TransientError

from .transport import BatchReply
from .wire import as_mapping, as_rows, to_id

T = TypeVar("T")


def payload_id(value: object, *, field: str) -> int:
    try:
        return to_id(value, field=field)
    except (ValueError, TypeError) as exc:
        raise PermanentError(f"Bitrix sent an answer we cannot read ({exc})") from exc


def rows(value: object, *, field: str) -> list[Mapping[str, Any]]:
    try:
        return as_rows(value, field=field)
    except (ValueError, TypeError) as exc:
        raise PermanentError(f"Bitrix sent an answer we cannot read ({exc})") from exc


def obj(value: object, *, field: str) -> Mapping[str, Any]:
    try:
        return as_mapping(value, field=field)
    except (ValueError, TypeError) as exc:
        raise PermanentError(f"Bitrix sent an answer we cannot read ({exc})") from exc


def wrapped(reply: Mapping[str, Any], key: str, method: str) -> Any:
    """sale/catalog answers wrap their payload: ``{"result": {"orders": [...]}}``."""
    result = reply.get("result")
    if isinstance(result, Mapping) and key in result:
        return result[key]
    if isinstance(result, list) and not result and key not in ("order", "shipment", "task", "document"):
        return []  # PHP's empty map
    raise TransientError(f"{method}: answer without result.{key}: {str(result)[:200]}")


def mapped(method: str, convert: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
    try:
        return [convert(item) for item in items]
    except (ValueError, KeyError, TypeError) as exc:
        raise PermanentError(f"{method}: Bitrix sent a row we cannot read ({exc})") from exc


def result_id(result: object, key: str, method: str) -> int:
    if isinstance(result, Mapping):
        inner = result.get(key, result)
        value = inner.get("id") if isinstance(inner, Mapping) else inner
    else:
        value = result
    try:
        return to_id(value, field=f"{method}.result.{key}.id")
    except (ValueError, TypeError) as exc:
        raise PermanentError(f"{method}: no id in the answer ({exc})") from exc


def raise_first(reply: BatchReply, *keys: str) -> None:
    for key in keys:
        if key in reply.errors:
            raise reply.errors[key]
        if key not in reply.results:
            raise TransientError(f"batch: no answer for command {key!r}")


def raise_if_global(error: IntegrationError) -> None:
    """A per-command error that concerns the whole call (limits, auth, server trouble) aborts it."""
    if isinstance(error, TransientError | AuthError):
        raise error


def with_context(error: IntegrationError, context: str) -> IntegrationError:
    error.args = (f"{context}: {error}",)
    return error

"""Bitrix wire conventions: ``Y``/``N`` flags, ids that arrive as int or string, ISO dates with offsets."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any


def yn(flag: bool) -> str:
    """Bitrix flags are the strings ``Y``/``N``; a Python bool would be sent as ``"True"`` by b24pysdk."""
    return "Y" if flag else "N"


def from_yn(value: object, *, field: str) -> bool:
    if value in ("Y", "y", True):
        return True
    if value in ("N", "n", False, None, ""):
        return False
    raise ValueError(f"{field}: expected a Y/N flag, got {value!r}")


def to_id(value: object, *, field: str) -> int:
    """Ids come as ``236`` on orders and ``"255"`` on nested rows of the same response."""
    if isinstance(value, bool):
        raise TypeError(f"{field}: expected an id, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ValueError(f"{field}: expected a numeric id, got {value!r}")


def to_opt_id(value: object, *, field: str) -> int | None:
    if value in (None, "", 0, "0"):
        return None
    return to_id(value, field=field)


def to_decimal(value: object, *, field: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{field}: expected a number, got {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{field}: expected a number, got {value!r}") from None


def to_str(value: object) -> str:
    return "" if value is None else str(value)


def to_opt_str(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def parse_dt(value: object, *, field: str) -> datetime | None:
    """Bitrix dates are ISO-8601 with an offset (PHP ``date('c')``); naive ones are taken as UTC."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise TypeError(f"{field}: expected an ISO-8601 date string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field}: expected an ISO-8601 date, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_dt(value: datetime) -> str:
    """ISO-8601 with an explicit offset, the form Bitrix itself emits."""
    if value.tzinfo is None:
        raise ValueError("datetime sent to Bitrix must be timezone-aware")
    return value.isoformat(timespec="seconds")


def assert_wire_safe(params: object, path: str = "params") -> None:
    """Refuse booleans anywhere in outgoing parameters: they would reach Bitrix as ``"True"``/``"False"``."""
    if isinstance(params, bool):
        raise TypeError(f"{path}: Python bool on the wire; send 'Y'/'N' (wire.yn) instead")
    if isinstance(params, Mapping):
        for key, value in params.items():
            assert_wire_safe(value, f"{path}[{key}]")
    elif isinstance(params, list | tuple):
        for index, value in enumerate(params):
            assert_wire_safe(value, f"{path}[{index}]")


def as_mapping(value: object, *, field: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise TypeError(f"{field}: expected an object, got {type(value).__name__}")


def as_rows(value: object, *, field: str) -> list[Mapping[str, Any]]:
    """A list of objects; PHP sends an empty map as ``[]`` and some empty lists as ``{}``."""
    if value is None or value == {}:
        return []
    if isinstance(value, Mapping):
        # PHP arrays with non-sequential keys serialise as objects: {"0": {...}, "2": {...}}.
        value = list(value.values())
    if not isinstance(value, list):
        raise TypeError(f"{field}: expected a list, got {type(value).__name__}")
    return [as_mapping(row, field=f"{field}[{i}]") for i, row in enumerate(value)]

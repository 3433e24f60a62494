"""``select`` / ``filter`` / ``order`` / ``start`` of the controller list methods (sale.*, catalog.*).

Unknown keys are dropped without an error, as the sale internalizer does: a misspelt filter returns all rows.
Pages hold 50 rows; page = floor(start / 50) + 1; ``start=-1`` skips the count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from bitrix_inflow.sandboxes.bitrix.entities import EntitySpec

PAGE_SIZE = 50
# Longest prefixes first so ">=" is not read as ">" and "!=%" not as "!=".
_OPERATORS = (
    "!><",
    "!=%",
    "!%=",
    "><",
    "!@",
    "!%",
    "!=",
    ">=",
    "<=",
    "=%",
    "%=",
    ">",
    "<",
    "@",
    "%",
    "!",
    "=",
)


@dataclass
class Page:
    rows: list[dict[str, Any]]
    total: int | None
    next: int | None


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    if value is None or value == "":
        return []
    return [value]


MOSCOW = timezone(timedelta(hours=3))
_SITE_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y")


def _instant(value: Any, site_tz: timezone) -> Any:
    """ISO-8601 or the site format (``27.11.2026 10:00:00``) as a unix time; dates without an offset are in
    the site's zone. Anything else is returned unchanged."""
    if not isinstance(value, str) or len(value) < 10:
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
        for pattern in _SITE_FORMATS:
            try:
                moment = datetime.strptime(value, pattern)
                break
            except ValueError:
                continue
    if moment is None:
        return value
    return (moment if moment.tzinfo else moment.replace(tzinfo=site_tz)).timestamp()


def _instants(value: Any, site_tz: timezone) -> Any:
    if isinstance(value, list):
        return [_instant(item, site_tz) for item in value]
    if isinstance(value, dict):
        return [_instant(item, site_tz) for item in value.values()]
    return _instant(value, site_tz)


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    """Compare like a database would: numbers as numbers, ISO dates as instants, the rest as text."""
    if isinstance(left, bool) or isinstance(right, bool):
        return str(left), str(right)
    try:
        return float(left), float(right)
    except (TypeError, ValueError):
        pass
    return ("" if left is None else str(left)), ("" if right is None else str(right))


def _equal(left: Any, right: Any) -> bool:
    if right is None or right == "":
        return left is None or left == ""
    a, b = _comparable(left, right)
    return bool(a == b)


def _like(value: Any, pattern: Any) -> bool:
    return str(pattern).strip("%").lower() in ("" if value is None else str(value)).lower()


def _like_pattern(value: Any, pattern: Any) -> bool:
    """SQL LIKE with the value as given (``=%``, ``%=``): ``%`` any run, ``_`` one character, no case (MySQL's
    default collation). ``"mol%"`` starts with "mol", ``"%mol"`` ends with it."""
    parts = (".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in str(pattern))
    text = "" if value is None else str(value)
    return re.fullmatch("".join(parts), text, flags=re.IGNORECASE | re.DOTALL) is not None


def _match(op: str, value: Any, wanted: Any) -> bool:
    if isinstance(value, dict) and "value" in value:
        value = value["value"]  # iblock property cells {"value": ..., "valueId": ...} filter on their value
    if op in ("@", "!@"):
        found = any(_equal(value, item) for item in _as_list(wanted))
        return found if op == "@" else not found
    if op == "%":
        return _like(value, wanted)
    if op == "!%":
        return not _like(value, wanted)
    if op in ("=%", "%="):
        return _like_pattern(value, wanted)
    if op in ("!=%", "!%="):
        return not _like_pattern(value, wanted)
    if op in ("><", "!><"):
        bounds = _as_list(wanted)
        if len(bounds) != 2 or value is None:
            return op == "!><"
        lo, v1 = _comparable(bounds[0], value)
        v2, hi = _comparable(value, bounds[1])
        inside = bool(lo <= v1 and v2 <= hi)
        return inside if op == "><" else not inside
    if op in (">", ">=", "<", "<="):
        if value is None or value == "" or isinstance(wanted, list | dict):
            return False
        a, b = _comparable(value, wanted)
        if op == ">":
            return bool(a > b)
        if op == ">=":
            return bool(a >= b)
        if op == "<":
            return bool(a < b)
        return bool(a <= b)
    if isinstance(wanted, list | dict):
        found = any(_equal(value, item) for item in _as_list(wanted))
        return found if op not in ("!", "!=") else not found
    if op in ("!", "!="):
        return not _equal(value, wanted)
    return _equal(value, wanted)


@dataclass(frozen=True)
class Condition:
    op: str
    name: str
    wanted: Any
    is_date: bool = False


def parse_filter(spec: EntitySpec, raw: Any, site_tz: timezone = MOSCOW) -> list[Condition]:
    conditions: list[Condition] = []
    if not isinstance(raw, dict):
        return conditions
    for key, wanted in raw.items():
        text = str(key)
        op = next((o for o in _OPERATORS if text.startswith(o)), "")
        name = spec.resolve(text[len(op) :])
        if name is None:
            continue
        if spec.kind(name) == "date":
            conditions.append(Condition(op, name, _instants(wanted, site_tz), is_date=True))
        else:
            conditions.append(Condition(op, name, wanted))
    return conditions


def _row_value(row: dict[str, Any], condition: Condition) -> Any:
    value = row.get(condition.name)
    # Stored dates always carry their offset, so the zone passed here never applies.
    return _instant(value, MOSCOW) if condition.is_date else value


def filter_rows(rows: Iterable[dict[str, Any]], conditions: list[Condition]) -> list[dict[str, Any]]:
    return [row for row in rows if all(_match(c.op, _row_value(row, c), c.wanted) for c in conditions)]


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None or value == "":
        return (0, 0.0)
    try:
        return (1, float(value))
    except (TypeError, ValueError):
        return (2, str(value))


def _key_of(name: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    return lambda row: _sort_key(row.get(name))


def order_rows(spec: EntitySpec, rows: list[dict[str, Any]], raw: Any) -> list[dict[str, Any]]:
    keys: list[tuple[str, bool]] = []
    if isinstance(raw, dict):
        for key, direction in raw.items():
            name = spec.resolve(str(key))
            if name is not None:
                keys.append((name, str(direction).lower() == "desc"))
    primary = next((key for key in ("id", "ID") if key in spec.fields), None)
    if primary is not None and not any(name == primary for name, _ in keys):
        keys.append((primary, False))
    ordered = list(rows)
    for name, descending in reversed(keys):
        ordered.sort(key=_key_of(name), reverse=descending)
    return ordered


def select_fields(spec: EntitySpec, raw: Any) -> list[str] | None:
    """None means every visible field (empty select or ``*``)."""
    wanted = [str(item) for item in _as_list(raw)]
    if not wanted or "*" in wanted:
        return None
    names: list[str] = []
    for item in wanted:
        name = spec.resolve(item)
        if name is not None and name not in names:
            names.append(name)
    return names or None


def project(row: dict[str, Any], names: list[str] | None, spec: EntitySpec) -> dict[str, Any]:
    if names is None:
        return {k: v for k, v in row.items() if spec.resolve(k) == k}
    return {name: row.get(name) for name in names}


def parse_start(raw: Any) -> int:
    # PHP's (int) cast: non-numeric text, NaN and ±INF all become 0.
    try:
        return int(float(str(raw)))
    except (TypeError, ValueError, OverflowError):
        return 0


def paginate(rows: list[dict[str, Any]], start: int, *, total_on_no_count: int | None) -> Page:
    if start == -1:
        return Page(rows[:PAGE_SIZE], total_on_no_count, None)
    offset = (max(start, 0) // PAGE_SIZE) * PAGE_SIZE
    page = rows[offset : offset + PAGE_SIZE]
    total = len(rows)
    following = offset + len(page)
    return Page(page, total, following if following < total else None)


def run_list(
    spec: EntitySpec,
    rows: Iterable[dict[str, Any]],
    params: dict[str, Any],
    *,
    total_on_no_count: int | None,
    site_tz: timezone = MOSCOW,
) -> Page:
    conditions = parse_filter(spec, params.get("filter"), site_tz)
    found = order_rows(spec, filter_rows(rows, conditions), params.get("order"))
    page = paginate(found, parse_start(params.get("start", 0)), total_on_no_count=total_on_no_count)
    names = select_fields(spec, params.get("select"))
    page.rows = [project(row, names, spec) for row in page.rows]
    return page

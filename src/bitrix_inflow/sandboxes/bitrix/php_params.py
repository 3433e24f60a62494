"""PHP's ``parse_str`` and ``http_build_query``, as the Bitrix REST server and its event sender use them.

Bitrix reads every non-JSON parameter through PHP, so ``filter[%3Eid]=5&select[]=id`` must become
``{"filter": {">id": "5"}, "select": ["id"]}`` exactly as PHP would build it, including ``[]`` appends and
numeric keys. Arrays whose keys are 0..n-1 come back as lists, as PHP's json_encode shows them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote_plus

PhpArray = dict[str | int, Any]


def _php_key(raw: str) -> str | int:
    # PHP turns canonical decimal strings into integer keys ("7" -> 7, "07" stays "07").
    if raw.isdigit() and (raw == "0" or not raw.startswith("0")):
        return int(raw)
    if raw.startswith("-") and raw[1:].isdigit() and not raw[1:].startswith("0"):
        return int(raw)
    return raw


def _next_index(target: PhpArray) -> int:
    ints = [k for k in target if isinstance(k, int)]
    return max(ints) + 1 if ints else 0


def _split_key(key: str) -> tuple[str, list[str]]:
    """``a[b][]`` -> (``a``, [``b``, ``""``]); a bracket that never closes ends the path like in PHP."""
    open_at = key.find("[")
    if open_at <= 0:
        return key, []
    base = key[:open_at]
    segments: list[str] = []
    rest = key[open_at:]
    while rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            break
        segments.append(rest[1:close])
        rest = rest[close + 1 :]
    return base, segments


def assign(target: PhpArray, key: str, value: Any) -> None:
    """Store ``value`` under a PHP-style key such as ``fields[items][0][id]`` or ``select[]``."""
    base, segments = _split_key(key)
    # PHP mangles spaces and dots in the top-level name to underscores.
    base = base.replace(" ", "_").replace(".", "_")
    if not base:
        return
    path: list[str | int] = [_php_key(base)]
    node = target
    for segment in segments:
        head = path[-1]
        child = node.get(head)
        if not isinstance(child, dict):
            child = {}
            node[head] = child
        node = child
        path.append(_next_index(node) if segment == "" else _php_key(segment))
    node[path[-1]] = value


def listify(value: Any) -> Any:
    """Turn PHP arrays with keys 0..n-1 into lists, recursively (what json_encode does)."""
    if isinstance(value, dict):
        converted = {k: listify(v) for k, v in value.items()}
        if converted and list(converted.keys()) == list(range(len(converted))):
            return list(converted.values())
        return converted
    if isinstance(value, list):
        return [listify(v) for v in value]
    return value


def parse_str(query: str) -> dict[str, Any]:
    """Decode ``k=v&k2[]=v2`` the way PHP's parse_str does (``+`` is a space, ``%3E`` in keys is ``>``)."""
    target: PhpArray = {}
    for piece in query.split("&"):
        if not piece:
            continue
        raw_key, _, raw_value = piece.partition("=")
        assign(target, unquote_plus(raw_key), unquote_plus(raw_value))
    result = listify(target)
    return {str(k): v for k, v in result.items()} if isinstance(result, dict) else {}


def merge_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a PHP array from already decoded (key, value) pairs, e.g. multipart form fields."""
    target: PhpArray = {}
    for key, value in pairs:
        assign(target, key, value)
    result = listify(target)
    return {str(k): v for k, v in result.items()} if isinstance(result, dict) else {}


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}[{k}]", v, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, out)
    elif value is None:
        out.append((prefix, ""))
    elif isinstance(value, bool):
        out.append((prefix, "1" if value else "0"))
    else:
        out.append((prefix, str(value)))


def http_build_query(data: dict[str, Any]) -> str:
    """Encode nested data with PHP bracket keys, brackets percent-encoded as PHP does."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        _flatten(key, value, pairs)
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)

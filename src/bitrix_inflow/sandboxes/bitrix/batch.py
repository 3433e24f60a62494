"""``batch``: up to 50 ``"method?query"`` commands with ``$result[...]`` / ``$next[...]`` / ``$total[...]``
references resolved the way the PHP server does it: walk the path, stop at the first missing key and use what
was reached; a value that is only a reference takes the referenced value whole, otherwise it is spliced in.
"""

from __future__ import annotations

import re
from typing import Any

from bitrix_inflow.sandboxes.bitrix.php_params import listify, parse_str

MAX_COMMANDS = 50
_REFERENCE = re.compile(r"\$(result|next|total|time|error)((?:\[[^\]]*\])+)")
_SEGMENT = re.compile(r"\[([^\]]*)\]")


def split_command(command: Any) -> tuple[str, dict[str, Any]]:
    method, _, query = str(command).partition("?")
    return method.strip(), parse_str(query)


def command_method(command: Any) -> str:
    """The method of a ``"method?query"`` command, without parsing its query."""
    return str(command).partition("?")[0].strip()


def _has_index(value: Any, index: int) -> bool:
    if isinstance(value, dict):
        return index in value
    return isinstance(value, list) and index < len(value)


def _walk(value: Any, path: str) -> Any:
    for key in _SEGMENT.findall(path):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif key.isdigit() and _has_index(value, int(key)):
            value = value[int(key)]
        else:
            break
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, list | dict):
        items = value.values() if isinstance(value, dict) else value
        return ",".join(_as_text(item) for item in items)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)


def _resolve_text(text: str, accumulators: dict[str, dict[str, Any]]) -> Any:
    matches = list(_REFERENCE.finditer(text))
    if not matches:
        return text
    if len(matches) == 1 and matches[0].group(0) == text:
        return _walk(accumulators[matches[0].group(1)], matches[0].group(2))
    return _REFERENCE.sub(lambda m: _as_text(_walk(accumulators[m.group(1)], m.group(2))), text)


def substitute(value: Any, accumulators: dict[str, dict[str, Any]]) -> Any:
    """Resolve references in values and keys of a parsed command, recursively."""
    if isinstance(value, dict):
        return {
            _as_text(_resolve_text(str(k), accumulators)) if "$" in str(k) else k: substitute(v, accumulators)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute(v, accumulators) for v in value]
    if isinstance(value, str) and "$" in value:
        return _resolve_text(value, accumulators)
    return value


def commands_of(raw: Any) -> list[tuple[str, Any]]:
    """The ``cmd`` map in order; a list gets keys 0..n-1 like a PHP array."""
    if isinstance(raw, dict):
        return [(str(k), v) for k, v in raw.items()]
    if isinstance(raw, list):
        return [(str(i), v) for i, v in enumerate(raw)]
    return []


def php_map(entries: dict[str, Any]) -> Any:
    """json_encode of a PHP array: empty -> ``[]``; keys 0..n-1 (e.g. "0", "1") -> a JSON list."""
    if not entries:
        return []
    keyed: dict[str | int, Any] = {}
    for key, value in entries.items():
        keyed[int(key) if key.isdigit() and (key == "0" or not key.startswith("0")) else key] = value
    shaped = listify({k: 0 for k in keyed})
    if isinstance(shaped, list):
        return list(keyed.values())
    return {str(k): v for k, v in keyed.items()}


def truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "y", "yes")

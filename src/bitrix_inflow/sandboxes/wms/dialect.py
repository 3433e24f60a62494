"""Dialects: the same contract under another installation's names (base path, paths, fields, statuses).

The core works with canonical names only; requests are translated in and documents out at the edge.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bitrix_inflow.sandboxes.wms.problems import Problem, field_error

STATUS_KEYS = frozenset({"status", "previous_status", "order_status"})
PATH_SEGMENTS = frozenset({"stock", "orders", "changes", "status", "cancel", "webhooks"})
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
_FIELD_PART = re.compile(r"^([^\[]*)(.*)$")


@dataclass(frozen=True)
class Dialect:
    name: str = "default"
    base_path: str = "/api/v1"
    default_page_size: int = 500
    max_page_size: int = 1000
    paths: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Dialect:
        """Read a dialect TOML; ValueError names the bad key and what is allowed."""
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        allowed = {"name", "base_path", "default_page_size", "max_page_size", "paths", "fields", "statuses"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        base = str(data.get("base_path", "/api/v1")).rstrip("/")
        if not base.startswith("/") or base.startswith(("/_sandbox", "/soap", "/oauth")):
            raise ValueError(
                f"{path}: base_path must start with / and not clash with /_sandbox, /soap, /oauth"
            )
        paths = {str(k): str(v) for k, v in dict(data.get("paths", {})).items()}
        for key, value in paths.items():
            if key not in PATH_SEGMENTS or not _SEGMENT.match(value):
                raise ValueError(f"{path}: [paths] {key} = {value!r}; keys are {sorted(PATH_SEGMENTS)}")
        dialect = cls(
            name=str(data.get("name", path.stem)),
            base_path=base,
            default_page_size=int(data.get("default_page_size", 500)),
            max_page_size=int(data.get("max_page_size", 1000)),
            paths=paths,
            fields={str(k): str(v) for k, v in dict(data.get("fields", {})).items()},
            statuses={str(k): str(v) for k, v in dict(data.get("statuses", {})).items()},
        )
        if not 1 <= dialect.default_page_size <= dialect.max_page_size:
            raise ValueError(f"{path}: need 1 <= default_page_size <= max_page_size")
        for mapping in (dialect.fields, dialect.statuses):
            if len(set(mapping.values())) != len(mapping):
                raise ValueError(f"{path}: two canonical names map to the same dialect name")
        return dialect

    @property
    def _fields_in(self) -> dict[str, str]:
        return {v: k for k, v in self.fields.items()}

    def segment(self, canonical: str) -> str:
        return self.paths.get(canonical, canonical)

    def field_name(self, canonical: str) -> str:
        return self.fields.get(canonical, canonical)

    def status_out(self, canonical: str) -> str:
        return self.statuses.get(canonical, canonical)

    def status_in(self, name: str) -> str | None:
        """The canonical status for a dialect name, None when this installation does not know it."""
        for canonical, renamed in self.statuses.items():
            if name == renamed:
                return canonical
            if name == canonical:
                return None
        return name

    def outbound(self, value: Any) -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                translated = item
                if key in STATUS_KEYS and isinstance(item, str):
                    translated = self.status_out(item)
                elif key == "field" and isinstance(item, str):
                    translated = self.field_path_out(item)
                out[self.field_name(key)] = self.outbound(translated)
            return out
        if isinstance(value, list):
            return [self.outbound(item) for item in value]
        return value

    def field_path_out(self, path: str) -> str:
        parts = []
        for part in path.split("."):
            match = _FIELD_PART.match(part)
            assert match is not None  # the pattern matches every string
            parts.append(self.field_name(match.group(1)) + match.group(2))
        return ".".join(parts)

    def inbound(self, value: Any, where: str = "") -> Any:
        """Rename dialect keys to canonical ones; a canonical name the dialect renamed is an unknown field."""
        if isinstance(value, dict):
            back = self._fields_in
            out: dict[str, Any] = {}
            for key, item in value.items():
                path = f"{where}.{key}" if where else key
                if key in self.fields and key not in back:
                    hint = f"unknown field; this installation calls it {self.fields[key]!r}"
                    detail = f"{path}: unknown field in this installation"
                    problem = Problem("validation", detail, errors=[field_error(path, hint)])
                    problem.in_dialect = True
                    raise problem
                canonical = back[key] if key in back else str(key)
                out[canonical] = self.inbound(item, path)
            return out
        if isinstance(value, list):
            return [self.inbound(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return value

    def query_name(self, canonical: str) -> str:
        return self.field_name(canonical)

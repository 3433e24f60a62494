"""Installation profiles: the agreed data-exchange schema of one Inflow installation.

Installations configure their API (base path, endpoint paths, field and status names, page cap). A profile
is a TOML file mapping the canonical contract (contracts/inflow-v1) onto what one installation calls
things; the REST transport translates every request and response through it, so nothing above it sees wire
names.
Shipped profiles live in ``profiles/`` (``default`` = the contract as written, ``legacy-example``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from bitrix_inflow.domain.vocabulary import InflowStatus
from bitrix_inflow.errors import ValidationError

SHIPPED_PROFILES = ("default", "legacy-example")
STATUS_KEYS = frozenset({"status", "previous_status", "order_status"})
_NAME_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SEGMENT = re.compile(r"^(/[A-Za-z0-9._~{}-]+)+$")
_ENDPOINTS_WITH_ID = ("order", "order_status", "order_cancel")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Endpoints(_Section):
    """Paths below ``base_path``; ``{id}`` is the order id."""

    stock: str = "/stock"
    orders: str = "/orders"
    order: str = "/orders/{id}"
    order_status: str = "/orders/{id}/status"
    order_changes: str = "/orders/changes"
    order_cancel: str = "/orders/{id}/cancel"
    returns: str = "/returns"

    @model_validator(mode="after")
    def _well_formed(self) -> Endpoints:
        for key, value in self.model_dump().items():
            if not _SEGMENT.match(value):
                raise ValueError(f"{key}: '{value}' is not a path like /orders/{{id}}")
            needs_id = key in _ENDPOINTS_WITH_ID
            if needs_id != ("{id}" in value):
                raise ValueError(
                    f"{key}: '{value}' must {'contain' if needs_id else 'not contain'} the {{id}} placeholder"
                )
        return self


class RestSection(_Section):
    base_path: str = "/api/v1"
    token_path: str = "/oauth/token"  # noqa: S105 - a URL path, not a secret
    endpoints: Endpoints = Field(default_factory=Endpoints)

    @field_validator("base_path", "token_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not _SEGMENT.match(value) or "{" in value:
            raise ValueError(f"'{value}' must be an absolute path such as /api/v1 (no trailing slash)")
        return value


class SoapSection(_Section):
    path: str = "/soap/v1"

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not _SEGMENT.match(value):
            raise ValueError(f"'{value}' must be an absolute path such as /soap/v1")
        return value


class PagingSection(_Section):
    page_size: int = Field(500, ge=1, description="limit sent when the caller gives none")
    max_page_size: int = Field(1000, ge=1, description="the installation's cap; larger limits are refused")

    @model_validator(mode="after")
    def _size_within_cap(self) -> PagingSection:
        if self.page_size > self.max_page_size:
            raise ValueError(
                f"page_size: {self.page_size} is larger than max_page_size ({self.max_page_size})"
            )
        return self


def _check_renames(kind: str, renames: Mapping[str, str]) -> None:
    seen: dict[str, str] = {}
    for canonical, wire in renames.items():
        if not _NAME_TOKEN.fullmatch(wire):
            raise ValueError(f"{canonical}: '{wire}' is not a plain name")
        if wire in seen:
            raise ValueError(f"{canonical}: '{wire}' is already the name of {kind}.{seen[wire]}")
        seen[wire] = canonical


class InstallationProfile(_Section):
    name: str = Field(min_length=1)
    description: str = ""
    rest: RestSection = Field(default_factory=RestSection)
    soap: SoapSection = Field(default_factory=SoapSection)
    paging: PagingSection = Field(default_factory=PagingSection)
    fields: dict[str, str] = Field(
        default_factory=dict, description="canonical field name -> installation name"
    )
    statuses: dict[str, str] = Field(
        default_factory=dict, description="canonical status -> installation status"
    )

    @field_validator("fields")
    @classmethod
    def _fields_unique(cls, value: dict[str, str]) -> dict[str, str]:
        for canonical in value:
            if not _NAME_TOKEN.fullmatch(canonical):
                raise ValueError(f"{canonical}: not a contract field name")
        _check_renames("fields", value)
        return value

    @field_validator("statuses")
    @classmethod
    def _statuses_known(cls, value: dict[str, str]) -> dict[str, str]:
        known = {s.value for s in InflowStatus}
        for canonical in value:
            if canonical not in known:
                raise ValueError(f"{canonical}: not a contract status (one of {', '.join(sorted(known))})")
        _check_renames("statuses", value)
        return value

    # ------------------------------------------------------------ translation (used by the REST transport)
    @cached_property
    def is_identity(self) -> bool:
        return not self.fields and not self.statuses

    @cached_property
    def _fields_back(self) -> dict[str, str]:
        return {wire: canonical for canonical, wire in self.fields.items()}

    @cached_property
    def _statuses_back(self) -> dict[str, str]:
        return {wire: canonical for canonical, wire in self.statuses.items()}

    def wire_name(self, canonical: str) -> str:
        return self.fields.get(canonical, canonical)

    def wire_status(self, status: InflowStatus | str) -> str:
        return self.statuses.get(str(status), str(status))

    def canonical_status(self, wire: str) -> str:
        """The contract's name for an installation's status (a canonical name passes through unchanged)."""
        return self._statuses_back.get(wire, wire)

    def to_wire(self, value: Any) -> Any:
        """A canonical JSON value as this installation expects it."""
        if self.is_identity:
            return value
        return _translate(value, self.fields, self.statuses)

    def from_wire(self, value: Any) -> Any:
        """An installation's JSON value in canonical names."""
        if self.is_identity:
            return value
        return _translate(value, self._fields_back, self._statuses_back, keys_first=True)

    def canonical_field_path(self, path: str) -> str:
        """``lines[0].quantity`` -> ``lines[0].qty``: error paths name the field the caller knows."""
        if not self.fields:
            return path
        back = self._fields_back
        return _NAME_TOKEN.sub(lambda m: back.get(m.group(0), m.group(0)), path)


def _translate(
    value: Any, names: Mapping[str, str], statuses: Mapping[str, str], *, keys_first: bool = False
) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            new_key = names.get(key, key)
            # Status keys are known by their canonical name: before renaming going out, after it coming in.
            canonical_key = new_key if keys_first else key
            if canonical_key in STATUS_KEYS and isinstance(item, str):
                out[new_key] = statuses.get(item, item)
            else:
                out[new_key] = _translate(item, names, statuses, keys_first=keys_first)
        return out
    if isinstance(value, list):
        return [_translate(item, names, statuses, keys_first=keys_first) for item in value]
    return value


def _error_location(exc: PydanticValidationError) -> tuple[str, str]:
    first = exc.errors()[0]
    loc = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key (profiles/default.toml shows every key a profile may have)"
    # Section validators start their message with the bad sub-key ("order: ..."): make it part of the key.
    head, sep, rest = message.partition(": ")
    if sep and _NAME_TOKEN.fullmatch(head):
        loc, message = (f"{loc}.{head}" if loc else head), rest
    return loc, message


def parse_profile(data: Mapping[str, Any], source: str) -> InstallationProfile:
    """Validate profile data; a bad profile raises ValidationError naming the key."""
    try:
        return InstallationProfile.model_validate(data)
    except PydanticValidationError as exc:
        key, problem = _error_location(exc)
        raise ValidationError(
            field=f"profile {source}: {key or '(top level)'}",
            problem=problem,
            fix="correct that key in the profile file",
        ) from None


def load_profile(name_or_path: str | Path) -> InstallationProfile:
    """A shipped profile by name (``default``, ``legacy-example``) or a TOML file by path."""
    if isinstance(name_or_path, str) and name_or_path in SHIPPED_PROFILES:
        text = (
            resources.files("bitrix_inflow.adapters.inflow")
            .joinpath(f"profiles/{name_or_path}.toml")
            .read_text("utf-8")
        )
        source = f"'{name_or_path}'"
    else:
        path = Path(name_or_path)
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidationError(
                field="profile",
                problem=f"cannot read {path}: {exc.strerror}",
                fix=f"give a readable TOML file or a shipped profile: {', '.join(SHIPPED_PROFILES)}",
            ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(
            field=f"profile {source}", problem=f"not valid TOML: {exc}", fix="fix the syntax"
        ) from None
    return parse_profile(data, source)

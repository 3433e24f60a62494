"""What a REST method is to the dispatcher: a scope, the profiles that have it, and a handler."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from typing import Any

from bitrix_inflow.sandboxes.bitrix import rest_errors
from bitrix_inflow.sandboxes.bitrix.config import SandboxConfig
from bitrix_inflow.sandboxes.bitrix.entities import EntitySpec
from bitrix_inflow.sandboxes.bitrix.event_hub import EventHub
from bitrix_inflow.sandboxes.bitrix.listing import run_list
from bitrix_inflow.sandboxes.bitrix.shop import Row, Shop


@dataclass
class Call:
    shop: Shop
    config: SandboxConfig
    params: dict[str, Any]
    user_id: int
    scopes: tuple[str, ...] = ()
    is_app: bool = False  # called with an OAuth token (application context), not a webhook
    hub: EventHub | None = None

    def require(self, name: str) -> Any:
        """Controller methods answer ``{"error": 100, ...}`` when an argument such as ``id`` is missing."""
        value = self.params.get(name)
        if value is None or value in ("", [], {}):
            raise rest_errors.required_argument(name)
        return value


@dataclass
class Answer:
    result: Any
    total: int | None = None
    next: int | None = None
    has_total: bool = False


Handler = Callable[[Call], Answer]


@dataclass(frozen=True)
class Method:
    name: str
    scope: str
    handler: Handler
    profiles: tuple[str, ...] = ("site", "bitrix24")
    access: str = ""  # sale-module right the user needs: "R" to read, "W" to write; "" = no check


@dataclass
class MethodTable:
    methods: dict[str, Method] = field(default_factory=dict)

    def add(self, items: Iterable[Method]) -> None:
        for item in items:
            self.methods[item.name.lower()] = item

    def find(self, name: str, profile: str) -> Method | None:
        found = self.methods.get(name.lower())
        if found is None or profile not in found.profiles:
            return None
        return found

    def names(self, profile: str, scopes: Iterable[str] | None = None) -> list[str]:
        allowed = set(scopes) if scopes is not None else None
        return sorted(
            m.name
            for m in self.methods.values()
            if profile in m.profiles and (allowed is None or m.scope in allowed or m.scope == "")
        )


def list_answer(call: Call, spec: EntitySpec, rows: list[Row], wrap: str) -> Answer:
    no_count = 0 if call.config.no_count_total == "zero" else None
    site_tz = timezone(timedelta(minutes=call.config.utc_offset_minutes))
    page = run_list(spec, rows, call.params, total_on_no_count=no_count, site_tz=site_tz)
    return Answer({wrap: page.rows}, total=page.total, next=page.next, has_total=page.total is not None)

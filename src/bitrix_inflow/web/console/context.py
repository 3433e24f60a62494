"""What every console page is given: the database, the clock, which shop/warehouse pair it shows, the language to
fall back on, and how it asks the shop what it must (its order statuses, for the mapping editor)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import Engine

from bitrix_inflow.config import Settings
from bitrix_inflow.jobs.scheduler import Schedule
from bitrix_inflow.timing import Clock
from bitrix_inflow.web.console.health import Health
from bitrix_inflow.web.console.i18n import Language
from bitrix_inflow.web.limits import RateLimit


@dataclass
class Console:
    engine: Engine
    clock: Clock
    connection_id: str = "default"
    default_language: Language = "ru"
    # The shop's order statuses, id → name (None: the shop is not configured or cannot be asked now).
    shop_statuses: Callable[[], Mapping[str, str] | None] = field(default=lambda: None)
    # The service's schedules (their last and next runs on the dashboard) and a probe of both connections.
    schedules: Sequence[Schedule] | Callable[[], Sequence[Schedule]] = ()
    # The file's settings, under what may be changed at run time (None: the settings page only says so).
    settings: Settings | None = None
    connections: Callable[[], list[Health]] = field(default=list)
    # Guessing passwords from one address: a few tries a second at most (the name also locks after five failures).
    sign_in_limit: RateLimit = field(default_factory=lambda: RateLimit(rate=2, burst=10))


def schedules_of(console: Console) -> Sequence[Schedule]:
    return console.schedules() if callable(console.schedules) else console.schedules


def console_of(request: Request) -> Console:
    found: Console = request.app.state.console
    return found

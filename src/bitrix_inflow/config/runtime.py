"""Settings an operator may change while the service runs (from the console), over the file's: schedule intervals,
which orders are forwarded, the stock safety buffer. Nothing else: credentials, addresses and the database need a
restart on purpose.

A value is checked by the same model that checks the file (a refused value names the setting and its rule), and
the service reads the overlay at each job and scheduler tick, so a change is in force within seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from bitrix_inflow.config.settings import OrdersSettings, Settings
from bitrix_inflow.domain.eligibility import parse_rules
from bitrix_inflow.errors import ValidationError


@dataclass(frozen=True)
class Knob:
    key: str  # section.field
    kind: str  # int | bool | list
    help: str


def N_(text: str) -> str:  # gettext's marker: the console shows these in the person's language
    return text


KNOBS = (
    Knob(
        "schedules.stock_seconds",
        "int",
        N_("incremental stock sync interval, seconds (120-300 for a busy warehouse)"),
    ),
    Knob(
        "schedules.orders_seconds",
        "int",
        N_("how often the shop is polled for new and changed orders, seconds"),
    ),
    Knob(
        "schedules.statuses_seconds",
        "int",
        N_("how often the warehouse is polled for status changes, seconds"),
    ),
    Knob("schedules.reconcile_seconds", "int", N_("reconciliation interval, seconds")),
    Knob(
        "orders.statuses", "list", N_("shop order statuses an order is forwarded from (comma-separated ids)")
    ),
    Knob("orders.paid_only", "bool", N_("forward only paid orders")),
    Knob("orders.delivery_allowed", "bool", N_("forward only orders whose every shipment allows delivery")),
    Knob("stock.buffer", "int", N_("units held back from the shop for every SKU")),
)
BY_KEY = {knob.key: knob for knob in KNOBS}


def parse(key: str, text: str) -> Any:
    """A value as typed in a form, in the type its setting has (the model checks the rest)."""
    knob = BY_KEY.get(key)
    if knob is None:
        raise ValidationError(key, "is not a setting that may change at run time", "change it in the file")
    raw = text.strip()
    if knob.kind == "int":
        if not re.fullmatch(r"-?[0-9]{1,12}", raw):
            raise ValidationError(key, f"{text!r} is not a whole number", "write digits only")
        return int(raw)
    if knob.kind == "bool":
        if raw.lower() not in ("true", "false", "on", "off", "yes", "no", "1", "0"):
            raise ValidationError(key, f"{text!r} is not yes or no", "write true or false")
        return raw.lower() in ("true", "on", "yes", "1")
    return [part.strip() for part in raw.split(",") if part.strip()]


def overlay(settings: Settings, values: Mapping[str, Any]) -> Settings:
    """The settings with ``values`` in force, each checked by its section's model; every refusal is raised at once
    (an ``ExceptionGroup`` of ``ValidationError``) and nothing is half applied."""
    by_section: dict[str, dict[str, Any]] = {}
    problems: list[ValidationError] = []
    for key, value in values.items():
        if key not in BY_KEY:
            problems.append(
                ValidationError(key, "is not a setting that may change at run time", "change the file")
            )
            continue
        section, name = key.split(".", 1)
        by_section.setdefault(section, {})[name] = value
    sections: dict[str, BaseModel] = {}
    for section, changes in by_section.items():
        current: BaseModel = getattr(settings, section)
        try:
            sections[section] = type(current).model_validate({**current.model_dump(), **changes})
        except PydanticError as exc:
            for error in exc.errors():
                field = ".".join(str(part) for part in error["loc"])
                problems.append(ValidationError(f"{section}.{field}", error["msg"], "see the setting's rule"))
    if not problems and "orders" in sections:
        # The order rules are checked as the forwarding jobs read them: what passes here cannot stop them.
        orders = sections["orders"]
        assert isinstance(orders, OrdersSettings)
        _, refused = parse_rules(orders.rule_values())
        changed = set(
            by_section["orders"]
        )  # the file's own problems are check's to report, not this change's
        problems.extend(
            ValidationError(f"orders.{p.field}", p.problem, p.fix or "see the setting's rule")
            for p in refused
            if p.field.split(".")[0].split("[")[0] in changed
        )
    if problems:
        raise ExceptionGroup(f"{len(problems)} setting(s) refused, nothing was changed", problems)
    return settings.model_copy(update=sections)


def in_force(settings: Settings, values: Mapping[str, Any], *, on_refused: Callable[[str], None]) -> Settings:
    """The overlay the service runs with: a stored value the model now refuses (a newer rule) is left out, said
    once through ``on_refused``, and the rest still applies."""
    kept = dict(values)
    while kept:
        try:
            return overlay(settings, kept)
        except ExceptionGroup as group:
            refused = {
                e.field.split(".")[0] + "." + e.field.split(".")[1]
                for e in group.exceptions
                if isinstance(e, ValidationError)
            }
            on_refused(str(group.exceptions[0]))
            dropped = {key for key in kept if key in refused} or {next(iter(kept))}
            for key in dropped:
                kept.pop(key)
    return settings

"""Which Bitrix orders go to the warehouse: the operators' rules, checked without I/O.

An order is forwarded when every rule lets it through. Every rule that holds it back is named (an order is never
skipped silently), and the reasons say whether waiting can change them: an order placed before the go-live moment
never goes, an unpaid one may go once it is paid.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from bitrix_inflow.errors import ValidationError


@dataclass(frozen=True)
class ShipmentFacts:
    id: int
    delivery_id: int
    allow_delivery: bool


@dataclass(frozen=True)
class OrderFacts:
    """What the rules look at, from the shop's order (the adapter's models are mapped into this)."""

    id: int
    status_id: str
    canceled: bool
    paid: bool
    site: str
    person_type: int
    created_at: dt.datetime | None  # aware; None: the shop did not say (the order is held, not guessed about)
    shipments: tuple[ShipmentFacts, ...] = ()


@dataclass(frozen=True)
class OrderRules:
    go_live: (
        dt.datetime
    )  # aware: orders created before it are never forwarded (they belong to the old process)
    statuses: frozenset[str] = frozenset({"N"})  # Bitrix statuses an order is forwarded from
    paid_only: bool = False
    delivery_allowed: bool = False  # every shipment must have "allow delivery" set
    sites: frozenset[str] = frozenset()  # empty: every site
    person_types: frozenset[int] = frozenset()  # empty: every person type
    carriers: Mapping[int, str] = field(
        default_factory=dict
    )  # Bitrix delivery service id → warehouse carrier


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    reasons: tuple[str, ...] = ()  # why not, one per rule that holds the order back
    final: bool = False  # no later change of the order makes it eligible (it predates the go-live)


def verdict(order: OrderFacts, rules: OrderRules) -> Verdict:
    if order.created_at is None:
        return Verdict(
            False, ("the shop did not say when it was created: the go-live rule cannot be checked",)
        )
    if order.created_at < rules.go_live:
        when = rules.go_live.isoformat()
        return Verdict(False, (f"created before the go-live ({when}): never forwarded",), final=True)
    reasons: list[str] = []
    if order.canceled:
        reasons.append("cancelled in the shop")
    if order.status_id not in rules.statuses:
        wanted = ", ".join(sorted(rules.statuses))
        reasons.append(f"status {order.status_id} is not one the orders go from ({wanted})")
    if rules.paid_only and not order.paid:
        reasons.append("not paid (only paid orders go)")
    if rules.sites and order.site not in rules.sites:
        reasons.append(f"site {order.site} is not forwarded")
    if rules.person_types and order.person_type not in rules.person_types:
        reasons.append(f"person type {order.person_type} is not forwarded")
    if not order.shipments:
        reasons.append("no shipment to deliver")
    for shipment in order.shipments:
        if rules.delivery_allowed and not shipment.allow_delivery:
            reasons.append(f"shipment {shipment.id}: delivery not allowed yet")
        if shipment.delivery_id not in rules.carriers:
            reasons.append(
                f"shipment {shipment.id}: delivery service {shipment.delivery_id} has no carrier "
                "(add it to the delivery → carrier table)"
            )
    return Verdict(not reasons, tuple(reasons))


def parse_rules(raw: Mapping[str, object]) -> tuple[OrderRules | None, list[ValidationError]]:
    """The rules from their settings, every problem reported at once (a half-valid set is not used)."""
    problems: list[ValidationError] = []
    go_live = _moment(raw.get("go_live"), problems)
    statuses = _texts(raw.get("statuses", ["N"]), "statuses", problems)
    if not statuses and "statuses" not in {p.field for p in problems}:
        problems.append(ValidationError("statuses", "is empty: no order would ever go", 'e.g. ["N"]'))
    sites = _texts(raw.get("sites", []), "sites", problems)
    person_types = _ids(raw.get("person_types", []), "person_types", problems)
    carriers = _carriers(raw.get("carriers", {}), problems)
    flags = {name: raw.get(name, False) for name in ("paid_only", "delivery_allowed")}
    for name, value in flags.items():
        if not isinstance(value, bool):
            problems.append(ValidationError(name, f"must be true or false, not {value!r}"))
    unknown = sorted(set(raw) - {"go_live", "statuses", "sites", "person_types", "carriers", *flags})
    problems += [
        ValidationError(name, "is not an order rule", "see the [orders] section") for name in unknown
    ]
    if problems or go_live is None:
        return None, problems
    return (
        OrderRules(
            go_live=go_live,
            statuses=frozenset(statuses),
            paid_only=bool(flags["paid_only"]),
            delivery_allowed=bool(flags["delivery_allowed"]),
            sites=frozenset(sites),
            person_types=frozenset(person_types),
            carriers=carriers,
        ),
        [],
    )


def _moment(value: object, problems: list[ValidationError]) -> dt.datetime | None:
    fix = "an ISO 8601 moment with its offset, e.g. 2026-12-01T00:00:00+03:00"
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            problems.append(ValidationError("go_live", f"{value!r} is not a moment", fix))
            return None
    else:
        problems.append(ValidationError("go_live", "is required: orders before it are never forwarded", fix))
        return None
    if moment.tzinfo is None:
        problems.append(ValidationError("go_live", f"{value!r} has no UTC offset", fix))
        return None
    return moment


def _texts(value: object, name: str, problems: list[ValidationError]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        problems.append(ValidationError(name, f"must be a list of non-empty texts, not {value!r}"))
        return []
    return [item.strip() for item in value]


def _ids(value: object, name: str, problems: list[ValidationError]) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in value
    ):
        problems.append(ValidationError(name, f"must be a list of positive ids, not {value!r}"))
        return []
    return [int(i) for i in value]


def _carriers(value: object, problems: list[ValidationError]) -> dict[int, str]:
    fix = 'delivery service id = carrier, e.g. {"2" = "CDEK"}'
    if not isinstance(value, Mapping):
        problems.append(ValidationError("carriers", f"must be a table, not {value!r}", fix))
        return {}
    carriers: dict[int, str] = {}
    for key, carrier in value.items():
        if not str(key).isdigit() or int(key) <= 0:
            problems.append(ValidationError(f"carriers.{key}", "is not a delivery service id", fix))
        elif not isinstance(carrier, str) or not carrier.strip():
            problems.append(ValidationError(f"carriers.{key}", f"carrier {carrier!r} is not a name", fix))
        else:
            carriers[int(key)] = carrier.strip()
    return carriers

"""The marking ledger as a person or an auditor reads it: every shipped marked unit with where it went and what
became of it, narrowed by date, order, GTIN, code or package, and exported as CSV or JSON (for an audit, or for a
fiscal provider that files withdrawals itself).

Filters are checked before anything is read, each problem naming the field and the fix. Codes keep their GS
separators: CSV carries the character as it is, JSON as ``\\u001d``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from sqlalchemy import Engine

from bitrix_inflow.domain import marking
from bitrix_inflow.domain.incidents import Kind
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.store import marking as ledger
from bitrix_inflow.sync.incidents.inbox import raise_incident

FORMATS = ("csv", "json")
COLUMNS = (
    "shipped_at",
    "state",
    "order_id",
    "shipment_id",
    "basket_id",
    "picking_ref",
    "sscc",
    "gtin",
    "identity",
    "code",
)


@dataclass(frozen=True)
class Filters:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    order_id: int | None = None
    gtin: str | None = None
    code: str | None = None  # a unit, by its full code or its identity (01 + GTIN + 21 + serial)
    sscc: str | None = None


def filters(
    *,
    since: str | None = None,
    until: str | None = None,
    order_id: int | None = None,
    gtin: str | None = None,
    code: str | None = None,
    sscc: str | None = None,
) -> Filters:
    """The filters as typed by a person: dates (ISO 8601; a date alone is its midnight, UTC without an offset),
    a GTIN of 8 to 14 digits (padded to 14), a code in any scanner spelling, an SSCC in any usual form."""
    problems: list[ValidationError] = []

    def moment(value: str | None, name: str) -> dt.datetime | None:
        if value is None:
            return None
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            problems.append(
                ValidationError(
                    name, f"{value!r} is not a date", "write 2026-12-01 or 2026-12-01T10:00+03:00"
                )
            )
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)

    start, end = moment(since, "since"), moment(until, "until")
    if start and end and end <= start:
        problems.append(ValidationError("until", "is not after since", "give an until later than since"))
    if order_id is not None and order_id <= 0:
        problems.append(ValidationError("order", "must be a positive order id", "give the shop's order id"))
    padded = None
    if gtin is not None:
        digits = gtin.strip()
        if not digits.isdigit() or len(digits) not in (8, 12, 13, 14):
            problems.append(
                ValidationError("gtin", f"{gtin!r} is not a GTIN", "give its 8, 12, 13 or 14 digits")
            )
        else:
            padded = digits.rjust(14, "0")
    identity = None
    if code is not None:
        identity = _identity(code)
        if identity is None:
            problems.append(
                ValidationError("code", "is not an Honest Sign code", "paste the code as scanned (01…21…)")
            )
    normalized_sscc = None
    if sscc is not None:
        try:
            normalized_sscc = marking.parse_sscc(sscc)
        except marking.MarkingError as exc:
            problems.append(ValidationError("sscc", exc.problem, "give the package's 18 digits"))
    if problems:
        raise (
            problems[0]
            if len(problems) == 1
            else ValidationError("filters", "; ".join(str(p) for p in problems), "fix each field named")
        )
    return Filters(start, end, order_id, padded, identity, normalized_sscc)


# A unit's identity typed alone (no crypto tail): 01 + GTIN-14 + 21 + a serial of 6 to 13 characters.
_IDENTITY = re.compile(r"01\d{14}21[^\x1d]{6,13}")


def _identity(code: str) -> str | None:
    text = marking.normalize(code)
    if _IDENTITY.fullmatch(text):
        return text
    for group in marking.Group:
        try:
            return marking.parse(code, group).identity
        except marking.MarkingError:
            continue
    return None


def units(engine: Engine, connection_id: str, chosen: Filters) -> list[ledger.Unit]:
    with engine.connect() as conn:
        found = ledger.listed(
            conn,
            connection_id,
            since=chosen.since,
            until=chosen.until,
            order_id=chosen.order_id,
            gtin=chosen.gtin,
        )
    if chosen.code is not None:
        found = [u for u in found if u.identity == chosen.code]
    if chosen.sscc is not None:
        found = [u for u in found if u.sscc == chosen.sscc]
    return found


def _row(unit: ledger.Unit) -> dict[str, object]:
    return {
        "shipped_at": unit.created_at.isoformat() if unit.created_at else None,
        "state": unit.state,
        "order_id": unit.bitrix_order_id,
        "shipment_id": unit.shipment_id,
        "basket_id": unit.basket_id,
        "picking_ref": unit.picking_ref,
        "sscc": unit.sscc,
        "gtin": unit.gtin,
        "identity": unit.identity,
        "code": unit.code,
    }


def write(found: Sequence[ledger.Unit], fmt: str, out: TextIO) -> None:
    if fmt not in FORMATS:
        raise ValidationError("format", f"{fmt!r} is not a format", "use csv or json")
    rows = [_row(unit) for unit in found]
    if fmt == "json":
        json.dump({"units": rows, "count": len(rows)}, out, ensure_ascii=False, indent=2)
        out.write("\n")
        return
    table = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    table.writeheader()
    table.writerows(rows)


@dataclass(frozen=True)
class Rejected:
    units: tuple[ledger.Unit, ...]  # moved to receipt_rejected now
    incidents: tuple[int, ...]  # opened now, one per order (the manager told by each)


def reject_receipt(
    engine: Engine,
    connection_id: str,
    codes: Sequence[str],
    *,
    reason: str,
    actor: str,
    now: dt.datetime,
) -> Rejected:
    """The fiscal data operator refused a receipt's codes (permissive mode: a code blocked, expired, not ours): the
    units go to ``receipt_rejected`` and each order gets an incident for the manager. Checked whole first: every
    code must be a shipped unit of the ledger, or nothing changes."""
    if not codes:
        raise ValidationError("code", "no code given", "give each rejected code with --code")
    if not reason.strip():
        raise ValidationError("reason", "is empty", "say what the fiscal operator answered")
    identities: list[str] = []
    for raw in codes:
        identity = _identity(raw)
        if identity is None:
            raise ValidationError(
                "code", f"{raw[:40]!r} is not an Honest Sign code", "paste the code as scanned"
            )
        identities.append(identity)
    with engine.begin() as conn:
        held = ledger.sold(conn, connection_id, identities)
        unknown = [i for i in identities if i not in held or held[i].state != "shipped"]
        if unknown:
            raise ValidationError(
                "code",
                f"not a shipped unit of the ledger: {', '.join(unknown)}",
                "give codes of units the service shipped (marking find --code)",
            )
        ledger.move(conn, connection_id, identities, state="receipt_rejected", now=now)
        opened: list[int] = []
        by_order: dict[int, list[ledger.Unit]] = {}
        for identity in identities:
            by_order.setdefault(held[identity].bitrix_order_id, []).append(held[identity])
        for order_id, units in sorted(by_order.items()):
            detail = {
                "why": reason.strip(),
                "sku": "",
                "codes": [u.identity for u in units],
                "by": actor,
                "problems": [
                    {"sku": u.gtin, "kind": "rejected", "code": u.identity, "detail": reason.strip()}
                    for u in units
                ],
            }
            subject = ",".join(sorted(u.identity for u in units))[:100]
            incident_id = raise_incident(
                conn,
                connection_id,
                order_id,
                kind=Kind.RECEIPT_REJECTED,
                subject=subject,
                detail=detail,
                now=now,
            )
            if incident_id is not None:
                opened.append(incident_id)
    return Rejected(tuple(held[i] for i in identities), tuple(opened))

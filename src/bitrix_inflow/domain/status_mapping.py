"""Which Bitrix order status follows which Inflow status: the operators' table, validated here without I/O.

Inflow's state machine is fixed (``vocabulary.InflowStatus``); Bitrix statuses are whatever the shop configured in
``b_sale_status`` (ids of one or two characters). An Inflow status without a mapping leaves the Bitrix order's
status as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bitrix_inflow.domain.vocabulary import InflowStatus
from bitrix_inflow.errors import ValidationError

INFLOW_STATUSES = tuple(status.value for status in InflowStatus)

# The brief's table; the intermediate states keep the previous Bitrix status. PICKING_ERROR needs a status the
# shop creates for it (Bitrix has no standard one), so it starts unmapped and `check` asks for it.
DEFAULT_MAPPING: Mapping[str, str] = {
    "NEW": "P",
    "PICKING": "Q",
    "SHIPPED": "D",
    "DELIVERED": "F",
    "CANCELLED": "Z",
}

# b_sale_status.ID is CHAR(2): Latin letters or digits, upper case by convention.
_BITRIX_STATUS_ID = re.compile(r"^[A-Z0-9]{1,2}$")


@dataclass(frozen=True)
class StatusMapping:
    entries: Mapping[str, str]  # Inflow status → Bitrix status id

    def bitrix_status_for(self, inflow_status: str) -> str | None:
        return self.entries.get(inflow_status)

    @property
    def unmapped(self) -> tuple[str, ...]:
        return tuple(status for status in INFLOW_STATUSES if status not in self.entries)


def check_inflow_status(inflow_status: str) -> list[ValidationError]:
    if inflow_status in INFLOW_STATUSES:
        return []
    return [
        ValidationError(inflow_status, "is not an Inflow status", f"use one of {', '.join(INFLOW_STATUSES)}")
    ]


def check_entry(inflow_status: str, bitrix_status: str) -> list[ValidationError]:
    problems = check_inflow_status(inflow_status)
    if not _BITRIX_STATUS_ID.match(bitrix_status):
        problems.append(
            ValidationError(
                inflow_status,
                f"{bitrix_status!r} is not a Bitrix status id",
                "use the one- or two-character ID from the shop's order statuses (e.g. P, Q, D, F, Z)",
            )
        )
    return problems


def parse_table(table: Mapping[str, object]) -> tuple[dict[str, str], list[ValidationError]]:
    """A whole table as read from a file: every problem at once, and nothing usable unless there are none."""
    entries: dict[str, str] = {}
    problems: list[ValidationError] = []
    for inflow_status, bitrix_status in table.items():
        if not isinstance(bitrix_status, str):
            problems.append(
                ValidationError(inflow_status, "must be a text value", 'write it in quotes, e.g. NEW = "P"')
            )
            continue
        found = check_entry(inflow_status, bitrix_status)
        problems.extend(found)
        if not found:
            entries[inflow_status] = bitrix_status
    return entries, problems

"""The status mapping table as operators edit it: show, set, unset, import and export.

Every edit is all or nothing. The whole input is checked before the database is touched, and every problem is
raised at once as an ``ExceptionGroup`` of :class:`~bitrix_inflow.errors.ValidationError` (each names the Inflow
status and the fix), so an operator fixes a file in one round instead of one line per attempt. A clean edit is
written in one transaction, stamped with the time and the actor.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import Engine

from bitrix_inflow.domain.status_mapping import (
    INFLOW_STATUSES,
    StatusMapping,
    check_entry,
    check_inflow_status,
    parse_table,
)
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.jobs.queue import DEFAULT_CONNECTION
from bitrix_inflow.store import status_map
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.ops")

DOCUMENT_TABLE = "statuses"
_DOCUMENT = "mapping file"  # the field a problem with the file as a whole is reported against


@dataclass(frozen=True)
class MappingEntry:
    inflow_status: str
    bitrix_status: str | None  # None: an order keeps its Bitrix status when the warehouse reports this one


@dataclass(frozen=True)
class MappingExport:
    text: str  # a TOML document that `parse_document` reads back
    mapped: int  # how many Inflow statuses have a Bitrix status


def show(engine: Engine, *, connection_id: str = DEFAULT_CONNECTION) -> tuple[MappingEntry, ...]:
    """Every Inflow status, in the order of the warehouse's state machine, with the Bitrix status it maps to."""
    mapping = _load(engine, connection_id)
    return tuple(MappingEntry(status, mapping.bitrix_status_for(status)) for status in INFLOW_STATUSES)


def history(
    engine: Engine, *, connection_id: str = DEFAULT_CONNECTION, limit: int = 100
) -> list[status_map.MappingChange]:
    """Who changed the mapping, when, from what to what: the latest first."""
    with engine.connect() as conn:
        return status_map.history(conn, connection_id, limit=limit)


def set_status(
    engine: Engine,
    inflow_status: str,
    bitrix_status: str,
    *,
    clock: Clock,
    actor: str,
    connection_id: str = DEFAULT_CONNECTION,
) -> MappingEntry:
    """Map one Inflow status to a Bitrix status id; both are taken case-insensitively, as operators type them."""
    inflow, bitrix = inflow_status.upper(), bitrix_status.upper()
    _refuse_any(check_entry(inflow, bitrix))
    return _write(engine, MappingEntry(inflow, bitrix), clock=clock, actor=actor, connection_id=connection_id)


def unset_status(
    engine: Engine,
    inflow_status: str,
    *,
    clock: Clock,
    actor: str,
    connection_id: str = DEFAULT_CONNECTION,
) -> MappingEntry:
    """Remove one mapping: orders keep their Bitrix status when the warehouse reports this status."""
    entry = MappingEntry(inflow_status.upper(), None)
    _refuse_any(check_inflow_status(entry.inflow_status))
    return _write(engine, entry, clock=clock, actor=actor, connection_id=connection_id)


def import_table(
    engine: Engine,
    table: Mapping[str, object],
    *,
    clock: Clock,
    actor: str,
    connection_id: str = DEFAULT_CONNECTION,
) -> StatusMapping:
    """Replace the whole table (Inflow status → Bitrix status id, e.g. from `parse_document`); returns the new one."""
    entries, problems = parse_table(table)
    _refuse_any(problems)
    with engine.begin() as conn:
        status_map.replace(conn, connection_id, entries, now=clock.now(), by=actor)
    log.info("ops.mapping_imported", connection_id=connection_id, mapped=len(entries), actor=actor)
    return StatusMapping(entries)


def parse_document(data: bytes) -> Mapping[str, object]:
    """The table of a mapping file as `export_document` writes it; a file of another shape is refused."""
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(_DOCUMENT, f"not valid TOML ({exc})") from exc
    table = document.get(DOCUMENT_TABLE)
    unknown = sorted(set(document) - {DOCUMENT_TABLE})
    if not isinstance(table, dict) or unknown:
        raise ValidationError(
            _DOCUMENT,
            f'expected exactly one [{DOCUMENT_TABLE}] table (Inflow status = "Bitrix status")'
            + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
        )
    return table


def export_document(engine: Engine, *, connection_id: str = DEFAULT_CONNECTION) -> MappingExport:
    """The table as a TOML document for review, version control or another installation."""
    mapping = _load(engine, connection_id)
    lines = [
        "# bitrix-inflow status mapping: Inflow status = Bitrix status id (b_sale_status.ID).",
        "# A status left out keeps the order's Bitrix status unchanged. Load with `bitrix-inflow mapping import`.",
        f"[{DOCUMENT_TABLE}]",
    ]
    for status in INFLOW_STATUSES:
        bitrix = mapping.bitrix_status_for(status)
        lines.append(f'{status} = "{bitrix}"' if bitrix else f"# {status} = (unchanged)")
    return MappingExport("\n".join(lines) + "\n", len(mapping.entries))


def _load(engine: Engine, connection_id: str) -> StatusMapping:
    with engine.connect() as conn:
        return status_map.load(conn, connection_id)


def _write(
    engine: Engine, entry: MappingEntry, *, clock: Clock, actor: str, connection_id: str
) -> MappingEntry:
    with engine.begin() as conn:
        status_map.set_entry(
            conn, connection_id, entry.inflow_status, entry.bitrix_status, now=clock.now(), by=actor
        )
    log.info(
        "ops.mapping_changed",
        connection_id=connection_id,
        inflow_status=entry.inflow_status,
        bitrix_status=entry.bitrix_status,
        actor=actor,
    )
    return entry


def _refuse_any(problems: Sequence[ValidationError]) -> None:
    if problems:
        raise ExceptionGroup(f"{len(problems)} problem(s), nothing was changed", list(problems))

"""The status mapping use cases on both databases: validate, then one transaction, stamped with who and when."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from bitrix_inflow.domain.status_mapping import DEFAULT_MAPPING, INFLOW_STATUSES
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.ops import mapping
from bitrix_inflow.ops.mapping import MappingEntry
from bitrix_inflow.store.tables import status_map
from bitrix_inflow.timing import Clock

from .conftest import NOW

ACTOR = "cli:alice"


def table_of(engine: Engine) -> dict[str, str | None]:
    return {e.inflow_status: e.bitrix_status for e in mapping.show(engine) if e.bitrix_status}


def refusals(excinfo: pytest.ExceptionInfo[ExceptionGroup[ValidationError]]) -> list[ValidationError]:
    """The problems an edit was refused for; a nested group or another error type would be a bug."""
    problems = [p for p in excinfo.value.exceptions if isinstance(p, ValidationError)]
    assert len(problems) == len(excinfo.value.exceptions)
    return problems


def test_show_lists_every_inflow_status_in_order_with_the_seeded_table(engine: Engine) -> None:
    entries = mapping.show(engine)
    assert [e.inflow_status for e in entries] == list(INFLOW_STATUSES)
    assert {e.inflow_status: e.bitrix_status for e in entries if e.bitrix_status} == dict(DEFAULT_MAPPING)
    assert MappingEntry("PICKING_ERROR", None) in entries


def test_set_takes_any_case_and_records_who_and_when(engine: Engine, clock: Clock) -> None:
    entry = mapping.set_status(engine, "picking_error", "e", clock=clock, actor=ACTOR)
    assert entry == MappingEntry("PICKING_ERROR", "E")
    assert table_of(engine)["PICKING_ERROR"] == "E"
    with engine.connect() as conn:
        row = conn.execute(
            select(status_map.c.updated_by, status_map.c.updated_at).where(
                status_map.c.inflow_status == "PICKING_ERROR"
            )
        ).one()
    assert (row.updated_by, row.updated_at) == (ACTOR, NOW)


def test_set_reports_every_problem_at_once_with_the_fix_and_changes_nothing(
    engine: Engine, clock: Clock
) -> None:
    before = table_of(engine)
    with pytest.raises(ExceptionGroup) as excinfo:
        mapping.set_status(engine, "short_pick", "processing", clock=clock, actor=ACTOR)
    problems = refusals(excinfo)
    assert [(p.field, p.problem) for p in problems] == [
        ("SHORT_PICK", "is not an Inflow status"),
        ("SHORT_PICK", "'PROCESSING' is not a Bitrix status id"),
    ]
    assert all(p.fix for p in problems)
    assert "nothing was changed" in str(excinfo.value)
    assert table_of(engine) == before


def test_unset_removes_one_mapping_and_refuses_an_unknown_status(engine: Engine, clock: Clock) -> None:
    unset = mapping.unset_status(engine, "cancelled", clock=clock, actor=ACTOR)
    assert unset == MappingEntry("CANCELLED", None)
    assert "CANCELLED" not in table_of(engine)
    with pytest.raises(ExceptionGroup) as excinfo:
        mapping.unset_status(engine, "SHORT_PICK", clock=clock, actor=ACTOR)
    assert [p.field for p in refusals(excinfo)] == ["SHORT_PICK"]


def test_import_replaces_the_whole_table(engine: Engine, clock: Clock) -> None:
    imported = mapping.import_table(engine, {"NEW": "N", "PICKING_ERROR": "E"}, clock=clock, actor=ACTOR)
    assert dict(imported.entries) == {"NEW": "N", "PICKING_ERROR": "E"}
    assert table_of(engine) == {"NEW": "N", "PICKING_ERROR": "E"}
    with engine.connect() as conn:
        assert set(conn.execute(select(status_map.c.updated_by)).scalars()) == {ACTOR}


def test_import_is_all_or_nothing_and_names_every_bad_line(engine: Engine, clock: Clock) -> None:
    before = table_of(engine)
    with pytest.raises(ExceptionGroup) as excinfo:
        mapping.import_table(engine, {"NEW": "N", "SHIPED": "D", "DELIVERED": 5}, clock=clock, actor=ACTOR)
    assert sorted(p.field for p in refusals(excinfo)) == ["DELIVERED", "SHIPED"]
    assert table_of(engine) == before


def test_export_then_parse_then_import_round_trips(engine: Engine, clock: Clock) -> None:
    mapping.set_status(engine, "PICKING_ERROR", "E", clock=clock, actor=ACTOR)
    before = table_of(engine)
    exported = mapping.export_document(engine)
    assert exported.mapped == len(before) == 6
    assert 'PICKING_ERROR = "E"' in exported.text and "# PICKED = (unchanged)" in exported.text
    mapping.import_table(engine, {}, clock=clock, actor=ACTOR)
    assert table_of(engine) == {}
    mapping.import_table(engine, mapping.parse_document(exported.text.encode()), clock=clock, actor=ACTOR)
    assert table_of(engine) == before


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (b'NEW = "P"\n', "expected exactly one [statuses] table"),
        (b'[statuses]\nNEW = "P"\n[extra]\n', "unknown: extra"),
        (b"[statuses\n", "not valid TOML"),
        (b"\xff\xfe", "not valid TOML"),
    ],
)
def test_a_document_of_another_shape_is_refused(document: bytes, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem.replace("[", r"\[")) as excinfo:
        mapping.parse_document(document)
    assert excinfo.value.field == "mapping file"

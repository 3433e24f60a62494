from __future__ import annotations

from bitrix_inflow.domain.status_mapping import (
    DEFAULT_MAPPING,
    INFLOW_STATUSES,
    StatusMapping,
    check_entry,
    parse_table,
)


def test_the_brief_table_is_the_default_and_the_rest_is_unmapped() -> None:
    mapping = StatusMapping(DEFAULT_MAPPING)
    assert [
        mapping.bitrix_status_for(s) for s in ("NEW", "PICKING", "SHIPPED", "DELIVERED", "CANCELLED")
    ] == [
        "P",
        "Q",
        "D",
        "F",
        "Z",
    ]
    assert mapping.unmapped == ("ASSIGNED", "PICKED", "PACKING", "PICKING_ERROR")
    assert set(mapping.entries) | set(mapping.unmapped) == set(INFLOW_STATUSES)


def test_an_entry_names_what_is_wrong_and_how_to_fix_it() -> None:
    assert check_entry("PICKING_ERROR", "E") == []
    assert check_entry("NEW", "E1") == []
    (bad_inflow,) = check_entry("SHORT_PICK", "E")
    assert bad_inflow.field == "SHORT_PICK" and "PICKING_ERROR" in (bad_inflow.fix or "")
    (bad_bitrix,) = check_entry("NEW", "processing")
    assert bad_bitrix.field == "NEW" and "'processing' is not a Bitrix status id" in str(bad_bitrix)
    assert len(check_entry("NOPE", "toolong")) == 2


def test_a_table_reports_every_problem_at_once() -> None:
    entries, problems = parse_table({"NEW": "P", "SHIPED": "D", "DELIVERED": 5, "CANCELLED": "z!"})
    assert entries == {"NEW": "P"}
    assert sorted(p.field for p in problems) == ["CANCELLED", "DELIVERED", "SHIPED"]

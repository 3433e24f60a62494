"""What the shop's manager reads of an incident, in the shop's language."""

from __future__ import annotations

import pytest

from bitrix_inflow.domain.incidents import WAYS_OUT, Kind, message, ways_out


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("language", ["ru", "en"])
def test_every_kind_has_a_title_and_its_ways_out_in_both_languages(kind: Kind, language: str) -> None:
    said = message(
        kind,
        incident_id=7,
        account="1042",
        detail={},
        order_link=None,
        language=language,  # type: ignore[arg-type]
    )
    assert said.title.startswith("[BI-7] ") and "1042" in said.title and kind.value not in said.title
    assert all(f"- {way.value}: " in said.body for way in WAYS_OUT[kind])
    assert "incidents resolve 7" in said.body


def test_a_reconciliation_finding_says_what_it_found_in_russian() -> None:
    detail = {
        "ref": "B-1042-1",
        "aggregate": "PICKING",
        "shown": "F",
        "wanted": "Q",
        "since": "2026-12-01T10:00",
    }
    said = message(
        "status_refused", incident_id=3, account="1042", detail=detail, order_link=None, language="ru"
    )
    lines = said.body.splitlines()
    for line in (
        "Заказ на сборку: B-1042-1",
        "Статус на складе: PICKING",
        "Статус в магазине: F",
        "Статус сервиса: Q",
        "Последнее движение: 2026-12-01T10:00",
    ):
        assert line in lines


def test_a_kind_from_a_newer_version_can_still_be_dismissed() -> None:
    assert ways_out("from_the_future") == ("dismiss",)
    said = message("from_the_future", incident_id=1, account="5", detail={}, order_link=None, language="en")
    assert said.title == "[BI-1] from_the_future: 5"

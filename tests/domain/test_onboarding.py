"""Onboarding's proposal rules, without I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitrix_inflow.domain.onboarding import (
    KeyScore,
    drift,
    propose_carriers,
    propose_match_key,
    propose_statuses,
    propose_stores,
    propose_warehouse,
)
from bitrix_inflow.errors import ValidationError

SITE_PRODUCT = {"N": "Accepted, awaiting payment", "P": "Paid, preparing for shipment", "F": "Completed"}
BITRIX24_PRODUCT = {
    "N": "Accepted, awaiting payment",
    "S": "Shipped",
    "P": "Paid, preparing for shipment",
    "D": "Canceled",
    "F": "Completed",
}


def test_the_briefs_table_is_kept_where_the_shop_has_it() -> None:
    shop = {
        **SITE_PRODUCT,
        "Q": "Picking",
        "D": "In delivery",
        "Z": "Cancelled by the warehouse",
        "E": "Ошибка",
    }
    proposal = propose_statuses(shop)
    assert proposal.mapping == {
        "NEW": "P",
        "PICKING": "Q",
        "SHIPPED": "D",
        "DELIVERED": "F",
        "CANCELLED": "Z",
        "PICKING_ERROR": "E",
    }
    assert proposal.to_create == {}


def test_bitrix24s_canceled_d_never_receives_shipped() -> None:
    proposal = propose_statuses(BITRIX24_PRODUCT)
    assert proposal.mapping["SHIPPED"] == "S"
    assert proposal.mapping["CANCELLED"] == "D"  # found by its name
    assert "'Canceled'" in proposal.reasons["SHIPPED"]
    assert set(proposal.to_create) == {"Q", "E"}
    assert proposal.to_create["E"]["ru"] == "Ошибка сборки"


def test_a_russian_name_is_found_and_the_forwarded_status_is_never_taken() -> None:
    shop = {
        "N": "Принят, ожидается оплата",
        "A": "Ошибка комплектации",
        "B": "Отгружен",
        "F": "Выполнен",
    }
    proposal = propose_statuses(shop, forward_from=("N", "B"))
    assert proposal.mapping["PICKING_ERROR"] == "A"
    assert proposal.mapping["SHIPPED"] != "B"  # orders are forwarded from B: it cannot also mean shipped
    assert proposal.mapping["DELIVERED"] == "F"


@given(
    st.dictionaries(
        st.text(alphabet="ABCDEFGHNPQSZ0123", min_size=1, max_size=2),
        st.sampled_from(["Canceled", "Shipped", "Picking", "Completed", "Ошибка", "Отменён", "", "New"]),
        max_size=12,
    )
)
def test_statuses_map_only_to_existing_or_created_ones_each_once(shop: dict[str, str]) -> None:
    proposal = propose_statuses(shop)
    targets = list(proposal.mapping.values())
    assert len(targets) == len(set(targets))
    for target in targets:
        assert target in shop or target in proposal.to_create
    assert not set(proposal.to_create) & set(shop)
    assert "N" not in targets


def _score(key: str, wms: int, shop: int = 0, n: int = 100) -> KeyScore:
    return KeyScore(key, None, key, wms, n, shop, 50)


def test_a_clear_winner_is_proposed_with_its_shares() -> None:
    choice = propose_match_key([_score("xmlId", 3), _score("property101", 96, 49)])
    assert not choice.open and choice.value["match_key"] == "property101"
    assert "96% ±4% of 100 sampled warehouse SKUs" in choice.reason


def test_a_tie_is_asked_with_xmlid_as_the_default() -> None:
    choice = propose_match_key([_score("property101", 97), _score("xmlId", 95)])
    assert choice.open and choice.value["match_key"] == "xmlId"
    assert set(choice.options) == {"xmlId", "property101"}


def test_a_weak_best_is_asked_and_nothing_is_an_error_naming_the_fix() -> None:
    assert propose_match_key([_score("xmlId", 30), _score("property101", 5)]).open
    with pytest.raises(ValidationError) as refused:
        propose_match_key([_score("xmlId", 0), _score("property101", 0)])
    assert refused.value.field == "choices.match_key" and "products import" in str(refused.value)


def test_case_only_agreements_are_a_hint_never_a_match() -> None:
    score = KeyScore("xmlId", None, "xmlId", 0, 100, 0, 50, case_only=80)
    assert "80 more differ only in case" in score.describe()
    with pytest.raises(ValidationError):
        propose_match_key([score])


def test_carriers_by_name_similarity_else_the_services_own_name() -> None:
    table, reasons = propose_carriers(
        {1: "СДЭК курьер", 2: "Boxberry", 3: "CDEK express"}, ["CDEK", "Почта России"]
    )
    assert table == {"1": "СДЭК курьер", "2": "Boxberry", "3": "CDEK"}
    assert "alike" in reasons["3"] and "own name" in reasons["2"]
    long_name = "x" * 80
    assert len(propose_carriers({9: long_name}, [])[0]["9"]) == 64


def test_several_warehouses_are_asked_one_is_taken() -> None:
    assert propose_warehouse({"MAIN": 10}).value == "MAIN"
    several = propose_warehouse({"MAIN": 10, "NORTH": 3})
    assert several.open and several.options == ("MAIN", "NORTH")
    with pytest.raises(ValidationError):
        propose_warehouse({})


def test_stores_by_name_or_asked() -> None:
    assert propose_stores(["MAIN"], {1: ("Main", "main"), 2: ("North", "")}).value == {"MAIN": 1}
    assert propose_stores(["MAIN"], {5: ("Warehouse 1", "store_1")}).value == {"MAIN": 5}
    asked = propose_stores(["MAIN"], {1: ("Warehouse 1", "s1"), 2: ("Warehouse 2", "s2")})
    assert asked.open and asked.value == {}


def test_drift_names_new_gone_and_renamed_on_both_sides() -> None:
    before = {
        "shop": {
            "statuses": {"N": "New", "P": "Paid"},
            "deliveries": {"1": "Courier"},
            "document_mode": False,
        },
        "wms": {"served": ["rest"], "profile": "default", "warehouses": ["MAIN"]},
    }
    now = {
        "shop": {
            "statuses": {"N": "New", "P": "Paid and packed", "R": "Returned"},
            "deliveries": {"1": "Courier", "5": "Boxberry"},
            "document_mode": True,
        },
        "wms": {"served": ["rest", "soap"], "profile": "default", "warehouses": ["MAIN", "NORTH"]},
    }
    said = {(c.side, c.what, c.detail) for c in drift(before, now)}
    assert ("shop", "new order status", "R (Returned)") in said
    assert ("shop", "order status renamed", "P: 'Paid' → 'Paid and packed'") in said
    assert ("shop", "new delivery service", "5 (Boxberry)") in said
    assert ("shop", "inventory management", "now on") in said
    assert ("warehouse", "new warehouse", "NORTH") in said
    assert any(c[1] == "transports served" for c in said)
    assert drift(now, now) == []

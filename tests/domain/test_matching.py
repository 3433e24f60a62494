"""Matching warehouse SKUs to shop products: keys, offers, the explicit table, and what is reported."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bitrix_inflow.domain.matching import ShopProduct, match


def test_by_key_with_offers_and_unmatched_on_both_sides() -> None:
    products = [
        ShopProduct(
            1, "TSHIRT", holds_stock=False
        ),  # sold through its offers: never linked, never "unmatched"
        ShopProduct(11, "TSHIRT-S", parent_id=1),
        ShopProduct(12, " TSHIRT-M ", parent_id=1),  # blanks around a key are not part of it
        ShopProduct(2, "MUG"),
        ShopProduct(3, None),  # no key at all
        ShopProduct(4, "   "),  # a blank key is no key
    ]
    result = match(["TSHIRT-S", "TSHIRT-M", "MUG", "GHOST"], products)
    assert result.links == {"TSHIRT-S": 11, "TSHIRT-M": 12, "MUG": 2}
    assert set(result.origin.values()) == {"key"}
    assert result.unmatched_skus == ["GHOST"]
    assert result.unmatched_products == [3, 4]


def test_a_shared_key_is_ambiguous_and_links_neither() -> None:
    result = match(["MUG"], [ShopProduct(2, "MUG"), ShopProduct(5, "MUG")])
    assert result.links == {} and result.ambiguous == {"MUG": [2, 5]}
    assert result.unmatched_products == []  # both are named in the ambiguity report instead


def test_the_table_wins_over_keys_and_reports_rows_that_cannot_apply() -> None:
    products = [ShopProduct(2, "MUG"), ShopProduct(7, "CUP"), ShopProduct(1, "SET", holds_stock=False)]
    table = {"CUP": 2, "SAUCER": 99, "SET": 1, "MUG": 7}
    result = match(["MUG", "CUP", "SAUCER", "SET"], products, table)
    assert result.links == {"CUP": 2, "MUG": 7}
    assert result.origin == {"CUP": "table", "MUG": "table"}
    assert result.unmatched_skus == ["SAUCER", "SET"]
    assert any("99" in p and "does not exist" in p for p in result.table_problems)
    assert any("no stock of its own" in p for p in result.table_problems)


def test_one_product_cannot_be_linked_twice() -> None:
    result = match(["A", "B"], [ShopProduct(2, "A")], {"B": 2})
    assert result.links == {"B": 2}  # the table's link first; the key of A then finds its product taken
    assert result.unmatched_skus == ["A"]


@given(
    skus=st.sets(st.sampled_from([f"S{i}" for i in range(12)])),
    keys=st.lists(st.sampled_from([f"S{i}" for i in range(12)] + [None]), max_size=12),
)
def test_every_sku_and_every_sellable_product_is_accounted_for_exactly_once(
    skus: set[str], keys: list[str | None]
) -> None:
    products = [ShopProduct(n + 1, key) for n, key in enumerate(keys)]
    result = match(skus, products)
    ambiguous = set(result.ambiguous)
    assert set(result.links) | set(result.unmatched_skus) | ambiguous == skus
    assert len(result.links) + len(result.unmatched_skus) + len(ambiguous) == len(skus)
    linked = list(result.links.values())
    assert len(linked) == len(set(linked))  # no product holds two SKUs' stock
    named = set(linked) | {p for ps in result.ambiguous.values() for p in ps} | set(result.unmatched_products)
    assert named == {p.id for p in products}

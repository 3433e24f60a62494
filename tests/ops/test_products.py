"""The products table as operators import it: every problem at once, nothing written unless the file is clean."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from bitrix_inflow.errors import ValidationError
from bitrix_inflow.ops import products
from bitrix_inflow.store import stock
from bitrix_inflow.timing import SystemClock


def test_a_clean_file_replaces_the_table_with_either_delimiter(engine: Engine) -> None:
    rows = products.parse_csv("\ufeffSKU;Product_ID\nMUG-1;12\n\nCUP-2; 13 \n".encode())
    assert rows == {"MUG-1": 12, "CUP-2": 13}
    assert products.parse_csv(b"product_id,sku\n7,A\n") == {"A": 7}
    products.import_table(engine, rows, clock=SystemClock(), actor="cli:test")
    with engine.connect() as conn:
        assert stock.load_product_table(conn, "default") == rows


def test_every_problem_is_reported_with_its_line_and_column() -> None:
    data = b"sku,product_id\nA,1\nA,2\nB,x\n,3\nC,1\nD,0\n"
    with pytest.raises(ExceptionGroup) as caught:
        products.parse_csv(data)
    messages = [str(e) for e in caught.value.exceptions]
    assert all(isinstance(e, ValidationError) for e in caught.value.exceptions)
    assert messages == [
        "line 3: sku: A is listed twice (fix: keep one line per SKU)",
        "line 4: product_id: 'x' is not a product id (fix: write the numeric ID of the product or trade offer in the "
        "shop)",
        "line 5: sku: is empty (fix: write the warehouse SKU)",
        "line 6: product_id: product 1 is already linked to A (fix: a shop product shows the stock of one SKU: link "
        "another product)",
        "line 7: product_id: '0' is not a product id (fix: write the numeric ID of the product or trade offer in the "
        "shop)",
    ]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "is empty"),
        (b"article,id\nA,1\n", "no column sku, product_id"),
        (b"sku,product_id\n\xca\xf0\xf3\xe6\xea\xe0,1\n", "not UTF-8"),  # a Russian word in cp1251
    ],
)
def test_a_file_that_is_not_a_products_table_is_refused_naming_the_fix(data: bytes, says: str) -> None:
    with pytest.raises(ValidationError, match=says) as caught:
        products.parse_csv(data)
    assert caught.value.field == "products file" and caught.value.fix

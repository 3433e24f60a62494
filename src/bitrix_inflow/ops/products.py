"""The products table (explicit SKU → shop product links) and the unmatched report, as operators use them.

The table is a CSV file with a header naming the columns ``sku`` and ``product_id`` (comma or semicolon separated:
a spreadsheet saved in a Russian locale uses semicolons). Import is all or nothing: every problem of the file is
raised at once as an ``ExceptionGroup`` of :class:`~bitrix_inflow.errors.ValidationError`, each naming the line and
the column, so an operator fixes the file in one round.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import structlog
from sqlalchemy import Engine

from bitrix_inflow.errors import ValidationError
from bitrix_inflow.jobs.queue import DEFAULT_CONNECTION
from bitrix_inflow.store import stock
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.ops")

_FILE = "products file"
_COLUMNS = ("sku", "product_id")
MAX_SKU_LENGTH = 100  # the column's width in the state database


@dataclass(frozen=True)
class ImportedTable:
    rows: int


def parse_csv(data: bytes) -> dict[str, int]:
    """SKU → product id from a CSV file; raises an ExceptionGroup listing every problem, or a ValidationError."""
    try:
        text = data.decode("utf-8-sig")  # spreadsheets write a byte-order mark
    except UnicodeDecodeError as exc:
        raise ValidationError(
            _FILE, f"is not UTF-8 text ({exc.reason} at byte {exc.start})", "save it as UTF-8 CSV"
        ) from None
    if not text.strip():
        raise ValidationError(_FILE, "is empty", "write a header line `sku,product_id` and one line per SKU")
    first_line = text.splitlines()[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [column for column in _COLUMNS if column not in header]
    if missing:
        raise ValidationError(
            _FILE,
            f"the header line has no column {', '.join(missing)} (found: {', '.join(header) or 'nothing'})",
            "start the file with the line `sku,product_id`",
        )
    reader.fieldnames = header
    rows: dict[str, int] = {}
    owner: dict[int, str] = {}
    problems: list[ValidationError] = []
    for record in reader:
        line = reader.line_num
        sku = (record.get("sku") or "").strip()
        raw_id = (record.get("product_id") or "").strip()
        if not sku and not raw_id:
            continue  # a blank line
        if not sku:
            problems.append(ValidationError(f"line {line}: sku", "is empty", "write the warehouse SKU"))
            continue
        if len(sku) > MAX_SKU_LENGTH:
            problems.append(
                ValidationError(f"line {line}: sku", f"is longer than {MAX_SKU_LENGTH} characters")
            )
            continue
        if not raw_id.isdigit() or int(raw_id) <= 0:
            problems.append(
                ValidationError(
                    f"line {line}: product_id",
                    f"{raw_id!r} is not a product id",
                    "write the numeric ID of the product or trade offer in the shop",
                )
            )
            continue
        product_id = int(raw_id)
        if sku in rows:
            problems.append(
                ValidationError(f"line {line}: sku", f"{sku} is listed twice", "keep one line per SKU")
            )
        elif product_id in owner:
            problems.append(
                ValidationError(
                    f"line {line}: product_id",
                    f"product {product_id} is already linked to {owner[product_id]}",
                    "a shop product shows the stock of one SKU: link another product",
                )
            )
        else:
            rows[sku] = product_id
            owner[product_id] = sku
    if problems:
        raise ExceptionGroup(f"{len(problems)} problem(s) in the products file", problems)
    return rows


def import_table(
    engine: Engine, rows: dict[str, int], *, clock: Clock, actor: str, connection_id: str = DEFAULT_CONNECTION
) -> ImportedTable:
    """Replace the whole products table; the next stock sync matches with it (the table wins over the key)."""
    with engine.begin() as conn:
        stock.replace_product_table(conn, connection_id, rows, now=clock.now(), by=actor)
    log.info("ops.products_imported", rows=len(rows), actor=actor, connection_id=connection_id)
    return ImportedTable(len(rows))


def unmatched(engine: Engine, *, connection_id: str = DEFAULT_CONNECTION) -> list[stock.Unmatched]:
    """What the last stock sync could not link, on both sides, with why."""
    with engine.connect() as conn:
        return stock.load_unmatched(conn, connection_id)

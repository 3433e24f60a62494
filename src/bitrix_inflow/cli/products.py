"""``bitrix-inflow products import|unmatched``: which shop product shows which warehouse SKU's stock."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bitrix_inflow.cli.common import (
    EXIT_PROBLEM,
    ConnectionOption,
    console,
    database,
    fail,
    operator,
    refuse,
    settings,
)
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.jobs.queue import DEFAULT_CONNECTION
from bitrix_inflow.ops import products as ops
from bitrix_inflow.timing import SystemClock

app = typer.Typer(
    add_completion=False,  # a sub-command: completion is the root command's
    help="Product matching: the explicit products table and the unmatched report.",
    no_args_is_help=True,
)

_SIDES = {
    "warehouse": "warehouse SKU without a shop product",
    "shop": "shop product without a warehouse SKU",
    "ambiguous": "several shop products carry the SKU",
    "table": "a products-table row that cannot apply",
    "document": "left out of stock documents",
}


@app.command("import")
def import_(
    path: Annotated[
        Path, typer.Argument(help="CSV with the columns sku and product_id (comma or semicolon)")
    ],
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Replace the products table from a CSV file: all or nothing, every problem reported at once."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read it ({exc.strerror})", EXIT_PROBLEM)
    try:
        rows = ops.parse_csv(data)
    except* ValidationError as refused:
        refuse(refused.exceptions, str(path))
    imported = ops.import_table(
        database(settings(tenant=connection)),
        rows,
        clock=SystemClock(),
        actor=operator(),
        connection_id=connection,
    )
    console.print(f"[green]✓[/] imported {imported.rows} SKU → product links from {escape(str(path))}")


@app.command("unmatched")
def unmatched(connection: ConnectionOption = DEFAULT_CONNECTION) -> None:
    """What the last stock sync could not link, on both sides (exit 1 when there is anything)."""
    items = ops.unmatched(database(settings(tenant=connection)), connection_id=connection)
    if not items:
        console.print("[green]✓[/] every warehouse SKU and every shop product is matched")
        return
    table = Table(title=f"unmatched ({len(items)})", header_style="bold")
    for column in ("side", "SKU / product", "why"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(_SIDES.get(item.side, item.side), escape(item.item), escape(item.detail))
    console.print(table)
    raise typer.Exit(EXIT_PROBLEM)

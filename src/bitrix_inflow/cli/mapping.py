"""``bitrix-inflow mapping show|set|unset|import|export``: the status table operators change without a deployment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Concatenate, ParamSpec, TypeVar

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine

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
from bitrix_inflow.ops import mapping as ops
from bitrix_inflow.timing import SystemClock

app = typer.Typer(
    add_completion=False,  # a sub-command: completion is the root command's
    help="The Inflow → Bitrix status mapping table.",
    no_args_is_help=True,
)


def _db(connection: str) -> Engine:
    """The state database, once ``connection`` is known to be a configured tenant (a typo is named, not a
    foreign-key traceback)."""
    return database(settings(tenant=connection))


P = ParamSpec("P")
T = TypeVar("T")


def _edit(change: Callable[Concatenate[Engine, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
    """One edit on the state database; a refused one lists every problem and exits 1."""
    try:
        return change(_db(str(kwargs.get("connection_id", DEFAULT_CONNECTION))), *args, **kwargs)
    except* ValidationError as refused:
        refuse(refused.exceptions)


@app.command("show")
def show(connection: ConnectionOption = DEFAULT_CONNECTION) -> None:
    """Every Inflow status and the Bitrix status an order gets when the warehouse reports it."""
    entries = ops.show(_db(connection), connection_id=connection)
    table = Table(title=f"status mapping of connection {escape(connection)}", header_style="bold")
    table.add_column("Inflow status")
    table.add_column("Bitrix status")
    for entry in entries:
        table.add_row(entry.inflow_status, entry.bitrix_status or "[dim](unchanged)[/]")
    console.print(table)


@app.command("history")
def history(
    limit: Annotated[int, typer.Option("--limit", help="how many changes, the latest first", min=1)] = 50,
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Who changed the mapping, when, from what to what."""
    changes = ops.history(_db(connection), connection_id=connection, limit=limit)
    table = Table(title=f"status mapping changes of connection {escape(connection)}", header_style="bold")
    for column in ("when", "who", "Inflow status", "was", "now"):
        table.add_column(column)
    for change in changes:
        table.add_row(
            change.changed_at.isoformat(timespec="seconds"),
            escape(change.changed_by),
            change.inflow_status,
            change.old or "[dim](unmapped)[/]",
            change.new or "[dim](unmapped)[/]",
        )
    console.print(table if changes else "no change since the table was created")


@app.command("set")
def set_(
    inflow_status: Annotated[str, typer.Argument(help="e.g. PICKING_ERROR")],
    bitrix_status: Annotated[str, typer.Argument(help="the shop's status id, e.g. E")],
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Map one Inflow status to a Bitrix status id (takes effect for the next status change applied)."""
    entry = _edit(
        ops.set_status,
        inflow_status,
        bitrix_status,
        clock=SystemClock(),
        actor=operator(),
        connection_id=connection,
    )
    console.print(f"[green]✓[/] {entry.inflow_status} → {entry.bitrix_status}")


@app.command("unset")
def unset(
    inflow_status: Annotated[str, typer.Argument(help="e.g. PICKED")],
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Remove a mapping: orders keep their Bitrix status when the warehouse reports this one."""
    entry = _edit(
        ops.unset_status, inflow_status, clock=SystemClock(), actor=operator(), connection_id=connection
    )
    console.print(f"[green]✓[/] {entry.inflow_status} → (unchanged)")


@app.command("import")
def import_(
    path: Annotated[
        Path, typer.Argument(help="a TOML file with a [statuses] table, as `mapping export` writes")
    ],
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Replace the whole table from a file; all or nothing, every problem reported at once."""
    try:
        table = ops.parse_document(path.read_bytes())
    except OSError as exc:
        fail(f"{path}: cannot read it ({exc.strerror})", EXIT_PROBLEM)
    except ValidationError as exc:
        fail(f"{path}: {exc.problem}", EXIT_PROBLEM)
    imported = _edit(ops.import_table, table, clock=SystemClock(), actor=operator(), connection_id=connection)
    console.print(f"[green]✓[/] imported {len(imported.entries)} mappings from {escape(str(path))}")


@app.command("export")
def export(
    path: Annotated[Path, typer.Argument(help="where to write the TOML file")],
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Write the table to a TOML file (for review, version control, or another installation)."""
    exported = ops.export_document(_db(connection), connection_id=connection)
    path.write_text(exported.text, encoding="utf-8")
    console.print(f"[green]✓[/] wrote {exported.mapped} mappings to {escape(str(path))}")

"""``bitrix-inflow mapping show|set|unset|import|export``: the status table operators change without a deployment."""

from __future__ import annotations

import getpass
import tomllib
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine

from bitrix_inflow.cli.common import EXIT_PROBLEM, console, database, err_console, fail, settings
from bitrix_inflow.domain.status_mapping import INFLOW_STATUSES, check_entry, check_inflow_status, parse_table
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.jobs.queue import DEFAULT_CONNECTION
from bitrix_inflow.store import status_map
from bitrix_inflow.timing import SystemClock

app = typer.Typer(help="The Inflow → Bitrix status mapping table.", no_args_is_help=True)
ConnectionOption = Annotated[str, typer.Option("--connection", help="which shop ↔ warehouse pair")]


def _db() -> Engine:
    return database(settings())


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _report(problems: list[ValidationError]) -> None:
    err_console.print(f"[bold red]{len(problems)} problem(s)[/], nothing was changed:")
    for problem in problems:
        err_console.print(f"  [red]✗[/] {escape(str(problem))}", highlight=False)
    raise typer.Exit(EXIT_PROBLEM)


@app.command("show")
def show(connection: ConnectionOption = DEFAULT_CONNECTION) -> None:
    """Every Inflow status and the Bitrix status an order gets when the warehouse reports it."""
    with _db().connect() as conn:
        mapping = status_map.load(conn, connection)
    table = Table(title=f"status mapping of connection {escape(connection)}", header_style="bold")
    table.add_column("Inflow status")
    table.add_column("Bitrix status")
    for status in INFLOW_STATUSES:
        bitrix = mapping.bitrix_status_for(status)
        table.add_row(status, bitrix or "[dim](unchanged)[/]")
    console.print(table)


@app.command("set")
def set_(
    inflow_status: Annotated[str, typer.Argument(help="e.g. PICKING_ERROR")],
    bitrix_status: Annotated[str, typer.Argument(help="the shop's status id, e.g. E")],
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Map one Inflow status to a Bitrix status id (takes effect for the next status change applied)."""
    inflow_status, bitrix_status = inflow_status.upper(), bitrix_status.upper()
    problems = check_entry(inflow_status, bitrix_status)
    if problems:
        _report(problems)
    with _db().begin() as conn:
        status_map.set_entry(
            conn, connection, inflow_status, bitrix_status, now=SystemClock().now(), by=_who()
        )
    console.print(f"[green]✓[/] {inflow_status} → {bitrix_status}")


@app.command("unset")
def unset(
    inflow_status: Annotated[str, typer.Argument(help="e.g. PICKED")],
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Remove a mapping: orders keep their Bitrix status when the warehouse reports this one."""
    inflow_status = inflow_status.upper()
    problems = check_inflow_status(inflow_status)
    if problems:
        _report(problems)
    with _db().begin() as conn:
        status_map.set_entry(conn, connection, inflow_status, None, now=SystemClock().now(), by=_who())
    console.print(f"[green]✓[/] {inflow_status} → (unchanged)")


@app.command("import")
def import_(
    path: Annotated[
        Path, typer.Argument(help="a TOML file with a [statuses] table, as `mapping export` writes")
    ],
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Replace the whole table from a file; all or nothing, every problem reported at once."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"{path}: cannot read it ({exc.strerror})", EXIT_PROBLEM)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        fail(f"{path}: not valid TOML ({exc})", EXIT_PROBLEM)
    table = data.get("statuses")
    unknown = sorted(set(data) - {"statuses"})
    if not isinstance(table, dict) or unknown:
        fail(
            f'{path}: expected exactly one [statuses] table (Inflow status = "Bitrix status")'
            + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
            EXIT_PROBLEM,
        )
    entries, problems = parse_table(table)
    if problems:
        _report(problems)
    with _db().begin() as conn:
        status_map.replace(conn, connection, entries, now=SystemClock().now(), by=_who())
    console.print(f"[green]✓[/] imported {len(entries)} mappings from {escape(str(path))}")


@app.command("export")
def export(
    path: Annotated[Path, typer.Argument(help="where to write the TOML file")],
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Write the table to a TOML file (for review, version control, or another installation)."""
    with _db().connect() as conn:
        mapping = status_map.load(conn, connection)
    lines = [
        "# bitrix-inflow status mapping: Inflow status = Bitrix status id (b_sale_status.ID).",
        "# A status left out keeps the order's Bitrix status unchanged. Load with `bitrix-inflow mapping import`.",
        "[statuses]",
    ]
    for status in INFLOW_STATUSES:
        bitrix = mapping.bitrix_status_for(status)
        lines.append(f'{status} = "{bitrix}"' if bitrix else f"# {status} = (unchanged)")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    console.print(f"[green]✓[/] wrote {len(mapping.entries)} mappings to {escape(str(path))}")

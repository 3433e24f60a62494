"""``bitrix-inflow marking find|export``: the marking ledger, every shipped marked unit and what became of it."""

from __future__ import annotations

import sys
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
    settings,
)
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.jobs.queue import DEFAULT_CONNECTION
from bitrix_inflow.ops import marking as ops
from bitrix_inflow.timing import SystemClock

app = typer.Typer(
    add_completion=False,
    help="The marking ledger: Honest Sign codes shipped, where each unit went, and returns.",
    no_args_is_help=True,
)
Since = Annotated[str | None, typer.Option("--since", help="shipped at or after (ISO 8601 date or time)")]
Until = Annotated[str | None, typer.Option("--until", help="shipped before (ISO 8601 date or time)")]
OrderId = Annotated[int | None, typer.Option("--order", help="the shop's order id")]
Gtin = Annotated[str | None, typer.Option("--gtin", help="the product's GTIN (8 to 14 digits)")]
Code = Annotated[
    str | None, typer.Option("--code", help="a unit's code as scanned, or its identity (01…21…)")
]
Sscc = Annotated[str | None, typer.Option("--sscc", help="a package's SSCC")]


def _chosen(**given: object) -> ops.Filters:
    try:
        return ops.filters(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        fail(str(exc), EXIT_PROBLEM)


@app.command("find")
def find(
    *,
    code: Code = None,
    sscc: Sscc = None,
    order: OrderId = None,
    gtin: Gtin = None,
    since: Since = None,
    until: Until = None,
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Units by code, package, order, GTIN or date (exit 1 when none is found)."""
    chosen = _chosen(since=since, until=until, order_id=order, gtin=gtin, code=code, sscc=sscc)
    found = ops.units(database(settings(tenant=connection)), connection, chosen)
    if not found:
        console.print("no units found")
        raise typer.Exit(EXIT_PROBLEM)
    table = Table(title=f"units ({len(found)})", header_style="bold")
    for column in ("shipped", "state", "order", "shipment", "picking order", "sscc", "identity"):
        table.add_column(column, overflow="fold")
    for unit in found:
        table.add_row(
            unit.created_at.isoformat(timespec="seconds") if unit.created_at else "",
            unit.state,
            str(unit.bitrix_order_id),
            str(unit.shipment_id or ""),
            escape(unit.picking_ref),
            unit.sscc or "",
            escape(unit.identity),
        )
    console.print(table)


@app.command("reject-receipt")
def reject_receipt(
    *,
    code: Annotated[list[str], typer.Option("--code", help="a rejected unit's code as scanned (repeatable)")],
    reason: Annotated[str, typer.Option("--reason", help="what the fiscal data operator answered")],
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Record that the fiscal data operator refused a receipt's codes: the units become receipt_rejected and the
    manager is told (an incident per order)."""
    try:
        done = ops.reject_receipt(
            database(settings(tenant=connection)),
            connection,
            code,
            reason=reason,
            actor=operator(),
            now=SystemClock().now(),
        )
    except ValidationError as exc:
        fail(str(exc), EXIT_PROBLEM)
    console.print(
        f"[green]✓[/] {len(done.units)} unit(s) now receipt_rejected; incident(s) opened: "
        + (", ".join(str(i) for i in done.incidents) or "none new")
    )


@app.command("export")
def export(
    *,
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write; default: stdout")
    ] = None,
    since: Since = None,
    until: Until = None,
    order: OrderId = None,
    gtin: Gtin = None,
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """The ledger as CSV or JSON, oldest first, for an audit or a fiscal provider (full codes, GS kept)."""
    if fmt not in ops.FORMATS:
        fail(f"--format: {fmt!r} is not a format; use csv or json", EXIT_PROBLEM)
    chosen = _chosen(since=since, until=until, order_id=order, gtin=gtin)
    found = ops.units(database(settings(tenant=connection)), connection, chosen)
    if output is None:
        ops.write(found, fmt, sys.stdout)
        return
    try:
        with output.open("w", encoding="utf-8", newline="") as out:
            ops.write(found, fmt, out)
    except OSError as exc:
        fail(f"--output: cannot write {output}: {exc.strerror}", EXIT_PROBLEM)
    console.print(f"[green]✓[/] {len(found)} unit(s) written to {escape(str(output))}")

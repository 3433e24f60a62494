"""``bitrix-inflow sync stock|orders|statuses``: run one synchronisation flow now, in this process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bitrix_inflow.cli import orders
from bitrix_inflow.cli.common import EXIT_PROBLEM, ConnectionOption, console, database, fail, settings
from bitrix_inflow.errors import IntegrationError, ValidationError
from bitrix_inflow.jobs.queue import DEFAULT_CONNECTION
from bitrix_inflow.sync.stock import jobs as stock_jobs
from bitrix_inflow.sync.stock.flow import Progress as ProgressCallback
from bitrix_inflow.sync.stock.flow import StockReport, sync_stock
from bitrix_inflow.timing import SystemClock

app = typer.Typer(
    add_completion=False,  # a sub-command: completion is the root command's
    help="Run one synchronisation flow now.",
    no_args_is_help=True,
)
app.command("orders")(orders.sync_orders)
app.command("statuses")(orders.sync_statuses)

_STAGES = {"read": "reading the warehouse", "write": "writing to the shop"}


@contextmanager
def _progress() -> Iterator[ProgressCallback]:
    """A progress bar on a terminal; nothing in a pipe or a log file."""
    if not console.is_terminal:
        yield lambda stage, done, total: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(_STAGES["read"], total=None)

        def update(stage: str, done: int, total: int) -> None:
            bar.update(task, description=_STAGES.get(stage, stage), completed=done, total=total or None)

        yield update


@app.command("stock")
def stock(
    full: Annotated[
        bool, typer.Option("--full", help="read everything and match again (heals drift)")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the plan; write nothing anywhere")
    ] = False,
    sku: Annotated[
        list[str] | None, typer.Option("--sku", help="only these SKUs (repeat the option)")
    ] = None,
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Push what the warehouse can sell to the shop: only what changed, in batches of 50 or stock documents."""
    loaded = settings(tenant=connection)
    engine = database(loaded)
    try:
        with stock_jobs.open_sides(loaded) as (wms, shop), _progress() as progress:
            report = sync_stock(
                engine,
                wms,
                shop,
                stock_jobs.options_from(loaded),
                clock=SystemClock(),
                full=full,
                skus=set(sku) if sku else None,
                dry_run=dry_run,
                connection_id=connection,
                progress=progress,
            )
    except ValidationError as exc:
        fail(str(exc))
    except IntegrationError as exc:
        fail(f"the stock sync stopped: {exc}", EXIT_PROBLEM)
    if dry_run:
        _show_plan(report)
    show_summary(report, dry_run=dry_run)
    if report.errors:
        raise typer.Exit(EXIT_PROBLEM)


def _show_plan(report: StockReport) -> None:
    table = Table(title=f"plan ({report.mode} mode): nothing was written", header_style="bold")
    for column in ("SKU", "product", "store", "old", "new", "why"):
        table.add_column(column, overflow="fold")
    for write in report.plan:
        table.add_row(
            escape(", ".join(write.skus)),
            str(write.product_id),
            str(write.store_id) if write.store_id else "-",
            "-" if write.before is None else str(write.before),
            str(write.after),
            write.why,
        )
    console.print(table)


def summary_table(report: StockReport, *, title: str | None = None, dry_run: bool = False) -> Table:
    """What a run did, as `sync stock` and the demo show it."""
    table = Table(
        title=title or f"stock sync ({report.kind}, {report.mode} mode)",
        header_style="bold",
        show_header=False,
    )
    table.add_column("what")
    table.add_column("how many", justify="right")
    for label, value in (
        ("rows read from the warehouse", report.read),
        ("SKUs matched to shop products", report.matched),
        ("quantities that changed", report.changed),
        ("written" + (" (dry run: none)" if dry_run else ""), report.written),
        ("unmatched (bitrix-inflow products unmatched)", report.unmatched),
        ("errors", len(report.errors)),
    ):
        table.add_row(label, str(value))
    if report.documents:
        table.add_row("stock documents conducted", ", ".join(map(str, report.documents)))
    return table


def show_summary(report: StockReport, *, title: str | None = None, dry_run: bool = False) -> None:
    console.print(summary_table(report, title=title, dry_run=dry_run))
    for note in report.notes:
        console.print(f"  [yellow]![/] {escape(note)}", highlight=False)
    for error in report.errors[:20]:
        console.print(f"  [red]✗[/] {escape(error)}", highlight=False)

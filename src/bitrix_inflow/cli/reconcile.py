"""``bitrix-inflow reconcile [--repair]``: compare the shop, the warehouse and the service's records now.

Without ``--repair`` nothing changes anywhere: the table says what differs and what would be done. With it, what is
safe is repaired (a missing order's forwarding and a status's re-applying run here and now, the stock is written)
and the rest becomes incidents, as the scheduled run does. Exit 1 when anything was found.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bitrix_inflow.cli.common import EXIT_PROBLEM, ConnectionOption, console, database, fail, settings
from bitrix_inflow.cli.orders import round_errors, run_jobs
from bitrix_inflow.jobs.queue import DEFAULT_CONNECTION
from bitrix_inflow.sync.orders.notice import FORWARD_KIND
from bitrix_inflow.sync.orders.statuses import APPLY_KIND
from bitrix_inflow.sync.reconcile.jobs import run_once
from bitrix_inflow.sync.stock import jobs as stock_jobs


def reconcile(
    repair: Annotated[
        bool, typer.Option("--repair", help="repair what is safe, open incidents for the rest")
    ] = False,
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Compare the shop, the warehouse and the service's records; repair what is safe with --repair."""
    loaded = settings(tenant=connection)
    if loaded.orders.go_live is None:
        fail("reconciliation needs [orders] go_live (orders created before it belong to the old process)")
    engine = database(loaded)
    with round_errors("reconcile"):
        report = run_once(loaded, engine, repair=repair, connection_id=connection)
        ran = (
            run_jobs(loaded, engine, connection, FORWARD_KIND, APPLY_KIND, stock_jobs.SYNC_KIND)
            if repair
            else 0
        )
    if report.findings:
        title = "repaired what is safe; incidents for the rest" if repair else "found: nothing was changed"
        table = Table(title=title, header_style="bold")
        for column in ("check", "about", "what", "action"):
            table.add_column(column, overflow="fold")
        for finding in report.findings:
            table.add_row(finding.check, escape(finding.subject), escape(finding.what), finding.action)
        console.print(table)
    for note in report.notes:
        console.print(f"[yellow]![/] {escape(note)}")
    if ran:
        console.print(f"{ran} job(s) ran: forwarding, re-applied statuses, the stock")
    if not report.findings:
        console.print("[green]✓[/] the shop, the warehouse and the service agree")
        return
    raise typer.Exit(EXIT_PROBLEM)

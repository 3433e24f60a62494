"""``bitrix-inflow jobs list|retry|discard``: the operator's view of the job queue."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine

from bitrix_inflow.cli.common import EXIT_PROBLEM, console, database, err_console, operator, settings
from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.ops import jobs as ops
from bitrix_inflow.timing import SystemClock

app = typer.Typer(
    add_completion=False,  # a sub-command: completion is the root command's
    help="Inspect and act on the job queue.",
    no_args_is_help=True,
)
MAX_JOB_ID = 2**63 - 1  # the id column is a 64-bit integer; a bigger number would crash the driver, not miss


def _db() -> Engine:
    return database(settings())


# The queue is the deployment's: without it, every tenant's jobs (each listed with its tenant).
OnlyConnection = Annotated[
    str | None,
    typer.Option("--connection", help="only this tenant's jobs (default: every tenant's)"),
]


@app.command("list")
def list_(
    status: Annotated[
        list[JobStatus] | None, typer.Option("--status", "-s", help="repeat for several")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="only jobs of this kind")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    connection: OnlyConnection = None,
) -> None:
    """List jobs, newest first, with counts per status."""
    listing = ops.list_jobs(_db(), statuses=status, kind=kind, limit=limit, connection_id=connection)
    console.print("  ".join(f"{s.value}: [bold]{n}[/]" for s, n in listing.counts.items()))
    table = Table(show_header=True, header_style="bold")
    for column in (
        "id",
        "tenant",
        "kind",
        "status",
        "attempts",
        "lock key",
        "run after / finished",
        "last error",
    ):
        table.add_column(column, overflow="fold")
    for job in listing.jobs:
        when = job.finished_at or job.run_after
        table.add_row(
            str(job.id),
            job.connection_id,
            job.kind,
            job.status.value,
            f"{job.attempts}/{job.max_attempts}",
            escape(job.lock_key or ""),
            when.strftime("%Y-%m-%d %H:%M:%S"),
            escape(job.last_error.splitlines()[0][:120]) if job.last_error else "",
        )
    console.print(table)


def _present(results: list[ops.JobActionResult]) -> None:
    for result in results:
        if result.job is not None:
            job = result.job
            console.print(f"[green]✓[/] job {job.id} ({job.kind}) is now {job.status.value}")
        else:
            err_console.print(f"[red]✗[/] {escape(str(result.refused))}")
    if not all(result.ok for result in results):
        raise typer.Exit(EXIT_PROBLEM)


@app.command("retry")
def retry(
    job_ids: Annotated[
        list[int], typer.Argument(help="ids of dead or cancelled jobs", min=1, max=MAX_JOB_ID)
    ],
    connection: OnlyConnection = None,
) -> None:
    """Put dead or cancelled jobs back in the queue with a fresh attempt budget."""
    _present(ops.retry(_db(), job_ids, clock=SystemClock(), actor=operator(), connection_id=connection))


@app.command("discard")
def discard(
    job_ids: Annotated[list[int], typer.Argument(help="ids of queued or dead jobs", min=1, max=MAX_JOB_ID)],
    connection: OnlyConnection = None,
) -> None:
    """Cancel queued or dead jobs so they never run."""
    _present(ops.discard(_db(), job_ids, clock=SystemClock(), actor=operator(), connection_id=connection))

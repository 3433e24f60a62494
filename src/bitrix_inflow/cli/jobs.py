"""``bitrix-inflow jobs list|retry|discard``: the operator's view of the job queue."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine

from bitrix_inflow.cli.common import EXIT_PROBLEM, console, database, err_console, settings
from bitrix_inflow.errors import JobStateError
from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.timing import SystemClock

app = typer.Typer(help="Inspect and act on the job queue.", no_args_is_help=True)
MAX_JOB_ID = 2**63 - 1  # the id column is a 64-bit integer; a bigger number would crash the driver, not miss


def _db() -> Engine:
    return database(settings())


@app.command("list")
def list_(
    status: Annotated[
        list[JobStatus] | None, typer.Option("--status", "-s", help="repeat for several")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="only jobs of this kind")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """List jobs, newest first, with counts per status."""
    db = _db()
    with db.connect() as conn:
        counts = queue.count_by_status(conn)
        rows = queue.list_jobs(conn, statuses=status, kind=kind, limit=limit)
    console.print("  ".join(f"{s.value}: [bold]{n}[/]" for s, n in counts.items()))
    table = Table(show_header=True, header_style="bold")
    for column in ("id", "kind", "status", "attempts", "lock key", "run after / finished", "last error"):
        table.add_column(column, overflow="fold")
    for job in rows:
        when = job.finished_at or job.run_after
        table.add_row(
            str(job.id),
            job.kind,
            job.status.value,
            f"{job.attempts}/{job.max_attempts}",
            escape(job.lock_key or ""),
            when.strftime("%Y-%m-%d %H:%M:%S"),
            escape(job.last_error.splitlines()[0][:120]) if job.last_error else "",
        )
    console.print(table)


def _act(job_ids: list[int], action: str) -> None:
    db = _db()
    failed = 0
    for job_id in job_ids:
        try:
            if action == "retry":
                job = queue.retry_now(db, job_id, now=SystemClock().now())
            else:
                job = queue.discard(db, job_id, now=SystemClock().now())
        except JobStateError as exc:
            failed += 1
            err_console.print(f"[red]✗[/] {escape(str(exc))}")
        else:
            console.print(f"[green]✓[/] job {job.id} ({job.kind}) is now {job.status.value}")
    if failed:
        raise typer.Exit(EXIT_PROBLEM)


@app.command("retry")
def retry(
    job_ids: Annotated[
        list[int], typer.Argument(help="ids of dead or cancelled jobs", min=1, max=MAX_JOB_ID)
    ],
) -> None:
    """Put dead or cancelled jobs back in the queue with a fresh attempt budget."""
    _act(job_ids, "retry")


@app.command("discard")
def discard(
    job_ids: Annotated[list[int], typer.Argument(help="ids of queued or dead jobs", min=1, max=MAX_JOB_ID)],
) -> None:
    """Cancel queued or dead jobs so they never run."""
    _act(job_ids, "discard")

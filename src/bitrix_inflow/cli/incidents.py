"""``bitrix-inflow incidents list|show|resolve``: what a person must decide, and the decision."""

from __future__ import annotations

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
from bitrix_inflow.ops import incidents as ops
from bitrix_inflow.timing import SystemClock

app = typer.Typer(
    add_completion=False,  # a sub-command: completion is the root command's
    help="Incidents: what a person must decide (picking errors, refused statuses, edits after picking).",
    no_args_is_help=True,
)


@app.command("list")
def list_(
    everything: Annotated[bool, typer.Option("--all", help="resolved ones too")] = False,
    kind: Annotated[list[str] | None, typer.Option("--kind", help="only this kind (repeatable)")] = None,
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """The inbox, newest first (exit 1 when something is open)."""
    found = ops.inbox(
        database(settings(tenant=connection)),
        connection_id=connection,
        everything=everything,
        kinds=tuple(kind or ()),
    )
    if not found:
        console.print("[green]✓[/] no incidents" + ("" if everything else " open"))
        return
    table = Table(title=f"incidents ({len(found)})", header_style="bold")
    for column in ("id", "since", "order", "kind", "about", "state", "manager told", "ways out"):
        table.add_column(column, overflow="fold")
    for incident in found:
        table.add_row(
            str(incident.id),
            incident.created_at.isoformat(timespec="seconds"),
            str(incident.order_id),
            incident.kind,
            escape(incident.subject),
            incident.state,
            incident.notice_state
            + (f" ({incident.notice_kind} {incident.notice_ref})" if incident.notice_ref else ""),
            ", ".join(incident.ways_out),
        )
    console.print(table)
    if any(i.state == "open" for i in found):
        raise typer.Exit(EXIT_PROBLEM)


@app.command("show")
def show(
    incident_id: Annotated[int, typer.Argument(help="the incident's id (incidents list)", min=1)],
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """One incident: what happened, its ways out, whether the manager was told, and who did what when."""
    try:
        shown = ops.show(database(settings(tenant=connection)), incident_id, connection_id=connection)
    except ValidationError as exc:
        fail(str(exc), EXIT_PROBLEM)
    incident = shown.incident
    console.print(
        f"incident {incident.id}: [bold]{incident.kind}[/] of order {incident.order_id} "
        f"({escape(incident.subject)}) — {incident.state}"
    )
    for key, value in incident.detail.items():
        console.print(f"  {escape(str(key))}: {escape(str(value))}")
    console.print(f"  ways out: {', '.join(incident.ways_out)}")
    told = incident.notice_state + (
        f" by {incident.notice_kind} {incident.notice_ref}" if incident.notice_ref else ""
    )
    console.print(f"  manager told: {told}")
    if incident.resolution:
        console.print(f"  resolution: {escape(str(dict(incident.resolution)))}")
    table = Table(title="trail", header_style="bold")
    for column in ("at", "who", "what", "detail"):
        table.add_column(column, overflow="fold")
    for entry in shown.trail:
        table.add_row(
            entry.at.isoformat(timespec="seconds"),
            escape(entry.actor),
            entry.action,
            escape(str(dict(entry.detail))),
        )
    console.print(table)


@app.command("resolve")
def resolve(
    incident_id: Annotated[int, typer.Argument(help="the incident's id (incidents list)", min=1)],
    way_out: Annotated[str, typer.Argument(help="one of the incident's ways out (incidents show ID)")],
    sku: Annotated[
        str | None,
        typer.Option("--sku", help="substitute: the warehouse SKU to put in the failed one's place"),
    ] = None,
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Choose a way out; it is recorded with who chose it."""
    try:
        done = ops.resolve(
            database(settings(tenant=connection)),
            incident_id,
            way_out,
            actor=operator(),
            clock=SystemClock(),
            sku=sku,
            connection_id=connection,
        )
    except ValidationError as exc:
        fail(str(exc), EXIT_PROBLEM)
    if done.state == "resolving":
        console.print(
            f"[green]✓[/] incident {done.id}: {way_out} chosen; the service carries it out "
            f"(see bitrix-inflow incidents show {done.id})"
        )
        return
    console.print(f"[green]✓[/] incident {done.id} resolved: {way_out}")

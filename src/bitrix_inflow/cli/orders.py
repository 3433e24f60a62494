"""``bitrix-inflow sync orders|statuses`` (one round of the orders flow, now) and ``orders show ORDER_ID``.

A round goes through the job queue like ``serve`` does (the poll queues one forwarding job per order, in the
transaction that moves its watermark; a worker in this process then runs just those jobs), so a round cut short
loses nothing: the jobs are still there for the next round or for ``serve``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine

from bitrix_inflow.cli.common import EXIT_PROBLEM, ConnectionOption, console, database, fail, settings
from bitrix_inflow.config import Settings
from bitrix_inflow.errors import ConfigError, IntegrationError, TransientError, ValidationError
from bitrix_inflow.jobs.queue import DEFAULT_CONNECTION
from bitrix_inflow.jobs.worker import Worker
from bitrix_inflow.ops import orders as order_ops
from bitrix_inflow.service import blueprints, build_registry, worker_settings
from bitrix_inflow.store import orders as store
from bitrix_inflow.store import status_map
from bitrix_inflow.sync.orders import jobs as orders_jobs
from bitrix_inflow.sync.orders.forward import forward_order
from bitrix_inflow.sync.orders.notice import FORWARD_KIND, load_watermark, notice_orders
from bitrix_inflow.sync.orders.statuses import APPLY_KIND, read_changes
from bitrix_inflow.timing import SystemClock

app = typer.Typer(
    add_completion=False,  # a sub-command: completion is the root command's
    help="Orders: what happened to one, and why.",
    no_args_is_help=True,
)


@contextmanager
def round_errors(what: str) -> Iterator[None]:
    """A round's errors as the command says them: bad input or configuration cannot start it (exit 2); anything
    else the two systems answered stops it (exit 1), its jobs kept for the next round."""
    try:
        yield
    except (ValidationError, ConfigError) as exc:
        fail(str(exc))
    except IntegrationError as exc:
        fail(f"the {what} round stopped: {exc}", EXIT_PROBLEM)


def run_jobs(loaded: Settings, engine: Engine, connection: str, *kinds: str) -> int:
    """Run ``connection``'s waiting jobs of ``kinds`` in this process, like a `serve` worker, until none is left.
    Only that tenant's: the round holds that tenant's settings alone, and another tenant's job run with them would
    read one shop and write to another's warehouse."""

    def own(connection_id: str) -> Settings:
        if connection_id != connection:  # (the claim below takes no other tenant's job: a guard, not a path)
            raise TransientError(
                f"a round of tenant {connection!r} was handed tenant {connection_id!r}'s job"
            )
        return loaded

    registry = build_registry(loaded, blueprints(), current=own).only(set(kinds))
    # The configured lease: a job left running by a killed round is handed back once it expires.
    worker = Worker(engine, registry, settings=worker_settings(loaded), connections={connection})
    return worker.run(threading.Event(), exit_when_idle=True)


def sync_orders(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the plan; send and write nothing")
    ] = False,
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """Send new shop orders to the warehouse as picking orders (one round: notice, plan, forward)."""
    loaded = settings(tenant=connection)
    if loaded.orders.go_live is None:
        fail("orders are not forwarded until [orders] go_live is set (orders created before it never go)")
    engine = database(loaded)
    clock = SystemClock()
    with round_errors("orders"):
        if dry_run:
            _dry_run(loaded, engine, connection)
            return
        with orders_jobs.open_sides(loaded) as (_, shop):
            noticed = notice_orders(engine, shop, clock=clock, connection_id=connection)
        ran = run_jobs(loaded, engine, connection, FORWARD_KIND)
    console.print(
        f"{noticed.seen} order(s) new or changed in the shop, {len(noticed.queued)} to forward, "
        f"{len(noticed.left_alone)} forwarded before; {ran} forwarding job(s) ran"
    )
    _outcomes(engine, connection, noticed.queued)


def _dry_run(loaded: Settings, engine: Engine, connection: str) -> None:
    with engine.connect() as conn:
        since = load_watermark(conn, connection)
        mapping = status_map.load(conn, connection)
    options = orders_jobs.options_from(loaded, mapping)
    table = Table(title="plan: nothing was sent or written", header_style="bold")
    for column in ("order", "outcome", "part", "zone", "carrier", "lines / why"):
        table.add_column(column, overflow="fold")
    with orders_jobs.open_sides(loaded) as (wms, shop):
        changes = shop.changed_orders(since, max_pages=20)
        for order_id in changes.ids:
            report = forward_order(
                engine,
                wms,
                shop,
                options,
                order_id,
                clock=SystemClock(),
                connection_id=connection,
                dry_run=True,
            )
            if not report.plan:
                table.add_row(str(order_id), report.outcome, "", "", "", escape("; ".join(report.reasons)))
            for part in report.plan:
                lines = ", ".join(f"{ln.sku} x{ln.qty}" for ln in part.lines)
                table.add_row(
                    str(order_id),
                    report.outcome,
                    str(part.part_no),
                    part.zone or "any",
                    part.carrier,
                    escape(lines),
                )
    console.print(table)


def _outcomes(engine: Engine, connection: str, order_ids: list[int]) -> None:
    if not order_ids:
        return
    table = Table(header_style="bold")
    for column in ("order", "state", "picking orders", "why"):
        table.add_column(column, overflow="fold")
    with engine.connect() as conn:
        for order_id in order_ids:
            binding = store.load_binding(conn, connection, order_id)
            parts = store.parts_of(conn, connection, order_id)
            refs = ", ".join(f"{p.external_ref} ({p.state})" for p in parts)
            state = binding.state if binding else "?"
            table.add_row(str(order_id), state, escape(refs), escape(binding.reason or "") if binding else "")
    console.print(table)


def sync_statuses(connection: ConnectionOption = DEFAULT_CONNECTION) -> None:
    """Apply warehouse status changes to shop orders (one round: read the changes feed, apply per order)."""
    loaded = settings(tenant=connection)
    engine = database(loaded)
    with round_errors("statuses"):
        with orders_jobs.open_sides(loaded) as (wms, _):
            report = read_changes(engine, wms, clock=SystemClock(), connection_id=connection)
        ran = run_jobs(loaded, engine, connection, APPLY_KIND)
    console.print(
        f"{report.pages} feed page(s): {report.updated} picking order(s) moved, {report.stale} older or repeated, "
        f"{report.unknown} not the service's; {ran} order(s) brought up to date"
    )


@app.command("show")
def show(
    order_id: Annotated[int, typer.Argument(help="the Bitrix order id", min=1)],
    connection: ConnectionOption = DEFAULT_CONNECTION,
) -> None:
    """An order's binding, its picking orders and its timeline."""
    seen = order_ops.view(database(settings(tenant=connection)), connection, order_id)
    if seen is None:
        fail(f"order {order_id} has not been seen by the service (is it older than [orders] go_live?)")
    binding, parts, events, conflicts, order_jobs = (
        seen.binding,
        seen.parts,
        seen.timeline,
        seen.incidents,
        seen.jobs,
    )
    console.print(
        f"order {order_id} ({escape(binding.account_number or '')}): [bold]{binding.state}[/]"
        + (f" — {escape(binding.reason)}" if binding.reason else "")
        + f"; plan generation {binding.generation}; status applied: {binding.applied_status or '-'}"
    )
    table = Table(title="picking orders", header_style="bold")
    for column in ("ref", "state", "zone", "carrier", "WMS id", "WMS status", "tracking", "lines"):
        table.add_column(column, overflow="fold")
    for part in parts:
        lines = ", ".join(f"{ln.sku} x{ln.qty}" for ln in part.lines)
        table.add_row(
            part.external_ref,
            part.state,
            part.zone or "any",
            part.carrier,
            part.wms_order_id or "-",
            f"{part.wms_status or '-'} (v{part.wms_version or 0})",
            part.tracking_number or "-",
            escape(lines),
        )
    console.print(table)
    if conflicts:
        found = Table(
            title="incidents (a person decides: bitrix-inflow incidents show ID)", header_style="bold"
        )
        for column in ("id", "since", "kind", "about", "state", "detail"):
            found.add_column(column, overflow="fold")
        for conflict in conflicts:
            found.add_row(
                str(conflict.id),
                conflict.created_at.isoformat(timespec="seconds"),
                conflict.kind,
                escape(conflict.subject),
                conflict.state,
                escape(str(conflict.detail)),
            )
        console.print(found)
    if order_jobs:
        ran = Table(title="jobs", header_style="bold")
        for column in ("id", "kind", "status", "attempts", "last error"):
            ran.add_column(column, overflow="fold")
        for job in order_jobs:
            ran.add_row(
                str(job.id), job.kind, job.status.value, str(job.attempts), escape(job.last_error or "-")
            )
        console.print(ran)
    timeline = Table(title="timeline", header_style="bold")
    for column in ("at", "from", "what", "detail"):
        timeline.add_column(column, overflow="fold")
    for at, source, kind, detail in events:
        timeline.add_row(at.isoformat(timespec="seconds"), source, kind, escape(str(detail)))
    console.print(timeline)

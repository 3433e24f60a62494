"""``bitrix-inflow db upgrade|status``."""

from __future__ import annotations

import typer

from bitrix_inflow.cli.common import console, database, deployment, settings
from bitrix_inflow.store import connections, schema
from bitrix_inflow.timing import SystemClock

app = typer.Typer(
    add_completion=False,  # a sub-command: completion is the root command's
    help="Manage the state database.",
    no_args_is_help=True,
)


@app.command("upgrade")
def upgrade() -> None:
    """Create or migrate the database schema to this version, with a row for each configured tenant (so its mapping
    can be loaded before the service first starts)."""
    loaded, tenants = deployment()
    db = database(loaded, require_current=False)
    before = schema.current_revision(db)
    schema.upgrade(db)
    with db.begin() as conn:
        for tenant in tenants:
            connections.ensure(conn, tenant, now=SystemClock().now())
    after = schema.current_revision(db)
    where = db.url.render_as_string(hide_password=True)
    if before == after:
        console.print(f"database {where} already at schema [bold]{after}[/]")
    else:
        console.print(f"database {where} upgraded: {before or '(empty)'} → [bold]{after}[/]")


@app.command("status")
def status() -> None:
    """Show the schema version of the database and the one this version needs."""
    db = database(settings(), require_current=False)
    current, head = schema.current_revision(db), schema.head_revision()
    console.print(f"database schema: {current or '(empty)'}; this version needs: {head}")
    if current != head:
        raise typer.Exit(1)

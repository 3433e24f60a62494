"""``bitrix-inflow config check``."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url

from bitrix_inflow.cli.common import EXIT_PROBLEM, console, err_console, state
from bitrix_inflow.config import load_settings
from bitrix_inflow.config.tenants import load_tenants
from bitrix_inflow.errors import ConfigError
from bitrix_inflow.store.engine import normalise_url

app = typer.Typer(
    add_completion=False,  # a sub-command: completion is the root command's
    help="Inspect the configuration.",
    no_args_is_help=True,
)


@app.command("check")
def check() -> None:
    """Validate the TOML file and the environment; print every problem at once, each with its key."""
    try:
        settings = load_settings(state.config_path)
        tenants = load_tenants(settings, state.config_path)
    except ConfigError as exc:
        err_console.print(
            f"[bold red]{len(exc.problems)} problem(s)[/] in the configuration ({escape(exc.source)}):"
        )
        for problem in exc.problems:
            err_console.print(
                f"  [red]✗[/] [bold]{escape(problem.key)}[/]: {escape(problem.message)}", highlight=False
            )
        raise typer.Exit(EXIT_PROBLEM) from None
    table = Table(title="bitrix-inflow configuration: OK", show_header=True)
    table.add_column("key")
    table.add_column("value")
    table.add_row(
        "database.url", make_url(normalise_url(settings.database.url)).render_as_string(hide_password=True)
    )
    table.add_row("tenants", ", ".join(tenants))
    table.add_row("jobs.workers", str(settings.jobs.workers))
    table.add_row("jobs.lease_seconds", str(settings.jobs.lease_seconds))
    for name, value in settings.schedules.model_dump().items():
        table.add_row(f"schedules.{name}", str(value))
    if settings.inflow is None:
        table.add_row("inflow", "(embedded sandbox)")
    else:
        inflow = settings.inflow
        table.add_row(
            "inflow", f"{inflow.base_url} over {inflow.transport}, {inflow.auth}, profile {inflow.profile}"
        )
    if settings.bitrix is None:
        table.add_row("bitrix", "(embedded sandbox)")
    else:
        way_in = "incoming webhook" if settings.bitrix.webhook_url else "OAuth application"
        table.add_row("bitrix", f"{way_in}, profile {settings.bitrix.profile}")
    console.print(table)

"""What every command needs: the settings, the database, a console, and uniform failure exits."""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine

from bitrix_inflow import log
from bitrix_inflow.config import Settings, load_settings
from bitrix_inflow.config.tenants import load_tenants, secret_values
from bitrix_inflow.errors import ConfigError, PermanentError
from bitrix_inflow.store import schema
from bitrix_inflow.store.engine import make_engine

console = Console()
err_console = Console(stderr=True)

EXIT_PROBLEM = 1  # the command ran and found problems (config check, failed jobs)
EXIT_CANNOT_START = 2  # configuration or schema prevents running


@dataclass
class CliState:
    config_path: Path | None = None


state = CliState()


def fail(message: str, code: int = EXIT_CANNOT_START) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def refuse(problems: Sequence[Exception], where: str = "") -> NoReturn:
    """Every problem of a refused edit, at once, and exit 1: nothing was changed."""
    place = f" in {escape(where)}" if where else ""
    err_console.print(f"[bold red]{len(problems)} problem(s)[/]{place}, nothing was changed:")
    for problem in problems:
        err_console.print(f"  [red]✗[/] {escape(str(problem))}", highlight=False)
    raise typer.Exit(EXIT_PROBLEM)


ConnectionOption = Annotated[
    str,
    typer.Option(
        "--connection",
        help="which shop ↔ warehouse pair (tenant): 'default' is the main file's, the others the [tenants] folder's",
    ),
]


def settings(audience: log.Audience = log.COMMAND, *, tenant: str | None = None) -> Settings:
    """The configuration (``tenant``'s when given: its systems and rules, the deployment's database), with logging
    set up for who reads this command's log lines and every tenant's secrets blanked in them."""
    loaded, pairs = deployment(audience)
    if tenant is None:
        return loaded
    if tenant not in pairs:
        known = ", ".join(pairs) or "none"
        fail(f"--connection {tenant}: no such tenant; the configured ones are: {known}")
    return pairs[tenant]


def deployment(audience: log.Audience = log.COMMAND) -> tuple[Settings, dict[str, Settings]]:
    """The main file's settings and every tenant's, by id (a clear exit on any problem in any file)."""
    try:
        loaded = load_settings(state.config_path)
        pairs = load_tenants(loaded, state.config_path)
    except ConfigError as exc:
        fail(str(exc))
    log.configure(
        level=loaded.log.level, fmt=loaded.log.format, secrets=secret_values(pairs), audience=audience
    )
    return loaded, pairs


def engine(loaded: Settings) -> Engine:
    try:
        return make_engine(loaded.database.url)
    except Exception as exc:
        fail(f"database.url: cannot open the database: {exc}")


def database(loaded: Settings, *, require_current: bool = True) -> Engine:
    """The state database, checked reachable (and, unless migrating, at this version's schema) or a clear exit."""
    db = engine(loaded)
    try:
        if require_current:
            schema.ensure_current(db)
        else:
            schema.current_revision(db)
    except PermanentError as exc:
        fail(str(exc))
    return db


def operator() -> str:
    """Who is at the terminal, as use cases record it beside what they change."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def cannot_start(exc: PermanentError) -> NoReturn:
    fail(str(exc))

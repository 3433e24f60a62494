"""The ``bitrix-inflow`` command line. Each sub-command group lives in its own module, imported only when its
command runs: a command pays for what it uses (the shop's SDK, the web server, the sandboxes), not for every
other command's — ``mapping show`` starts in a fraction of what loading them all takes."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated

import typer
from typer._click.core import Command, Context  # typer ships its own click; its groups speak these
from typer.core import TyperGroup

from bitrix_inflow.cli.common import state

# name → (module, attribute): a Typer (a group of sub-commands) or a function (one command).
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("bitrix_inflow.cli.init_cmd", "init"),
    "demo": ("bitrix_inflow.cli.demo", "demo"),
    "serve": ("bitrix_inflow.cli.serve", "serve"),
    "reconcile": ("bitrix_inflow.cli.reconcile", "reconcile"),
    "check": ("bitrix_inflow.cli.check", "check"),
    "sandbox": ("bitrix_inflow.cli.sandbox", "app"),
    "sync": ("bitrix_inflow.cli.sync", "app"),
    "mapping": ("bitrix_inflow.cli.mapping", "app"),
    "jobs": ("bitrix_inflow.cli.jobs", "app"),
    "products": ("bitrix_inflow.cli.products", "app"),
    "orders": ("bitrix_inflow.cli.orders", "app"),
    "incidents": ("bitrix_inflow.cli.incidents", "app"),
    "marking": ("bitrix_inflow.cli.marking", "app"),
    "db": ("bitrix_inflow.cli.db", "app"),
    "config": ("bitrix_inflow.cli.config_cmd", "app"),
    "console": ("bitrix_inflow.cli.console_cmd", "app"),
}


class _LazyGroup(TyperGroup):
    def list_commands(self, ctx: Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        target = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            command: Command = typer.main.get_group(target)  # a group even with one sub-command
        else:
            single = typer.Typer(add_completion=False)
            single.command(cmd_name)(target)
            command = typer.main.get_command(single)
        command.name = cmd_name
        return command


app = typer.Typer(
    name="bitrix-inflow",
    cls=_LazyGroup,
    help="Keep a 1C-Bitrix shop and an Inflow WMS warehouse in step.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="TOML file (default: ./bitrix-inflow.toml or $BITRIX_INFLOW_CONFIG)"
        ),
    ] = None,
) -> None:
    state.config_path = config


def main() -> None:
    app()

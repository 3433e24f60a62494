"""The ``bitrix-inflow`` command line. Each sub-command group lives in its own module."""

from __future__ import annotations

import typer

from bitrix_inflow.cli import sandbox

app = typer.Typer(
    name="bitrix-inflow",
    help="Keep a 1C-Bitrix shop and an Inflow WMS warehouse in step.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(sandbox.app, name="sandbox")


def main() -> None:
    app()

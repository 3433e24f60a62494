"""The ``bitrix-inflow`` command line. Each sub-command group lives in its own module."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bitrix_inflow.cli import (
    check,
    config_cmd,
    db,
    demo,
    jobs,
    mapping,
    orders,
    placeholders,
    products,
    sandbox,
    serve,
    sync,
)
from bitrix_inflow.cli.common import state

app = typer.Typer(
    name="bitrix-inflow",
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


app.command("demo")(demo.demo)
app.command("serve")(serve.serve)
app.command("reconcile")(placeholders.reconcile)
app.command("check")(check.check)
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(sync.app, name="sync")
app.add_typer(mapping.app, name="mapping")
app.add_typer(jobs.app, name="jobs")
app.add_typer(products.app, name="products")
app.add_typer(orders.app, name="orders")
app.add_typer(db.app, name="db")
app.add_typer(config_cmd.app, name="config")


def main() -> None:
    app()

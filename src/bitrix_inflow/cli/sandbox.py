"""``bitrix-inflow sandbox wms|bitrix``: the faithful stand-ins for the warehouse and the shop."""

from __future__ import annotations

import typer

from bitrix_inflow.sandboxes.bitrix.cli import app as bitrix_app
from bitrix_inflow.sandboxes.wms.cli import app as wms_app

app = typer.Typer(
    add_completion=False,  # a sub-command: completion is the root command's
    help="Run a sandbox warehouse (Inflow WMS) or shop (1C-Bitrix) on loopback.",
    no_args_is_help=True,
)

app.add_typer(wms_app, name="wms")
app.add_typer(bitrix_app, name="bitrix")

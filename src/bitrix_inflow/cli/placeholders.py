"""Commands reserved for features that later issues build; each says so and exits non-zero."""

from __future__ import annotations

import typer

from bitrix_inflow.cli.common import not_available

sync_app = typer.Typer(help="Run one synchronisation flow now.", no_args_is_help=True)

FLOWS = "the sync flows issue"


@sync_app.command("stock")
def sync_stock() -> None:
    """Push the warehouse's sellable stock to the shop."""
    not_available("sync stock", FLOWS)


@sync_app.command("orders")
def sync_orders() -> None:
    """Send new shop orders to the warehouse as picking orders."""
    not_available("sync orders", FLOWS)


@sync_app.command("statuses")
def sync_statuses() -> None:
    """Apply warehouse status changes to shop orders."""
    not_available("sync statuses", FLOWS)


def reconcile() -> None:
    """Compare stock and open orders on both sides and repair drift."""
    not_available("reconcile", FLOWS)

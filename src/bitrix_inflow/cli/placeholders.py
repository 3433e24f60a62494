"""Commands reserved for features that later issues build; each says so and exits non-zero."""

from __future__ import annotations

from bitrix_inflow.cli.common import not_available

FLOWS = "the sync flows issue"


def sync_orders() -> None:
    """Send new shop orders to the warehouse as picking orders."""
    not_available("sync orders", FLOWS)


def sync_statuses() -> None:
    """Apply warehouse status changes to shop orders."""
    not_available("sync statuses", FLOWS)


def reconcile() -> None:
    """Compare stock and open orders on both sides and repair drift."""
    not_available("reconcile", FLOWS)

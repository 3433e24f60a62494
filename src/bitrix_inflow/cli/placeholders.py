"""Commands reserved for features that later issues build; each says so and exits non-zero."""

from __future__ import annotations

from bitrix_inflow.cli.common import not_available

FLOWS = "the sync flows issue"


def reconcile() -> None:
    """Compare stock and open orders on both sides and repair drift."""
    not_available("reconcile", FLOWS)

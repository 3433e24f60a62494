"""Where the published contract files live (the sandbox serves them as they are)."""

from __future__ import annotations

import os
from pathlib import Path


def contract_dir() -> Path:
    """``BITRIX_INFLOW_CONTRACTS`` if set, else ``contracts/inflow-v1`` of the source checkout."""
    override = os.environ.get("BITRIX_INFLOW_CONTRACTS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[4] / "contracts" / "inflow-v1"

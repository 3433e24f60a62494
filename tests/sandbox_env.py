"""The environment the service runs with against the two sandboxes, as an operator sets it (for tests that run
``python -m bitrix_inflow`` as a process)."""

from __future__ import annotations

import os
from typing import Any


def service_environment(warehouse: Any, shop: Any, db_url: str, **extra: str) -> dict[str, str]:
    """Without any BITRIX_INFLOW setting of the test run's own; ``extra`` adds or overrides settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BITRIX_INFLOW")}
    env.update(
        {
            "BITRIX_INFLOW__INFLOW__BASE_URL": warehouse.base_url,
            "BITRIX_INFLOW__INFLOW__API_KEY": "sandbox-key",
            "BITRIX_INFLOW__BITRIX__WEBHOOK_URL": shop.webhook_url,
            "BITRIX_INFLOW__BITRIX__VERIFY": str(shop.ca_file),
            "BITRIX_INFLOW__BITRIX__MANAGER_USER_ID": "1",
            "BITRIX_INFLOW__DATABASE__URL": db_url,
            "COLUMNS": "200",
            **extra,
        }
    )
    return env

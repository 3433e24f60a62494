"""``bitrix-inflow serve``: the long-running service (scheduler + workers)."""

from __future__ import annotations

import signal
from types import FrameType

from bitrix_inflow import log
from bitrix_inflow.cli.common import cannot_start, deployment
from bitrix_inflow.errors import PermanentError
from bitrix_inflow.service import Service


def serve() -> None:
    """Run the scheduler and the job workers until SIGTERM or Ctrl-C, for every tenant of the configuration.

    Logs go to stderr: JSON lines under a supervisor, readable lines in a terminal (``[log] format`` decides).
    """
    loaded, tenants = deployment(log.SERVICE)
    try:
        service = Service.from_settings(loaded, tenants)
    except PermanentError as exc:
        cannot_start(exc)

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        service.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    service.run()

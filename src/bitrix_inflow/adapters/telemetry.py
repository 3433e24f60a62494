"""What this process's requests to the remote systems took and how they ended, for ``/metrics``: latency and
answers by connection (tenant), system (``inflow``, ``bitrix``) and outcome (2xx, 4xx, 429, 5xx, timeout,
network)."""

from __future__ import annotations

import structlog
from prometheus_client import Counter, Histogram

# Not in the global registry: each web app registers them into its own, so tests can build several apps.
API_SECONDS = Histogram(
    "bitrix_inflow_api_request_seconds",
    "Time of one request to a remote system, answer included.",
    ["connection", "system"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=None,
)
API_ANSWERS = Counter(
    "bitrix_inflow_api_requests",
    "Requests to a remote system by how they ended: 2xx, 4xx, 429, 5xx, timeout, network.",
    ["connection", "system", "outcome"],
    registry=None,
)


def answered(system: str, status: int, seconds: float) -> None:
    _count(system, "429" if status == 429 else f"{status // 100}xx", seconds)


def failed(system: str, outcome: str, seconds: float) -> None:
    """No answer: ``timeout`` or ``network``."""
    _count(system, outcome, seconds)


def _count(system: str, outcome: str, seconds: float) -> None:
    # The worker binds the job's connection for the job's whole run; a request made outside a job (a command,
    # a console check) has none, and its label stays empty rather than guessing a tenant.
    connection = str(structlog.contextvars.get_contextvars().get("connection_id", ""))
    API_SECONDS.labels(connection=connection, system=system).observe(seconds)
    API_ANSWERS.labels(connection=connection, system=system, outcome=outcome).inc()

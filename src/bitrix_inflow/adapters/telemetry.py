"""What this process's requests to the remote systems took and how they ended, for ``/metrics``: latency and
answers by system (``inflow``, ``bitrix``) and outcome (2xx, 4xx, 429, 5xx, timeout, network)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# Not in the global registry: each web app registers them into its own, so tests can build several apps.
API_SECONDS = Histogram(
    "bitrix_inflow_api_request_seconds",
    "Time of one request to a remote system, answer included.",
    ["system"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=None,
)
API_ANSWERS = Counter(
    "bitrix_inflow_api_requests",
    "Requests to a remote system by how they ended: 2xx, 4xx, 429, 5xx, timeout, network.",
    ["system", "outcome"],
    registry=None,
)


def answered(system: str, status: int, seconds: float) -> None:
    outcome = "429" if status == 429 else f"{status // 100}xx"
    API_SECONDS.labels(system=system).observe(seconds)
    API_ANSWERS.labels(system=system, outcome=outcome).inc()


def failed(system: str, outcome: str, seconds: float) -> None:
    """No answer: ``timeout`` or ``network``."""
    API_SECONDS.labels(system=system).observe(seconds)
    API_ANSWERS.labels(system=system, outcome=outcome).inc()

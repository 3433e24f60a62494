"""What the workers of *this process* did, for Prometheus. Queue-wide figures are read from the database at
scrape time instead (``bitrix_inflow.web.metrics``), so they are right whichever machine ran the jobs."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# Not in the global registry: each web app registers them into its own, so tests can build several apps.
JOB_OUTCOMES = Counter(
    "bitrix_inflow_job_outcomes",
    "Jobs finished by this process's workers, by connection (tenant), kind and outcome (done, retry, dead).",
    ["connection", "kind", "outcome"],
    registry=None,
)
JOB_SECONDS = Histogram(
    "bitrix_inflow_job_duration_seconds",
    "Time a handler ran, by connection and job kind.",
    ["connection", "kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=None,
)


def observe(connection_id: str, kind: str, outcome: str, seconds: float) -> None:
    JOB_OUTCOMES.labels(connection=connection_id, kind=kind, outcome=outcome).inc()
    JOB_SECONDS.labels(connection=connection_id, kind=kind).observe(seconds)

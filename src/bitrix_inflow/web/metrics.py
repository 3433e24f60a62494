"""Prometheus exposition: queue figures read from the database at scrape time, plus this process's counters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from bitrix_inflow.adapters import telemetry
from bitrix_inflow.jobs import metrics as job_metrics
from bitrix_inflow.jobs import presence, queue
from bitrix_inflow.store import incidents as incident_store
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.timing import Clock, SystemClock


class QueueCollector(Collector):
    """Reads the jobs and workers tables on every scrape: the figures an alert on "nothing fails silently" needs."""

    def __init__(self, engine: Engine, clock: Clock, *, alive_within: dt.timedelta) -> None:
        self.engine = engine
        self.clock = clock
        self.alive_within = alive_within

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.clock.now()
        jobs = GaugeMetricFamily(
            "bitrix_inflow_jobs",
            "Jobs in the queue by connection (tenant), kind and status (dead = waiting for an operator).",
            labels=["connection", "kind", "status"],
        )
        waiting = GaugeMetricFamily(
            "bitrix_inflow_jobs_oldest_due_age_seconds",
            "How long the oldest due, queued job of a connection's kind has waited for a worker (0 when none waits).",
            labels=["connection", "kind"],
        )
        alive = GaugeMetricFamily(
            "bitrix_inflow_workers_alive", "Workers (any machine) that heartbeated recently."
        )
        incidents = GaugeMetricFamily(
            "bitrix_inflow_incidents_open",
            "Incidents waiting for a person, by connection (tenant) and kind.",
            labels=["connection", "kind"],
        )
        waiting_orders = GaugeMetricFamily(
            "bitrix_inflow_orders_waiting_for_wms",
            "Picking orders not yet in the warehouse, by connection and state (planned, sending, short, failed).",
            labels=["connection", "state"],
        )
        with self.engine.connect() as conn:
            rows = queue.stats(conn, now=now)
            alive_count = presence.count_alive(conn, since=now - self.alive_within)
            open_by_kind = incident_store.open_by_kind(conn)
            unsent = order_store.unsent_by_state(conn)
        oldest: dict[tuple[str, str], float] = {}
        for row in rows:
            jobs.add_metric([row.connection_id, row.kind, row.status.value], row.count)
            age = (now - row.oldest_runnable).total_seconds() if row.oldest_runnable else 0.0
            key = (row.connection_id, row.kind)
            oldest[key] = max(oldest.get(key, 0.0), age)
        for (connection, kind), age in sorted(oldest.items()):
            waiting.add_metric([connection, kind], age)
        alive.add_metric([], int(alive_count))
        for (connection, kind), count in sorted(open_by_kind.items()):
            incidents.add_metric([connection, kind], count)
        for (connection, state), count in sorted(unsent.items()):
            waiting_orders.add_metric([connection, state], count)
        yield jobs
        yield waiting
        yield alive
        yield incidents
        yield waiting_orders


def build_registry(
    engine: Engine, *, alive_within: dt.timedelta, clock: Clock | None = None
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(engine, clock or SystemClock(), alive_within=alive_within))
    registry.register(job_metrics.JOB_OUTCOMES)
    registry.register(job_metrics.JOB_SECONDS)
    registry.register(telemetry.API_SECONDS)
    registry.register(telemetry.API_ANSWERS)
    return registry

"""/healthz and /metrics as Prometheus and a load balancer see them: a real server on loopback, both databases."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import httpx
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text

from bitrix_inflow.errors import PermanentError, TransientError
from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import RetryPolicy
from bitrix_inflow.jobs.registry import JobContext, JobRegistry
from bitrix_inflow.jobs.worker import Worker, WorkerSettings
from bitrix_inflow.store import connections
from web_app import serve


@pytest.fixture
def web(engine: Engine) -> Iterator[str]:
    yield from serve(engine)


def samples(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = httpx.get(f"{base}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_metrics_show_the_queue_the_dead_and_the_waiting(engine: Engine, web: str) -> None:
    now = dt.datetime.now(dt.UTC)
    registry = JobRegistry(default_policy=RetryPolicy(max_attempts=3, base_delay=60))

    @registry.handler("metrics.bad")
    def bad(ctx: JobContext) -> None:
        raise PermanentError("no mapping for SHORT_PICK")

    @registry.handler("metrics.flaky")
    def flaky(ctx: JobContext) -> None:
        raise TransientError("WMS 503")

    with engine.begin() as conn:
        connections.ensure(conn, "north", now=now)
        queue.enqueue(conn, "metrics.bad", {}, now=now)
        queue.enqueue(conn, "metrics.flaky", {}, now=now)
        # Waiting for a worker for ten minutes: nobody handles this kind.
        queue.enqueue(conn, "metrics.stuck", {}, now=now, run_after=now - dt.timedelta(minutes=10))
        # A second tenant's dead job: its own label, none of the default tenant's figures change.
        queue.enqueue(conn, "metrics.bad", {}, now=now, connection_id="north")
    worker = Worker(engine, registry, settings=WorkerSettings(poll_seconds=0.01))
    assert worker.run(threading.Event(), exit_when_idle=True) == 3

    got = samples(web)
    default, north = ("connection", "default"), ("connection", "north")
    assert got[("bitrix_inflow_jobs", (default, ("kind", "metrics.bad"), ("status", "dead")))] == 1
    assert got[("bitrix_inflow_jobs", (north, ("kind", "metrics.bad"), ("status", "dead")))] == 1
    assert got[("bitrix_inflow_jobs", (default, ("kind", "metrics.flaky"), ("status", "queued")))] == 1
    assert got[("bitrix_inflow_jobs", (default, ("kind", "metrics.stuck"), ("status", "queued")))] == 1
    assert ("bitrix_inflow_jobs", (north, ("kind", "metrics.stuck"), ("status", "queued"))) not in got
    assert got[("bitrix_inflow_jobs_oldest_due_age_seconds", (default, ("kind", "metrics.stuck")))] >= 600
    # The flaky job backs off for a minute: it is queued but not yet due, so it is not "waiting".
    assert got[("bitrix_inflow_jobs_oldest_due_age_seconds", (default, ("kind", "metrics.flaky")))] == 0
    outcomes = "bitrix_inflow_job_outcomes_total"
    assert got[(outcomes, (default, ("kind", "metrics.bad"), ("outcome", "dead")))] >= 1
    assert got[(outcomes, (north, ("kind", "metrics.bad"), ("outcome", "dead")))] >= 1
    assert got[(outcomes, (default, ("kind", "metrics.flaky"), ("outcome", "retry")))] >= 1
    assert got[("bitrix_inflow_job_duration_seconds_count", (default, ("kind", "metrics.bad")))] >= 1
    # The worker unregistered when it stopped.
    assert got[("bitrix_inflow_workers_alive", ())] == 0


def test_healthz_says_ok_then_why_not(engine: Engine, web: str) -> None:
    ok = httpx.get(f"{web}/healthz", timeout=10)
    assert ok.status_code == 200 and ok.json()["status"] == "ok"
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    bad = httpx.get(f"{web}/healthz", timeout=10)
    assert bad.status_code == 503
    assert bad.json()["status"] == "unavailable" and "from_the_future" in bad.json()["reason"]


def test_readyz_wants_a_live_worker(engine: Engine, web: str) -> None:
    idle = httpx.get(f"{web}/readyz", timeout=10)
    assert idle.status_code == 503 and "no worker has heartbeated" in idle.json()["reasons"][0]
    stop = threading.Event()
    worker = Worker(engine, JobRegistry(), settings=WorkerSettings(poll_seconds=0.05, heartbeat_seconds=0.1))
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)
        while (ready := httpx.get(f"{web}/readyz", timeout=10)).status_code != 200:
            assert dt.datetime.now(dt.UTC) < deadline, ready.text
        assert ready.json() == {"status": "ready", "workers_alive": 1}
    finally:
        stop.set()
        thread.join(timeout=10)


def test_metrics_count_open_incidents_unsent_orders_and_api_requests(engine: Engine, web: str) -> None:
    from bitrix_inflow.adapters import telemetry  # noqa: PLC0415
    from bitrix_inflow.sync.incidents.inbox import raise_incident  # noqa: PLC0415

    with engine.begin() as conn:
        raise_incident(
            conn,
            "default",
            7,
            kind="stuck",
            subject="B-7-1",
            detail={"why": "planted"},
            now=dt.datetime.now(dt.UTC),
        )
    answers = "bitrix_inflow_api_requests_total"
    in_a_job = (answers, (("connection", "north"), ("outcome", "5xx"), ("system", "inflow")))
    outside = (answers, (("connection", ""), ("outcome", "5xx"), ("system", "inflow")))
    before = samples(web)
    with structlog.contextvars.bound_contextvars(connection_id="north"):  # as the worker binds a job's tenant
        telemetry.answered("inflow", 503, 0.2)
    telemetry.answered("inflow", 503, 0.2)
    got = samples(web)
    assert got[("bitrix_inflow_incidents_open", (("connection", "default"), ("kind", "stuck")))] == 1
    assert got[in_a_job] == before.get(in_a_job, 0) + 1
    assert got[outside] == before.get(outside, 0) + 1

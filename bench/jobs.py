"""Job engine throughput and claim latency, on SQLite and PostgreSQL, beside the database's raw commit rate.

Each worker is a separate process (as in production). A job's handler does the minimum real work a handler does:
one transaction that writes an effect row and completes the job (``ctx.complete_in``). The baseline is the same
database doing bare ``INSERT … ; COMMIT`` in one process: the engine's ceiling on that machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, text

from bitrix_inflow import log
from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.registry import JobContext, JobRegistry
from bitrix_inflow.jobs.worker import Worker, WorkerSettings
from bitrix_inflow.store import schema
from bitrix_inflow.store.engine import make_engine, normalise_url
from bitrix_inflow.timing import SystemClock

meta = MetaData()
effects = Table("bench_effects", meta, Column("job_id", Integer, primary_key=True), Column("w", String(100)))


def _registry() -> JobRegistry:
    registry = JobRegistry()

    @registry.handler("bench")
    def handle(ctx: JobContext) -> None:
        with ctx.engine.begin() as conn:
            conn.execute(insert(effects).values(job_id=ctx.job.id, w=ctx.worker_id))
            ctx.complete_in(conn)

    return registry


def _worker(url: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    log.configure(level="warning", fmt="console")
    engine = make_engine(url)
    worker = Worker(engine, _registry(), settings=WorkerSettings(poll_seconds=0.01))
    clock = SystemClock()
    latencies: list[float] = []
    while True:
        started = time.perf_counter()
        job = queue.claim(
            engine, worker.worker_id, now=clock.now(), lease=dt.timedelta(seconds=60), kinds=["bench"]
        )
        latencies.append(time.perf_counter() - started)
        if job is None:
            break
        worker.execute(job)
    out.put(latencies)


def _raw_commit_rate(url: str, n: int) -> float:
    engine = make_engine(url)
    table = Table(f"bench_raw_{uuid.uuid4().hex[:6]}", MetaData(), Column("id", Integer, primary_key=True))
    table.create(engine)
    started = time.perf_counter()
    for i in range(n):
        with engine.begin() as conn:
            conn.execute(insert(table).values(id=i))
    return n / (time.perf_counter() - started)


def run(url: str, jobs_count: int, workers: int) -> dict[str, float]:
    engine = make_engine(url)
    schema.upgrade(engine)
    meta.create_all(engine)
    now = SystemClock().now()
    with engine.begin() as conn:
        for _ in range(jobs_count):
            queue.enqueue(conn, "bench", {}, now=now)
    spawn = mp.get_context("spawn")  # fresh interpreters, like real worker processes; no inherited engine
    out: mp.Queue = spawn.Queue()  # type: ignore[type-arg]
    procs = [spawn.Process(target=_worker, args=(url, out)) for _ in range(workers)]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    latencies: list[float] = []
    for _ in procs:
        latencies += out.get()
    for proc in procs:
        proc.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "jobs_per_s": jobs_count / elapsed,
        "claim_p50_ms": statistics.median(latencies) * 1000,
        "claim_p95_ms": latencies[int(len(latencies) * 0.95)] * 1000,
        "raw_commits_per_s": _raw_commit_rate(url, 2000),
    }


def _fresh_pg(admin_url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return normalise_url(admin_url).rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench jobs", description=__doc__)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--pg", default=os.environ.get("BITRIX_INFLOW_TEST_PG"), help="PostgreSQL admin URL")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    targets = {"sqlite": f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"}
    if args.pg:
        targets["postgresql"] = _fresh_pg(args.pg)
    header = ("database", "jobs", "workers", "jobs/s", "claim p50", "claim p95", "raw commits/s")
    print("{:<11} {:>6} {:>7} {:>8} {:>10} {:>10} {:>14}".format(*header))
    for name, url in targets.items():
        r = run(url, args.jobs, args.workers)
        print(
            f"{name:<11} {args.jobs:>6} {args.workers:>7} {r['jobs_per_s']:>8.0f} {r['claim_p50_ms']:>8.2f}ms "
            f"{r['claim_p95_ms']:>8.2f}ms {r['raw_commits_per_s']:>14.0f}"
        )

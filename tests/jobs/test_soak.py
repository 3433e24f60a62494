"""Soak: workers are killed at random while 4,000 jobs drain; every effect still happens exactly once."""

from __future__ import annotations

import datetime as dt
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.store.tables import jobs

sys.path.insert(0, str(Path(__file__).parent))
import proc_worker

SCRIPT = Path(__file__).parent / "proc_worker.py"
JOBS = 4_000


def _count(engine: Engine, table: object, *where: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())  # type: ignore[arg-type]


def _running_leases(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(jobs.c.leased_by).where(jobs.c.status == JobStatus.RUNNING.value).distinct()
            ).scalars()
        )


def _held_by(engine: Engine, worker_id: str) -> list[int]:
    """Jobs still running under a worker that is dead: the ones it was working on when it was killed.

    Asked right after the kill, long before the 2 s lease can expire and the reaper hand them to someone else.
    """
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(jobs.c.id).where(
                    jobs.c.status == JobStatus.RUNNING.value, jobs.c.leased_by == worker_id
                )
            ).scalars()
        )


@pytest.mark.soak
@pytest.mark.timeout(900)
def test_random_kills_while_draining(engine: Engine, db_url: str) -> None:
    proc_worker.meta.create_all(engine)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        for n in range(JOBS):
            queue.enqueue(
                conn, "effect", {"hold": 0}, now=now, lock_key=f"order:{n % 50}" if n % 10 == 0 else None
            )
    rng = random.Random(20261127)

    def start() -> subprocess.Popen[bytes]:
        args = [sys.executable, str(SCRIPT), db_url, "drain", "--lease", "2", "--heartbeat", "0.5"]
        return subprocess.Popen(args, stderr=subprocess.DEVNULL)

    procs = [start() for _ in range(4)]
    kills = 0
    in_flight: dict[int, str] = {}  # job id -> the killed worker that held it
    deadline = time.monotonic() + 600
    while any(p.poll() is None for p in procs):
        assert time.monotonic() < deadline, "soak did not finish in time"
        time.sleep(rng.uniform(0.5, 2.0))
        alive = [p for p in procs if p.poll() is None]
        if alive and _count(engine, proc_worker.effects) < JOBS * 0.9:
            # Aim at a worker that holds a job right now: its job may still finish before the signal lands, but a
            # blind kill mostly hits a worker between jobs (claiming, polling), which tests no recovery.
            holders = {f"proc-{p.pid}" for p in alive} & set(_running_leases(engine))
            victim = rng.choice([p for p in alive if f"proc-{p.pid}" in holders] or alive)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            kills += 1
            worker_id = f"proc-{victim.pid}"
            in_flight.update(dict.fromkeys(_held_by(engine, worker_id), worker_id))
            procs.append(start())
    assert all(p.returncode in (0, -signal.SIGKILL) for p in procs)
    # A killed worker's lease may still be pending when the others saw an empty queue: finish the stragglers.
    final = start()
    final.wait(timeout=120)

    assert kills >= 5
    assert _count(engine, proc_worker.effects) == JOBS
    assert _count(engine, jobs, jobs.c.status == JobStatus.DONE.value) == JOBS
    assert _count(engine, proc_worker.runs) <= JOBS + kills  # only jobs in flight at a kill ran twice
    assert _count(engine, proc_worker.violations) == 0  # no two live runs of one lock key ever overlapped
    with engine.connect() as conn:
        effects = conn.execute(select(proc_worker.effects.c.job_id, proc_worker.effects.c.worker)).all()
        all_ids = conn.execute(select(jobs.c.id)).scalars().all()
        # A kill between jobs tests nothing: at least one must have interrupted a job, which someone else then
        # finished, exactly once.
        assert in_flight, f"none of the {kills} kills landed while a job was running"
        for job_id, victim in in_flight.items():
            final = queue.get(conn, job_id)
            assert final is not None and final.status is JobStatus.DONE and final.attempts >= 2
            assert final.leased_by != victim
            assert [worker for done, worker in effects if done == job_id] == [final.leased_by]
    assert Counter(job_id for job_id, _ in effects) == Counter(all_ids)  # every effect exactly once

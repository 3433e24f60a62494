"""Several worker and scheduler *processes* on one database, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, Table, func, select

from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.store.tables import jobs, schedule_slots

sys.path.insert(0, str(Path(__file__).parent))
import proc_worker

SCRIPT = Path(__file__).parent / "proc_worker.py"
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def tables(engine: Engine) -> Engine:
    proc_worker.meta.create_all(engine)
    return engine


def spawn(db_url: str, *args: str) -> subprocess.Popen[bytes]:
    # stderr goes to a file: a pipe nobody reads until exit would fill up and block the worker.
    err = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the process object, read in wait_all
    proc = subprocess.Popen([sys.executable, str(SCRIPT), db_url, *args], stderr=err)
    proc.stderr = err  # type: ignore[assignment]
    return proc


def wait_all(procs: list[subprocess.Popen[bytes]], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        if proc.returncode != 0:
            assert proc.stderr is not None
            proc.stderr.seek(0)
            pytest.fail(f"worker process exited {proc.returncode}:\n{proc.stderr.read().decode()[-3000:]}")


def count(engine: Engine, table: object, *where: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())  # type: ignore[arg-type]


def per_job(engine: Engine, table: Table) -> Counter[int]:
    """How many rows each job left in ``table`` (runs and effects have no unique constraint: repeats show)."""
    with engine.connect() as conn:
        return Counter(conn.execute(select(table.c.job_id)).scalars())


def all_job_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(jobs.c.id)).scalars())


def test_four_workers_drain_2000_jobs_each_exactly_once(tables: Engine, db_url: str) -> None:
    with tables.begin() as conn:
        for n in range(2000):
            # A quarter of the jobs work on 20 "orders": those must never overlap and must run in order.
            lock_key = f"order:{(n // 4) % 20}" if n % 4 == 0 else None
            queue.enqueue(conn, "effect", {"hold": 0.002 if lock_key else 0}, now=NOW, lock_key=lock_key)
    wait_all([spawn(db_url, "drain") for _ in range(4)])

    assert count(tables, proc_worker.effects) == 2000
    assert count(tables, proc_worker.runs) == 2000  # no job ran twice
    assert count(tables, proc_worker.violations) == 0  # no two jobs of one lock key overlapped
    once_each = Counter(all_job_ids(tables))
    assert per_job(tables, proc_worker.runs) == once_each
    assert per_job(tables, proc_worker.effects) == once_each
    assert count(tables, jobs, jobs.c.status == JobStatus.DONE.value) == 2000
    assert count(tables, jobs, jobs.c.attempts != 1) == 0
    with tables.connect() as conn:
        workers_used = conn.execute(select(func.count(func.distinct(proc_worker.runs.c.worker)))).scalar_one()
        order = conn.execute(
            select(proc_worker.runs.c.lock_key, proc_worker.runs.c.job_id)
            .where(proc_worker.runs.c.lock_key.is_not(None))
            .order_by(proc_worker.runs.c.id)
        ).all()
    assert workers_used == 4  # the load really was shared
    per_key: dict[str, list[int]] = defaultdict(list)
    for lock_key, job_id in order:
        per_key[lock_key].append(job_id)
    assert len(per_key) == 20
    for lock_key, ids in per_key.items():
        assert ids == sorted(ids), f"{lock_key} ran out of order"


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    """Poll ``condition``; the deadline is generous because it only bounds a hang, it never measures speed."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.02)


def test_three_schedulers_fire_each_tick_once(tables: Engine, db_url: str, tmp_path: Path) -> None:
    """Three scheduler processes on one shared clock that the test moves a second at a time.

    A real clock made this depend on the machine: if no scheduler process got the CPU within a second, a slot was
    skipped (correctly: a missed slot is not replayed) and the test failed. Here the clock only moves on once every
    scheduler has tried the current slot and its job has run, so all three race for every slot.
    """
    clock_file, stop_file = tmp_path / "clock", tmp_path / "stop"
    acks = [tmp_path / f"ack-{n}" for n in range(3)]
    start = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
    proc_worker.write_atomically(clock_file, start.isoformat())
    procs = [
        spawn(
            db_url,
            "schedule",
            "--clock-file",
            str(clock_file),
            "--ack-file",
            str(ack),
            "--stop-file",
            str(stop_file),
        )
        for ack in acks
    ]

    def acked(ack: Path, now: dt.datetime) -> bool:
        return ack.exists() and dt.datetime.fromisoformat(ack.read_text()) >= now

    def slot_done(now: dt.datetime) -> bool:
        with tables.connect() as conn:
            status = conn.execute(
                select(jobs.c.status)
                .select_from(schedule_slots.join(jobs, jobs.c.id == schedule_slots.c.job_id))
                .where(schedule_slots.c.slot == now)
            ).scalar_one_or_none()
        return status == JobStatus.DONE.value

    ticks = 5
    try:
        for step in range(ticks):
            now = start + dt.timedelta(seconds=step)
            proc_worker.write_atomically(clock_file, now.isoformat())
            for ack in acks:
                wait_until(lambda ack=ack, now=now: acked(ack, now), f"{ack.name} to tick at {now}")
            wait_until(lambda now=now: slot_done(now), f"the job of slot {now} to run")
    finally:
        stop_file.touch()
        wait_all(procs)

    with tables.connect() as conn:
        slots = conn.execute(
            select(schedule_slots.c.slot, schedule_slots.c.created_by).order_by("slot")
        ).all()
        fired = conn.execute(select(proc_worker.slot_runs.c.slot)).scalars().all()
    assert len(slots) >= 4
    assert [s.slot for s in slots] == [start + dt.timedelta(seconds=n) for n in range(ticks)]
    steps = {(b.slot - a.slot).total_seconds() for a, b in itertools.pairwise(slots)}
    assert steps == {1.0}, f"slots must be consecutive seconds, got steps {steps}"
    # Every slot produced one job that ran exactly once (each run is a row of its own: a second run would show).
    assert len(fired) == len(set(fired))
    assert len(slots) - 1 <= len(fired) <= len(slots)
    assert Counter(dt.datetime.fromisoformat(slot) for slot in fired) == Counter(s.slot for s in slots)
    assert count(tables, jobs, jobs.c.status == JobStatus.DEAD.value) == 0


def test_a_worker_killed_mid_job_is_recovered_and_the_effect_happens_once(
    tables: Engine, db_url: str, tmp_path: Path
) -> None:
    pause = tmp_path / "pause"
    pause.touch()
    with tables.begin() as conn:
        job_id = queue.enqueue(conn, "effect", {"pausable": True}, now=NOW).job_id
    victim = spawn(db_url, "drain", "--lease", "2", "--heartbeat", "0.5", "--pause-file", str(pause))
    deadline = time.monotonic() + 60
    while count(tables, proc_worker.runs) == 0:
        assert time.monotonic() < deadline, "the victim never started the job"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    with tables.connect() as conn:
        held = queue.get(conn, job_id)
    assert held is not None and held.status is JobStatus.RUNNING and held.leased_by == f"proc-{victim.pid}"
    pause.unlink()
    wait_all([spawn(db_url, "drain", "--lease", "2", "--heartbeat", "0.5")], timeout=60)

    with tables.connect() as conn:
        final = queue.get(conn, job_id)
    assert final is not None and final.status is JobStatus.DONE and final.attempts == 2
    assert final.last_error is not None and f"proc-{victim.pid} stopped responding" in final.last_error
    assert count(tables, proc_worker.runs) == 2  # it ran twice…
    assert count(tables, proc_worker.effects) == 1  # …and its effect happened once


def test_a_stalled_worker_that_wakes_after_a_takeover_commits_no_effect(
    tables: Engine, db_url: str, tmp_path: Path
) -> None:
    """A worker frozen mid-job (SIGSTOP: a long GC pause, a suspended VM) loses its lease; another worker runs the
    job to the end. When the frozen one wakes up it finishes its handler and tries to commit the effect with the
    job's completion: the fence must roll that back, so the effect exists once although the handler ran twice."""
    pause = tmp_path / "pause"
    pause.touch()
    with tables.begin() as conn:
        job_id = queue.enqueue(conn, "effect", {"pausable": True}, now=NOW).job_id
    stalled = spawn(db_url, "drain", "--lease", "2", "--heartbeat", "0.5", "--pause-file", str(pause))
    try:
        deadline = time.monotonic() + 60
        while count(tables, proc_worker.runs) == 0:
            assert time.monotonic() < deadline, "the worker never started the job"
            time.sleep(0.05)
        stalled.send_signal(signal.SIGSTOP)
        pause.unlink()
        wait_all([spawn(db_url, "drain", "--lease", "2", "--heartbeat", "0.5")], timeout=120)
        with tables.connect() as conn:
            taken_over = queue.get(conn, job_id)
        assert taken_over is not None and taken_over.status is JobStatus.DONE
        assert taken_over.leased_by != f"proc-{stalled.pid}"
    finally:
        stalled.send_signal(signal.SIGCONT)
    wait_all([stalled], timeout=60)  # it woke, finished its handler and found nothing more to do

    with tables.connect() as conn:
        runs = conn.execute(select(proc_worker.runs.c.worker).order_by(proc_worker.runs.c.id)).scalars().all()
        effects = conn.execute(select(proc_worker.effects.c.worker)).scalars().all()
    assert runs == [f"proc-{stalled.pid}", taken_over.leased_by]  # the handler ran twice…
    assert effects == [taken_over.leased_by]  # …and only the attempt that owned the job committed its effect


def test_killing_a_worker_while_draining_loses_and_duplicates_nothing(tables: Engine, db_url: str) -> None:
    with tables.begin() as conn:
        for _ in range(400):
            queue.enqueue(conn, "effect", {"hold": 0}, now=NOW)
    victim = spawn(db_url, "drain", "--lease", "2", "--heartbeat", "0.5")
    survivor = spawn(db_url, "drain", "--lease", "2", "--heartbeat", "0.5")
    deadline = time.monotonic() + 60
    while count(tables, proc_worker.effects) < 100:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    wait_all([survivor], timeout=120)
    assert count(tables, proc_worker.effects) == 400
    assert per_job(tables, proc_worker.effects) == Counter(all_job_ids(tables))
    assert count(tables, jobs, jobs.c.status == JobStatus.DONE.value) == 400
    assert count(tables, proc_worker.runs) <= 401  # at most the one job in flight at the kill ran again

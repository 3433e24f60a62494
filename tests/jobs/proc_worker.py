"""A worker or scheduler *process* for the concurrency and crash tests (run as a script, not collected).

Handlers record every execution in ``t_runs`` (own transaction, before the effect, so double executions show up)
and their effect in ``t_effects``, committed together with the job's completion. Neither table has a unique
constraint: a second run or a second effect of one job is a second row the tests can count, where a primary key
would have turned it into an error and hidden it. Lock-key jobs also hold a row in ``t_held`` (primary key = lock
key) while they run: two overlapping runs of one lock key would collide there, and the collision is counted in
``t_violations``.

In ``schedule`` mode the scheduler and the worker read the time from a file the test moves forward (``--clock-file``),
so a slot is never missed because a loaded machine did not schedule a process in time; the scheduler notes in
``--ack-file`` the time of the last tick it finished, and the process ends when ``--stop-file`` appears.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import Column, Engine, Float, Integer, MetaData, String, Table, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from bitrix_inflow import log
from bitrix_inflow.jobs.model import RetryPolicy
from bitrix_inflow.jobs.registry import JobContext, JobRegistry
from bitrix_inflow.jobs.scheduler import Schedule, Scheduler
from bitrix_inflow.jobs.worker import Worker, WorkerSettings
from bitrix_inflow.store.engine import make_engine
from bitrix_inflow.store.tables import jobs

meta = MetaData()
runs = Table(
    "t_runs",
    meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, nullable=False),
    Column("lock_key", String(50)),
    Column("worker", String(200), nullable=False),
    Column("at", Float, nullable=False),
)
effects = Table(
    "t_effects",
    meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, nullable=False),
    Column("worker", String(200), nullable=False),
)
held = Table(
    "t_held",
    meta,
    Column("lock_key", String(50), primary_key=True),
    Column("job_id", Integer),
    Column("worker", String(200)),
)
violations = Table(
    "t_violations",
    meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("detail", String(200)),
)
slot_runs = Table(
    "t_slot_runs",
    meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("slot", String(40), nullable=False),
    Column("job_id", Integer, nullable=False),
    Column("worker", String(200), nullable=False),
)


class FileClock:
    """The time the test wrote into ``path``: one clock shared by every process, moved only by the test."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.path.read_text())


class AckingClock(FileClock):
    """The scheduler's clock. Scheduler.run asks for the time once per tick, so a request for the time means the
    previous tick is over: its time goes to ``ack`` for the test, which waits until every scheduler has tried
    the current slot before moving the clock on."""

    def __init__(self, path: Path, ack: Path) -> None:
        super().__init__(path)
        self.ack = ack
        self._last: dt.datetime | None = None

    def now(self) -> dt.datetime:
        if self._last is not None:
            write_atomically(self.ack, self._last.isoformat())
        self._last = super().now()
        return self._last


def write_atomically(path: Path, text: str) -> None:
    """Readers in other processes see the old text or the new one, never a half-written file."""
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    part.write_text(text)
    part.replace(path)


def take_lock_key(ctx: JobContext) -> None:
    """Hold the job's lock key in ``t_held``; a live holder there means two runs of one key overlap."""
    assert ctx.job.lock_key is not None
    row = {"lock_key": ctx.job.lock_key, "job_id": ctx.job.id, "worker": ctx.worker_id}
    try:
        with ctx.engine.begin() as conn:
            conn.execute(insert(held).values(**row))
        return
    except IntegrityError:
        pass
    with ctx.engine.begin() as conn:
        holder = conn.execute(select(held).where(held.c.lock_key == ctx.job.lock_key)).mappings().one()
        holder_alive = conn.execute(
            select(func.count())
            .select_from(jobs)
            .where(
                jobs.c.id == holder["job_id"],
                jobs.c.status == "running",
                jobs.c.leased_by == holder["worker"],
            )
        ).scalar_one()
        if holder_alive:
            conn.execute(
                insert(violations).values(detail=f"{ctx.job.lock_key}: job {ctx.job.id} overlapped {holder}")
            )
        else:  # left behind by a killed worker
            conn.execute(delete(held).where(held.c.lock_key == ctx.job.lock_key))
            conn.execute(insert(held).values(**row))
            return
    raise RuntimeError(f"lock key {ctx.job.lock_key} is held by a live job")


def build_registry(pause_file: Path | None) -> JobRegistry:
    registry = JobRegistry(default_policy=RetryPolicy(max_attempts=20, base_delay=0.05, max_delay=0.5))

    @registry.handler("effect")
    def effect(ctx: JobContext) -> None:
        with ctx.engine.begin() as conn:
            conn.execute(
                insert(runs).values(
                    job_id=ctx.job.id, lock_key=ctx.job.lock_key, worker=ctx.worker_id, at=time.time()
                )
            )
        if ctx.job.lock_key:
            take_lock_key(ctx)
            time.sleep(float(ctx.payload.get("hold", 0)))
        while pause_file is not None and pause_file.exists() and ctx.payload.get("pausable"):
            time.sleep(0.05)  # the crash test kills the process here
        with ctx.engine.begin() as conn:
            if ctx.job.lock_key:
                conn.execute(delete(held).where(held.c.lock_key == ctx.job.lock_key))
            conn.execute(insert(effects).values(job_id=ctx.job.id, worker=ctx.worker_id))
            ctx.complete_in(conn)

    @registry.handler("tick")
    def tick(ctx: JobContext) -> None:
        with ctx.engine.begin() as conn:
            conn.execute(
                insert(slot_runs).values(slot=ctx.payload["slot"], job_id=ctx.job.id, worker=ctx.worker_id)
            )
        with ctx.engine.begin() as conn:
            ctx.complete_in(conn)

    return registry


def active_jobs(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(jobs).where(jobs.c.status.in_(["queued", "running"]))
            ).scalar_one()
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("mode", choices=["drain", "schedule"])
    parser.add_argument("--lease", type=float, default=30)
    parser.add_argument("--heartbeat", type=float, default=5)
    parser.add_argument("--pause-file", type=Path)
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument("--clock-file", type=Path, help="schedule mode: the shared time")
    parser.add_argument("--ack-file", type=Path, help="schedule mode: the time of the last finished tick")
    parser.add_argument("--stop-file", type=Path, help="schedule mode: stop once this file exists")
    args = parser.parse_args()
    log.configure(level="warning", fmt="console")
    engine = make_engine(args.db)
    registry = build_registry(args.pause_file)
    settings = WorkerSettings(
        lease_seconds=args.lease, heartbeat_seconds=args.heartbeat, poll_seconds=0.02, reap_seconds=0.2
    )
    clock = FileClock(args.clock_file) if args.clock_file else None
    worker = Worker(engine, registry, settings=settings, clock=clock, worker_id=f"proc-{os.getpid()}")
    stop = threading.Event()
    if args.ready_file:
        args.ready_file.touch()
    if args.mode == "drain":
        # Keep polling while any job is active: a lock-key job may be briefly blocked behind another worker's.
        while True:
            worker.reap_if_due()
            if worker.run_one():
                continue
            if active_jobs(engine) == 0:
                break
            time.sleep(0.02)
    else:
        assert args.clock_file and args.ack_file and args.stop_file, "schedule mode needs its three files"
        schedule = Schedule(name="every-second", every=dt.timedelta(seconds=1), kind="tick")
        scheduler = Scheduler(
            engine,
            [schedule],
            instance_id=f"sched-{os.getpid()}",
            clock=AckingClock(args.clock_file, args.ack_file),
            tick_seconds=0.05,
        )
        threads = [
            threading.Thread(target=scheduler.run, args=(stop,)),
            threading.Thread(target=worker.run, args=(stop,)),
        ]
        for thread in threads:
            thread.start()
        while not args.stop_file.exists():
            time.sleep(0.05)
        stop.set()
        for thread in threads:
            thread.join()
    engine.dispose()
    sys.exit(0)


if __name__ == "__main__":
    main()

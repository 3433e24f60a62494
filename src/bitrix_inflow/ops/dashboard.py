"""What the console's dashboard shows, read from the state store: every schedule's last and next run, the last day
hour by hour (orders sent to the warehouse, shop quantities written, jobs that died, incidents opened), and the
oldest job waiting for a worker."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.jobs.scheduler import Schedule
from bitrix_inflow.store.tables import incidents, jobs, order_timeline, schedule_slots, stock_pushed


@dataclass(frozen=True)
class ScheduleRun:
    name: str
    every: dt.timedelta
    last: dt.datetime | None
    last_status: str | None  # the status of the job the last slot queued
    next: dt.datetime


@dataclass(frozen=True)
class Hourly:
    hours: tuple[dt.datetime, ...]  # the start of each hour, oldest first
    forwarded: tuple[int, ...]  # picking orders the warehouse accepted
    stock_written: tuple[int, ...]  # products whose shop quantity was last written in that hour
    dead: tuple[int, ...]  # jobs that died (an operator must look)
    incidents: tuple[int, ...]  # incidents opened


@dataclass(frozen=True)
class Dashboard:
    schedules: list[ScheduleRun]
    hourly: Hourly
    counts: dict[JobStatus, int]
    oldest_waiting: dt.timedelta | None  # the oldest due job's wait, None when none waits
    open_incidents: int


def read(
    engine: Engine, connection_id: str, schedules: Sequence[Schedule], *, now: dt.datetime, hours: int = 24
) -> Dashboard:
    start = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=hours - 1)
    with engine.connect() as conn:
        s = schedule_slots.c
        last_slots = dict(
            conn.execute(
                select(s.schedule, func.max(s.slot))
                .where(s.connection_id == connection_id)
                .group_by(s.schedule)
            ).all()
        )
        runs = []
        for schedule in schedules:
            last = queue.as_utc(last_slots.get(schedule.name))
            status = None
            if last is not None:
                job_id = conn.execute(
                    select(s.job_id).where(
                        s.connection_id == connection_id, s.schedule == schedule.name, s.slot == last
                    )
                ).scalar()
                job = queue.get(conn, int(job_id)) if job_id is not None else None
                status = job.status.value if job is not None else None
            runs.append(
                ScheduleRun(
                    schedule.name, schedule.every, last, status, schedule.slot_at(now) + schedule.every
                )
            )
        t, p, j, i = order_timeline.c, stock_pushed.c, jobs.c, incidents.c
        forwarded = conn.execute(
            select(t.at).where(t.connection_id == connection_id, t.kind == "accepted", t.at >= start)
        ).scalars()
        written = conn.execute(
            select(p.pushed_at).where(p.connection_id == connection_id, p.pushed_at >= start)
        ).scalars()
        dead = conn.execute(
            select(j.finished_at).where(
                j.connection_id == connection_id, j.status == JobStatus.DEAD.value, j.finished_at >= start
            )
        ).scalars()
        opened = conn.execute(
            select(i.created_at).where(i.connection_id == connection_id, i.created_at >= start)
        ).scalars()
        open_count = conn.execute(
            select(func.count())
            .select_from(incidents)
            .where(i.connection_id == connection_id, i.state == "open")
        ).scalar_one()
        counts = queue.count_by_status(conn, connection_id=connection_id)
        stats = queue.stats(conn, now=now, connection_id=connection_id)
    hour_starts = tuple(start + dt.timedelta(hours=n) for n in range(hours))
    oldest = min((row.oldest_runnable for row in stats if row.oldest_runnable is not None), default=None)
    return Dashboard(
        schedules=runs,
        hourly=Hourly(
            hours=hour_starts,
            forwarded=_per_hour(forwarded, start, hours),
            stock_written=_per_hour(written, start, hours),
            dead=_per_hour(dead, start, hours),
            incidents=_per_hour(opened, start, hours),
        ),
        counts=counts,
        oldest_waiting=(now - oldest) if oldest is not None else None,
        open_incidents=int(open_count),
    )


def _per_hour(moments: Iterable[dt.datetime | None], start: dt.datetime, hours: int) -> tuple[int, ...]:
    counts = [0] * hours
    for moment in moments:
        if moment is None:
            continue
        index = int((moment - start).total_seconds() // 3600)
        if 0 <= index < hours:
            counts[index] += 1
    return tuple(counts)

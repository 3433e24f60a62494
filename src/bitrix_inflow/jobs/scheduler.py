"""Periodic jobs that fire once per slot across all running instances.

Every instance runs the same ticker. A tick computes the current slot of each schedule (time floored to the
interval) and inserts ``(connection, schedule, slot)`` into ``schedule_slots``; the unique constraint lets exactly
one instance win, and only the winner enqueues the job, in the same transaction. A slot missed while every instance
was down is not replayed: the next slot does the work (periodic jobs are "bring up to date", not "do this once").
A slot that comes while the previous run is still running gets one follow-up run queued behind it (see
``_enqueue_run``), so a slow run delays the next one but never swallows it.

This module holds every statement that touches the ``schedule_slots`` table; the jobs it enqueues go through
``queue`` like all others.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, delete, update

from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import EnqueueResult
from bitrix_inflow.store.sql import insert_ignoring_conflict
from bitrix_inflow.store.tables import schedule_slots
from bitrix_inflow.timing import Clock, SystemClock

log = structlog.get_logger("bitrix_inflow.scheduler")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, kw_only=True)
class Schedule:
    name: str
    every: dt.timedelta
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    connection_id: str = queue.DEFAULT_CONNECTION
    lock_key: str | None = None
    priority: int = 50

    def __post_init__(self) -> None:
        if self.every.total_seconds() < 1:
            raise ValueError(f"schedule {self.name!r}: interval must be at least one second")

    def slot_at(self, now: dt.datetime) -> dt.datetime:
        step = int(self.every.total_seconds() * 1_000_000)
        elapsed = (now - EPOCH) // dt.timedelta(microseconds=1)
        return EPOCH + dt.timedelta(microseconds=elapsed - elapsed % step)


@dataclass(frozen=True)
class Fired:
    schedule: str
    slot: dt.datetime
    job_id: int
    job_created: bool


def tick(engine: Engine, schedules: Sequence[Schedule], *, now: dt.datetime, instance_id: str) -> list[Fired]:
    """Claim the current slot of every schedule; enqueue the job of each slot this instance won."""
    fired: list[Fired] = []
    for schedule in schedules:
        slot = schedule.slot_at(now)
        with engine.begin() as conn:
            slot_id = insert_ignoring_conflict(
                conn,
                schedule_slots,
                {
                    "connection_id": schedule.connection_id,
                    "schedule": schedule.name,
                    "slot": slot,
                    "created_by": instance_id,
                    "created_at": now,
                },
                index_elements=["connection_id", "schedule", "slot"],
            )
            if slot_id is None:
                continue  # another instance owns this slot
            result = _enqueue_run(conn, schedule, slot, now)
            conn.execute(
                update(schedule_slots).where(schedule_slots.c.id == slot_id).values(job_id=result.job_id)
            )
        fired.append(Fired(schedule.name, slot, result.job_id, result.created))
    return fired


def _enqueue_run(conn: Connection, schedule: Schedule, slot: dt.datetime, now: dt.datetime) -> EnqueueResult:
    """Queue the run for ``slot``, or join the one already waiting (``queue.enqueue_coalesced``): a slow periodic
    job delays the next run but never piles up, and never swallows a slot that came while it was running."""
    return queue.enqueue_coalesced(
        conn,
        schedule.kind,
        {**schedule.payload, "schedule": schedule.name, "slot": slot.isoformat()},
        key=f"schedule:{schedule.connection_id}:{schedule.name}",
        now=now,
        connection_id=schedule.connection_id,
        lock_key=schedule.lock_key,
        priority=schedule.priority,
    )


def prune_slots(conn: Connection, *, older_than: dt.datetime) -> int:
    return int(conn.execute(delete(schedule_slots).where(schedule_slots.c.slot < older_than)).rowcount)


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        schedules: Sequence[Schedule] | Callable[[], Sequence[Schedule]],
        *,
        instance_id: str,
        clock: Clock | None = None,
        tick_seconds: float = 1.0,
    ) -> None:
        self.engine = engine
        # A callable is asked at every tick: intervals changed at run time are in force at the next one.
        self._schedules = schedules if callable(schedules) else (lambda fixed=list(schedules): fixed)
        self.instance_id = instance_id
        self.clock = clock or SystemClock()
        self.tick_seconds = tick_seconds

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                for fired in tick(
                    self.engine, self._schedules(), now=self.clock.now(), instance_id=self.instance_id
                ):
                    log.info(
                        "schedule.fired",
                        schedule=fired.schedule,
                        slot=fired.slot.isoformat(),
                        job_id=fired.job_id,
                        job_created=fired.job_created,
                    )
            except Exception:  # a database hiccup must not stop the ticker; the next tick retries the slot
                log.exception("schedule.tick_failed")
            stop.wait(self.tick_seconds)

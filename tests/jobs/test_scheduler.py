from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.scheduler import Schedule, prune_slots, tick
from bitrix_inflow.store.tables import jobs, schedule_slots

STOCK = Schedule(
    name="stock", every=dt.timedelta(minutes=5), kind="sync.stock", payload={"warehouse": "main"}
)


def test_slots_are_the_time_floored_to_the_interval() -> None:
    at = dt.datetime(2026, 11, 27, 10, 7, 59, 999999, tzinfo=dt.UTC)
    assert STOCK.slot_at(at) == dt.datetime(2026, 11, 27, 10, 5, tzinfo=dt.UTC)
    assert STOCK.slot_at(at + dt.timedelta(microseconds=1)) == dt.datetime(2026, 11, 27, 10, 5, tzinfo=dt.UTC)
    assert STOCK.slot_at(dt.datetime(2026, 11, 27, 10, 10, tzinfo=dt.UTC)) == dt.datetime(
        2026, 11, 27, 10, 10, tzinfo=dt.UTC
    )


def test_sub_second_intervals_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one second"):
        Schedule(name="x", every=dt.timedelta(milliseconds=10), kind="k")


def test_each_slot_fires_once_whoever_ticks(engine: Engine, clock: Any) -> None:
    first = tick(engine, [STOCK], now=clock.now(), instance_id="a")
    assert [(f.schedule, f.job_created) for f in first] == [("stock", True)]
    assert tick(engine, [STOCK], now=clock.now(), instance_id="b") == []
    clock.advance(60)  # same slot
    assert tick(engine, [STOCK], now=clock.now(), instance_id="c") == []
    with engine.connect() as conn:
        (job,) = queue.list_jobs(conn)
    assert job.kind == "sync.stock"
    assert job.payload == {"warehouse": "main", "schedule": "stock", "slot": first[0].slot.isoformat()}


def test_a_slow_periodic_job_does_not_pile_up(engine: Engine, clock: Any) -> None:
    (a,) = tick(engine, [STOCK], now=clock.now(), instance_id="a")
    clock.advance(300)
    (b,) = tick(engine, [STOCK], now=clock.now(), instance_id="a")
    assert b.slot > a.slot and not b.job_created and b.job_id == a.job_id
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(jobs)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(schedule_slots)).scalar_one() == 2


def test_old_slots_are_pruned(engine: Engine, clock: Any) -> None:
    tick(engine, [STOCK], now=clock.now(), instance_id="a")
    clock.advance(3600)
    tick(engine, [STOCK], now=clock.now(), instance_id="a")
    with engine.begin() as conn:
        assert prune_slots(conn, older_than=clock.now() - dt.timedelta(minutes=30)) == 1


def test_a_slot_that_arrives_while_the_last_run_is_running_still_runs_after_it(
    engine: Engine, clock: Any
) -> None:
    """The running job read its data before this slot began, so it cannot stand in for it: one follow-up run is
    queued behind it (never beside it), and later slots join that follow-up instead of piling up."""
    (first,) = tick(engine, [STOCK], now=clock.now(), instance_id="a")
    running = queue.claim(engine, "w", now=clock.now(), lease=dt.timedelta(minutes=30))
    assert running is not None and running.id == first.job_id
    clock.advance(300)
    (second,) = tick(engine, [STOCK], now=clock.now(), instance_id="a")
    assert second.job_created and second.job_id != first.job_id
    clock.advance(300)
    (third,) = tick(engine, [STOCK], now=clock.now(), instance_id="b")
    assert not third.job_created and third.job_id == second.job_id
    # The follow-up waits for the running one: two runs of one schedule never overlap.
    assert queue.claim(engine, "w2", now=clock.now(), lease=dt.timedelta(minutes=30)) is None
    with engine.begin() as conn:
        assert queue.mark_done(conn, running, "w", now=clock.now())
    follow_up = queue.claim(engine, "w2", now=clock.now(), lease=dt.timedelta(minutes=30))
    assert follow_up is not None and follow_up.id == second.job_id
    assert follow_up.payload["slot"] == second.slot.isoformat()

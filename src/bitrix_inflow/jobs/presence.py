"""Every statement that touches the ``workers`` table: which workers, on which machines, are alive.

The rows are for operators and alerts (``bitrix_inflow_workers_alive``); correctness never depends on them, since
leases in the ``jobs`` table decide who owns a job.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, delete, func, select

from bitrix_inflow.store.sql import dialect_insert
from bitrix_inflow.store.tables import workers


def touch(conn: Connection, worker_id: str, *, hostname: str, pid: int, now: dt.datetime) -> None:
    """Record that a worker is alive (insert on its first beat, refresh ``heartbeat_at`` afterwards)."""
    values = {"id": worker_id, "hostname": hostname, "pid": pid, "started_at": now, "heartbeat_at": now}
    stmt = dialect_insert(conn, workers).values(**values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={"heartbeat_at": now}))


def remove(conn: Connection, worker_id: str) -> None:
    conn.execute(delete(workers).where(workers.c.id == worker_id))


def prune_vanished(conn: Connection, *, silent_since: dt.datetime) -> int:
    """Drop the rows of workers that crashed or were stopped without unregistering (kill -9, power loss)."""
    return int(conn.execute(delete(workers).where(workers.c.heartbeat_at < silent_since)).rowcount)


def count_alive(conn: Connection, *, since: dt.datetime) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(workers).where(workers.c.heartbeat_at >= since)
        ).scalar_one()
    )

"""An order as an operator looks into it: found by the shop's id or number or a picking order, and seen whole (its
binding, picking orders, timeline, incidents, jobs and marked units)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import Job
from bitrix_inflow.store import incidents
from bitrix_inflow.store import marking as ledger
from bitrix_inflow.store import orders as store
from bitrix_inflow.sync.orders.notice import order_lock_key


@dataclass(frozen=True)
class OrderView:
    binding: store.Binding
    parts: list[store.Part]
    timeline: list[tuple[dt.datetime, str, str, Any]]
    incidents: list[incidents.Incident]
    jobs: list[Job]
    units: list[ledger.Unit]


def find(engine: Engine, connection_id: str, text: str | None, *, limit: int = 50) -> list[store.Found]:
    with engine.connect() as conn:
        return store.find_orders(conn, connection_id, text, limit=limit)


def view(engine: Engine, connection_id: str, order_id: int) -> OrderView | None:
    """Everything the service knows of the order; None when it has never seen it."""
    with engine.connect() as conn:
        binding = store.load_binding(conn, connection_id, order_id)
        if binding is None:
            return None
        return OrderView(
            binding=binding,
            parts=store.parts_of(conn, connection_id, order_id),
            timeline=store.timeline(conn, connection_id, order_id),
            incidents=incidents.of_order(conn, connection_id, order_id),
            jobs=queue.list_jobs(conn, lock_key=order_lock_key(connection_id, order_id), limit=50),
            units=ledger.listed(conn, connection_id, order_id=order_id),
        )

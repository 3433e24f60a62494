"""Opening an incident, in the caller's transaction: the row (once per order, kind and subject, whoever asks how
often), and the job that tells the manager, queued with it, so that a crash can lose neither."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from bitrix_inflow.domain.incidents import ways_out
from bitrix_inflow.jobs import queue
from bitrix_inflow.store import incidents as store

TELL_KIND = "incidents.tell"


def raise_incident(
    conn: Connection,
    connection_id: str,
    order_id: int,
    *,
    kind: str,
    subject: str,
    detail: Mapping[str, Any],
    now: dt.datetime,
) -> int | None:
    """The incident and its telling job; the new incident's id, or None when it was open (or settled) already."""
    incident_id = store.open_incident(
        conn,
        connection_id,
        order_id,
        kind=kind,
        subject=subject,
        detail=detail,
        ways_out=[w.value for w in ways_out(kind)],
        now=now,
    )
    if incident_id is not None:
        queue_telling(conn, connection_id, incident_id, now=now)
    return incident_id


def queue_telling(conn: Connection, connection_id: str, incident_id: int, *, now: dt.datetime) -> None:
    queue.enqueue_coalesced(
        conn,
        TELL_KIND,
        {"incident_id": incident_id},
        key=f"{TELL_KIND}:{incident_id}",
        now=now,
        connection_id=connection_id,
        lock_key=f"incident:{incident_id}",
        priority=10,  # a customer's order is stuck until someone decides
    )

"""The one home of ``onboarding_snapshots``' SQL; every function runs in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from bitrix_inflow.store.tables import onboarding_snapshots


@dataclass(frozen=True)
class Snapshot:
    taken_at: dt.datetime
    taken_by: str
    facts: Mapping[str, Any]
    choices: Mapping[str, Any]


def record(
    conn: Connection,
    connection_id: str,
    *,
    facts: Mapping[str, Any],
    choices: Mapping[str, Any],
    now: dt.datetime,
    by: str,
) -> None:
    conn.execute(
        insert(onboarding_snapshots).values(
            connection_id=connection_id, taken_at=now, taken_by=by, facts=dict(facts), choices=dict(choices)
        )
    )


def latest(conn: Connection, connection_id: str) -> Snapshot | None:
    row = conn.execute(
        select(onboarding_snapshots)
        .where(onboarding_snapshots.c.connection_id == connection_id)
        .order_by(onboarding_snapshots.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return Snapshot(row.taken_at, row.taken_by, row.facts, row.choices)

"""The incidents table and its audit trail: the one home of their SQL. Every function runs in the caller's
transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select, update

from bitrix_inflow.domain.incidents import ways_out as kind_ways_out
from bitrix_inflow.store.sql import insert_ignoring_conflict
from bitrix_inflow.store.tables import incident_audit, incidents

SERVICE = "service"


@dataclass(frozen=True)
class Incident:
    id: int
    connection_id: str
    order_id: int
    kind: str
    subject: str
    detail: Mapping[str, Any]
    ways_out: tuple[str, ...]
    state: str  # open | resolving (a way out chosen, being carried out) | resolved
    notice_state: str  # pending | telling | told | not_needed
    notice_kind: str | None
    notice_ref: str | None
    resolution: Mapping[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime
    resolved_at: dt.datetime | None


@dataclass(frozen=True)
class AuditEntry:
    at: dt.datetime
    actor: str
    action: str
    detail: Mapping[str, Any]


def open_incident(
    conn: Connection,
    connection_id: str,
    order_id: int,
    *,
    kind: str,
    subject: str,
    detail: Mapping[str, Any],
    ways_out: Sequence[str],
    now: dt.datetime,
) -> int | None:
    """The incident, once per (order, kind, subject) whoever asks how often: its id when it is new, else None."""
    values = {
        "connection_id": connection_id,
        "bitrix_order_id": order_id,
        "kind": kind,
        "subject": subject,
        "detail": dict(detail),
        "ways_out": list(ways_out),
        "state": "open",
        "notice_state": "pending",
        "created_at": now,
        "updated_at": now,
    }
    index = ["connection_id", "bitrix_order_id", "kind", "subject"]
    new_id = insert_ignoring_conflict(conn, incidents, values, index)
    if new_id is None:
        return None
    add_audit(conn, int(new_id), SERVICE, "opened", {"kind": kind, "subject": subject}, now=now)
    return int(new_id)


def load(conn: Connection, incident_id: int) -> Incident | None:
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
    return None if row is None else _incident(row)


def find(conn: Connection, connection_id: str, order_id: int, *, kind: str, subject: str) -> Incident | None:
    """The incident of this order, kind and subject (there is one at most), in whatever state."""
    c = incidents.c
    row = conn.execute(
        select(incidents).where(
            c.connection_id == connection_id,
            c.bitrix_order_id == order_id,
            c.kind == kind,
            c.subject == subject,
        )
    ).first()
    return None if row is None else _incident(row)


def of_order(conn: Connection, connection_id: str, order_id: int) -> list[Incident]:
    c = incidents.c
    rows = conn.execute(
        select(incidents)
        .where(c.connection_id == connection_id, c.bitrix_order_id == order_id)
        .order_by(c.id)
    ).all()
    return [_incident(row) for row in rows]


def listed(
    conn: Connection,
    connection_id: str,
    *,
    states: Collection[str] = ("open", "resolving"),
    kinds: Collection[str] = (),
    limit: int = 100,
) -> list[Incident]:
    """Newest first."""
    c = incidents.c
    query = select(incidents).where(c.connection_id == connection_id, c.state.in_(list(states)))
    if kinds:
        query = query.where(c.kind.in_(list(kinds)))
    return [_incident(row) for row in conn.execute(query.order_by(c.id.desc()).limit(limit)).all()]


def orders_with_open(conn: Connection, connection_id: str, kind: str, *, limit: int) -> list[int]:
    c = incidents.c
    rows = conn.execute(
        select(c.bitrix_order_id)
        .where(c.connection_id == connection_id, c.kind == kind, c.state == "open")
        .distinct()
        .order_by(c.bitrix_order_id)
        .limit(limit)
    ).all()
    return [int(order_id) for (order_id,) in rows]


# Ways out that change an order's lines in the shop over several writes (a forwarding run waits for them).
LINE_CHANGING_WAYS = ("ship_rest", "substitute")


def lines_changing(conn: Connection, connection_id: str, order_id: int) -> int | None:
    """The incident whose way out is changing the order's lines now (being carried out), if any."""
    c = incidents.c
    rows = conn.execute(
        select(c.id, c.resolution).where(
            c.connection_id == connection_id, c.bitrix_order_id == order_id, c.state == "resolving"
        )
    ).all()
    return next(
        (int(i) for i, resolution in rows if (resolution or {}).get("way_out") in LINE_CHANGING_WAYS), None
    )


def orders_in_hand(conn: Connection, connection_id: str) -> set[int]:
    """Orders with an incident a person has not settled yet (open, or its way out being carried out)."""
    c = incidents.c
    rows = conn.execute(
        select(c.bitrix_order_id)
        .where(c.connection_id == connection_id, c.state.in_(["open", "resolving"]))
        .distinct()
    ).all()
    return {int(order_id) for (order_id,) in rows}


def orders_with(conn: Connection, connection_id: str, kind: str) -> set[int]:
    """Orders that ever had an incident of ``kind``, in any state (a return received stays a fact once settled)."""
    c = incidents.c
    rows = conn.execute(
        select(c.bitrix_order_id).where(c.connection_id == connection_id, c.kind == kind).distinct()
    ).all()
    return {int(order_id) for (order_id,) in rows}


def note(conn: Connection, incident_id: int, changes: Mapping[str, Any], *, now: dt.datetime) -> None:
    """Add to a resolving incident's resolution what carrying it out has done so far (found again on a retry)."""
    row = conn.execute(select(incidents.c.resolution).where(incidents.c.id == incident_id)).first()
    merged = {**dict((row[0] if row else None) or {}), **dict(changes)}
    conn.execute(
        update(incidents).where(incidents.c.id == incident_id).values(resolution=merged, updated_at=now)
    )


def refresh_detail(
    conn: Connection,
    connection_id: str,
    order_id: int,
    *,
    kind: str,
    subject: str,
    detail: Mapping[str, Any],
    now: dt.datetime,
) -> bool:
    """An open incident's detail replaced by what is wrong now (the same incident, told once)."""
    c = incidents.c
    done = conn.execute(
        update(incidents)
        .where(
            c.connection_id == connection_id,
            c.bitrix_order_id == order_id,
            c.kind == kind,
            c.subject == subject,
            c.state == "open",
        )
        .values(detail=dict(detail), updated_at=now)
    )
    return bool(done.rowcount)


def stuck_resolving(
    conn: Connection, connection_id: str, *, older_than: dt.datetime, limit: int = 500
) -> list[int]:
    """Incidents whose way out has been carried out for too long (its job gave up): to be queued again."""
    c = incidents.c
    rows = conn.execute(
        select(c.id)
        .where(c.connection_id == connection_id, c.state == "resolving", c.updated_at < older_than)
        .order_by(c.id)
        .limit(limit)
    ).all()
    return [int(i) for (i,) in rows]


def untold(conn: Connection, connection_id: str, *, older_than: dt.datetime, limit: int = 500) -> list[int]:
    """Open incidents whose manager is still not told, last touched before ``older_than``."""
    c = incidents.c
    rows = conn.execute(
        select(c.id)
        .where(
            c.connection_id == connection_id,
            c.state == "open",
            c.notice_state.in_(["pending", "telling"]),
            c.updated_at < older_than,
        )
        .order_by(c.id)
        .limit(limit)
    ).all()
    return [int(i) for (i,) in rows]


def settle(
    conn: Connection, connection_id: str, order_id: int, *, kind: str, why: str, now: dt.datetime
) -> int:
    """The order's open incidents of ``kind`` are resolved by the service itself (what they asked for happened
    after all)."""
    c = incidents.c
    ids = [
        int(i)
        for (i,) in conn.execute(
            select(c.id).where(
                c.connection_id == connection_id,
                c.bitrix_order_id == order_id,
                c.kind == kind,
                c.state == "open",
            )
        ).all()
    ]
    for incident_id in ids:
        resolve(conn, incident_id, resolution={"by": SERVICE, "why": why}, actor=SERVICE, now=now)
    return len(ids)


def resolve(
    conn: Connection,
    incident_id: int,
    *,
    resolution: Mapping[str, Any],
    actor: str,
    now: dt.datetime,
    from_states: Collection[str] = ("open", "resolving"),
) -> bool:
    """Open (or being resolved by the service's job) → resolved with what was done; compare-and-set: a second
    resolution changes nothing. A person's choice passes ``from_states=("open",)``: it never overrides one being
    carried out."""
    c = incidents.c
    done = conn.execute(
        update(incidents)
        .where(c.id == incident_id, c.state.in_(list(from_states)))
        .values(state="resolved", resolution=dict(resolution), resolved_at=now, updated_at=now)
    )
    if done.rowcount != 1:
        return False
    add_audit(conn, incident_id, actor, "resolved", resolution, now=now)
    return True


def choose(
    conn: Connection, incident_id: int, *, resolution: Mapping[str, Any], actor: str, now: dt.datetime
) -> bool:
    """Open → resolving: a way out the service carries out (compare-and-set: chosen once)."""
    c = incidents.c
    done = conn.execute(
        update(incidents)
        .where(c.id == incident_id, c.state == "open")
        .values(state="resolving", resolution=dict(resolution), updated_at=now)
    )
    if done.rowcount != 1:
        return False
    add_audit(conn, incident_id, actor, "chose", resolution, now=now)
    return True


# What a way out did that cannot be undone, kept when the incident opens again, for the next way out to know.
DONE_FOR_GOOD = ("failed_cancelled",)


def reopen(conn: Connection, incident_id: int, *, why: str, now: dt.datetime) -> bool:
    """Resolving → open again: the way out could not be carried out (the trail says why); a person chooses again.
    What it did for good (the failed picking order cancelled) stays in the resolution."""
    c = incidents.c
    was = conn.execute(select(c.resolution).where(c.id == incident_id)).scalar_one_or_none() or {}
    kept = {key: was[key] for key in DONE_FOR_GOOD if key in was}
    done = conn.execute(
        update(incidents)
        .where(c.id == incident_id, c.state == "resolving")
        .values(state="open", resolution=kept or None, updated_at=now)
    )
    if done.rowcount != 1:
        return False
    add_audit(conn, incident_id, SERVICE, "failed", {"why": why}, now=now)
    return True


def move_notice(
    conn: Connection,
    incident_id: int,
    *,
    expected: Collection[str],
    state: str,
    now: dt.datetime,
    kind: str | None = None,
    ref: str | None = None,
) -> bool:
    """The manager's notice of the incident moves on (compare-and-set on its state)."""
    c = incidents.c
    values: dict[str, Any] = {"notice_state": state, "updated_at": now}
    if kind is not None:
        values["notice_kind"] = kind
    if ref is not None:
        values["notice_ref"] = ref
    done = conn.execute(
        update(incidents).where(c.id == incident_id, c.notice_state.in_(list(expected))).values(**values)
    )
    return bool(done.rowcount == 1)


def add_audit(
    conn: Connection,
    incident_id: int,
    actor: str,
    action: str,
    detail: Mapping[str, Any],
    *,
    now: dt.datetime,
) -> None:
    conn.execute(
        incident_audit.insert().values(
            incident_id=incident_id, at=now, actor=actor, action=action, detail=dict(detail)
        )
    )


def trail(conn: Connection, incident_id: int) -> list[AuditEntry]:
    a = incident_audit.c
    rows = conn.execute(
        select(a.at, a.actor, a.action, a.detail).where(a.incident_id == incident_id).order_by(a.id)
    ).all()
    return [AuditEntry(at, actor, action, dict(detail or {})) for at, actor, action, detail in rows]


def _incident(row: Any) -> Incident:
    return Incident(
        id=int(row.id),
        connection_id=row.connection_id,
        order_id=int(row.bitrix_order_id),
        kind=row.kind,
        subject=row.subject,
        detail=dict(row.detail or {}),
        # Carried over from the conflicts table without ways out: those of its kind.
        ways_out=tuple(row.ways_out or (w.value for w in kind_ways_out(row.kind))),
        state=row.state,
        notice_state=row.notice_state,
        notice_kind=row.notice_kind,
        notice_ref=row.notice_ref,
        resolution=dict(row.resolution) if row.resolution else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        resolved_at=row.resolved_at,
    )


def open_by_kind(conn: Connection) -> dict[tuple[str, str], int]:
    """Open incidents of every connection, by (connection, kind) (for /metrics)."""
    c = incidents.c
    rows = conn.execute(
        select(c.connection_id, c.kind, func.count())
        .where(c.state == "open")
        .group_by(c.connection_id, c.kind)
    ).all()
    return {(str(connection), str(kind)): int(count) for connection, kind, count in rows}

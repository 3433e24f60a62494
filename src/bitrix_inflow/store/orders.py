"""The orders' tables, one home for their SQL: the binder of Bitrix orders, their picking orders and lines, the sync
cursors, the WMS webhook dedupe, conflicts and the timeline.

The guarantees live in the schema (``store/tables.py``): one live picking order per (order, zone, carrier), one per
(order, generation, part number), one per warehouse reference and per idempotency key. These functions turn the
database's refusals into the service's errors; state changes are compare-and-set, so two workers never both move
the same part.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bitrix_inflow.domain.split import PlanLine
from bitrix_inflow.errors import ConflictError
from bitrix_inflow.store.sql import dialect_insert, param, prepared, select_in
from bitrix_inflow.store.tables import (
    LIVE_PART_STATES,
    inflow_events,
    order_bindings,
    order_part_lines,
    order_parts,
    order_timeline,
    sync_cursors,
)

# Parts whose units the warehouse has not reserved yet: not sent, on their way, or refused for want of stock. The
# stock sync holds these back from the shop (the oversell guard).
MAX_ECHOES = 12  # a status write and a few shipment writes in flight
UNRESERVED = ("planned", "sending", "short", "waiting")
# ("waiting": a replacement whose predecessor still holds the units; counting both over-holds for a moment, which
# is the safe side, and covers a crash between the warehouse's cancel and the local commit.)

# -- cursors ------------------------------------------------------------------------------------------------------


def load_cursor(conn: Connection, connection_id: str, name: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(sync_cursors.c.value).where(
            sync_cursors.c.connection_id == connection_id, sync_cursors.c.name == name
        )
    ).first()
    return None if row is None else dict(row[0])


def save_cursor(
    conn: Connection, connection_id: str, name: str, value: Mapping[str, Any], *, now: dt.datetime
) -> None:
    """In the caller's transaction: the cursor moves with the work it covers."""
    stmt = dialect_insert(conn, sync_cursors).values(
        connection_id=connection_id, name=name, value=dict(value), updated_at=now
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["connection_id", "name"], set_={"value": dict(value), "updated_at": now}
        )
    )


# -- bindings -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    bitrix_order_id: int
    account_number: str | None
    state: str
    reason: str | None
    generation: int
    fingerprint: str | None
    applied_status: str | None
    seen_version: int | None = None
    shipments_written: Mapping[str, Any] | None = None


def load_binding(conn: Connection, connection_id: str, order_id: int) -> Binding | None:
    def build() -> Any:
        c = order_bindings.c
        return select(
            c.bitrix_order_id,
            c.account_number,
            c.state,
            c.reason,
            c.generation,
            c.fingerprint,
            c.applied_status,
            c.seen_version,
            c.shipments_written,
        ).where(c.connection_id == bindparam("p_connection"), c.bitrix_order_id == bindparam("p_order"))

    stmt = prepared("load_binding", build)
    row = conn.execute(stmt, {"p_connection": connection_id, "p_order": order_id}).first()
    return None if row is None else Binding(int(row[0]), *row[1:])


def save_binding(
    conn: Connection,
    connection_id: str,
    order_id: int,
    *,
    state: str,
    now: dt.datetime,
    reason: str | None = None,
    account_number: str | None = None,
    fingerprint: str | None = None,
    seen_version: int | None = None,
    generation: int | None = None,
) -> None:
    """Create the binding or move it to ``state``; what is not given (generation, fingerprint, seen version,
    applied status) is kept."""
    values: dict[str, Any] = {"state": state, "reason": reason, "updated_at": now}
    if account_number is not None:
        values["account_number"] = account_number
    if fingerprint is not None:
        values["fingerprint"] = fingerprint
    if seen_version is not None:
        values["seen_version"] = seen_version
    if generation is not None:
        values["generation"] = generation
    names = tuple(sorted(values))

    def build() -> Any:
        t = order_bindings
        inserted = {"connection_id", "bitrix_order_id", "created_at", "generation", *names}
        stmt = dialect_insert(conn, t).values({n: param(t, n) for n in sorted(inserted)})
        return stmt.on_conflict_do_update(
            index_elements=["connection_id", "bitrix_order_id"], set_={n: param(t, n, "s_") for n in names}
        )

    stmt = prepared(("save_binding", conn.dialect.name, names), build)
    params = {f"p_{n}": v for n, v in values.items()} | {f"s_{n}": v for n, v in values.items()}
    params |= {"p_connection_id": connection_id, "p_bitrix_order_id": order_id, "p_created_at": now}
    params.setdefault("p_generation", 1)
    conn.execute(stmt, params)


def bindings_in(conn: Connection, connection_id: str, states: Collection[str], *, limit: int) -> list[int]:
    """Orders whose binding is in one of ``states``, the longest untouched first."""
    c = order_bindings.c
    rows = conn.execute(
        select(c.bitrix_order_id)
        .where(c.connection_id == connection_id, c.state.in_(list(states)))
        .order_by(c.updated_at, c.bitrix_order_id)
        .limit(limit)
    ).all()
    return [int(order_id) for (order_id,) in rows]


def expect_echoes(
    conn: Connection, connection_id: str, order_id: int, count: int, *, now: dt.datetime
) -> None:
    """The service's own writes will come back as ``count`` shop events about the order."""
    if count > 0:

        def build() -> Any:
            # Bounded: with no event handler configured nothing ever spends them, and a stale pile would swallow
            # real events once one is (each only delays a change to the next poll, but not without end).
            c = order_bindings.c
            grown = c.echoes + bindparam("p_count", type_=c.echoes.type)
            return (
                update(order_bindings)
                .where(
                    c.connection_id == bindparam("p_connection"), c.bitrix_order_id == bindparam("p_order")
                )
                .values(
                    echoes=case((grown > MAX_ECHOES, MAX_ECHOES), else_=grown), updated_at=bindparam("p_now")
                )
            )

        conn.execute(
            prepared("expect_echoes", build),
            {"p_connection": connection_id, "p_order": order_id, "p_count": count, "p_now": now},
        )


def consume_echo(conn: Connection, connection_id: str, order_id: int) -> bool:
    """True when a shop event about the order was expected as the echo of the service's own write (and is now
    spent); False: someone else changed the order, or it is new."""

    def build() -> Any:
        c = order_bindings.c
        return (
            update(order_bindings)
            .where(
                c.connection_id == bindparam("p_connection"),
                c.bitrix_order_id == bindparam("p_order"),
                c.echoes > 0,
            )
            .values(echoes=c.echoes - 1)
        )

    result = conn.execute(
        prepared("consume_echo", build), {"p_connection": connection_id, "p_order": order_id}
    )
    return bool(result.rowcount == 1)


def spend_echoes(conn: Connection, connection_id: str, order_id: int) -> bool:
    """Every echo still expected of the order spent at once; True when there was one. For a queue that merges
    an object's changes into one record, however many writes it stands for."""
    c = order_bindings.c
    result = conn.execute(
        update(order_bindings)
        .where(c.connection_id == connection_id, c.bitrix_order_id == order_id, c.echoes > 0)
        .values(echoes=0)
    )
    return bool(result.rowcount == 1)


def order_of_shipment(conn: Connection, connection_id: str, shipment_id: int) -> int | None:
    """The Bitrix order a shipment belongs to, when one of the service's picking orders carries it."""
    p, ln = order_parts.c, order_part_lines.c
    row = conn.execute(
        select(p.bitrix_order_id)
        .select_from(order_part_lines.join(order_parts, ln.part_id == p.id))
        .where(p.connection_id == connection_id, ln.shipment_id == shipment_id)
        .limit(1)
    ).first()
    return None if row is None else int(row[0])


def touch_binding(conn: Connection, connection_id: str, order_id: int, *, now: dt.datetime) -> None:
    _update_binding(conn, connection_id, order_id, now=now)


def set_polled_version(
    conn: Connection, connection_id: str, order_id: int, version: int, *, now: dt.datetime
) -> None:
    """The order version a poll just saw (only ever moves up)."""

    def build() -> Any:
        c = order_bindings.c
        return (
            update(order_bindings)
            .where(
                c.connection_id == bindparam("p_connection"),
                c.bitrix_order_id == bindparam("p_order"),
                (c.polled_version.is_(None)) | (c.polled_version < bindparam("p_version")),
            )
            .values(polled_version=bindparam("p_version"))
        )

    conn.execute(
        prepared("set_polled_version", build),
        {"p_connection": connection_id, "p_order": order_id, "p_version": version},
    )


def polled_versions(conn: Connection, connection_id: str, order_ids: Collection[int]) -> dict[int, int]:
    """Of ``order_ids``, the version the latest poll saw, where one did."""

    def build() -> Any:
        c = order_bindings.c
        return select(c.bitrix_order_id, c.polled_version).where(
            c.connection_id == bindparam("p_connection"),
            c.bitrix_order_id.in_(bindparam("p_orders", expanding=True)),
            c.polled_version.is_not(None),
        )

    rows = conn.execute(
        prepared("polled_versions", build), {"p_connection": connection_id, "p_orders": list(order_ids)}
    )
    return {int(order_id): int(version) for order_id, version in rows}


def set_seen_version(
    conn: Connection, connection_id: str, order_id: int, version: int, *, now: dt.datetime
) -> None:
    """The shop's order version the service has accounted for (its own writes reached it, or it read it)."""
    _update_binding(conn, connection_id, order_id, now=now, seen_version=version)


def set_shipments_written(
    conn: Connection, connection_id: str, order_id: int, written: Mapping[str, Any], *, now: dt.datetime
) -> None:
    """What the service last wrote to each of the order's shipments (only a change is written again)."""
    _update_binding(conn, connection_id, order_id, now=now, shipments_written=dict(written))


def set_fingerprint(
    conn: Connection, connection_id: str, order_id: int, fingerprint: str, *, now: dt.datetime
) -> None:
    """What the order's plan inputs were when the service last accounted for them (an edit changes it)."""
    _update_binding(conn, connection_id, order_id, now=now, fingerprint=fingerprint)


def set_applied_status(
    conn: Connection, connection_id: str, order_id: int, status: str, *, now: dt.datetime
) -> None:
    """The Inflow aggregate whose Bitrix status the order now shows (statuses only move forward from it)."""
    _update_binding(conn, connection_id, order_id, now=now, applied_status=status)


def _update_binding(
    conn: Connection, connection_id: str, order_id: int, *, now: dt.datetime, **values: Any
) -> None:
    names = tuple(sorted(values))

    def build() -> Any:
        t = order_bindings
        return (
            update(t)
            .where(
                t.c.connection_id == bindparam("w_connection"), t.c.bitrix_order_id == bindparam("w_order")
            )
            .values({n: param(t, n) for n in ("updated_at", *names)})
        )

    params = {f"p_{n}": v for n, v in values.items()}
    conn.execute(
        prepared(("update_binding", names), build),
        {"w_connection": connection_id, "w_order": order_id, "p_updated_at": now, **params},
    )


# -- picking orders -------------------------------------------------------------------------------------------------


# A picking order's line is the plan's line (basket item, shipment, SKU, units): one type from plan to table.
PartLine = PlanLine


@dataclass(frozen=True)
class NewPart:
    part_no: int
    warehouse: str
    zone: str
    carrier: str
    external_ref: str
    lines: tuple[PartLine, ...]
    state: str = "planned"  # "waiting": a replacement sent only once the part it replaces is cancelled
    given_codes: Mapping[str, Sequence[str]] | None = (
        None  # line_no → codes the shop holds, sent with the part
    )


@dataclass(frozen=True)
class Part:
    id: int
    bitrix_order_id: int
    generation: int
    part_no: int
    warehouse: str
    zone: str
    carrier: str
    external_ref: str
    idempotency_key: str
    wms_order_id: str | None
    state: str
    wms_status: str | None
    wms_version: int | None
    lines: tuple[PartLine, ...] = ()
    tracking_carrier: str | None = None
    tracking_number: str | None = None
    marking: Mapping[str, Any] | None = None  # the marked lines' codes and packages, as reported at packing
    marking_state: str | None = None  # captured | checked | written | problem | by_hand
    given_codes: Mapping[str, Sequence[str]] | None = None  # line_no → the shop's codes sent with the part


def plan_parts(
    conn: Connection,
    connection_id: str,
    order_id: int,
    generation: int,
    parts: Sequence[NewPart],
    *,
    now: dt.datetime,
) -> list[Part]:
    """Store a plan before anything is sent: each part with its lines and an idempotency key chosen now, once,
    so every retry of its creation sends the same key. A second plan of the same generation, or a live part for
    a (zone, carrier) that has one, is refused by the schema. Returns the parts as stored."""
    stored: list[Part] = []
    insert_part = prepared(
        ("plan_part", conn.dialect.name), lambda: order_parts.insert().returning(order_parts.c.id)
    )
    insert_lines = prepared("plan_lines", order_part_lines.insert)
    try:
        with conn.begin_nested():
            for part in parts:
                key = uuid.uuid4().hex
                part_id = conn.execute(
                    insert_part,
                    {
                        "connection_id": connection_id,
                        "bitrix_order_id": order_id,
                        "generation": generation,
                        "part_no": part.part_no,
                        "warehouse": part.warehouse,
                        "zone": part.zone,
                        "carrier": part.carrier,
                        "external_ref": part.external_ref,
                        "idempotency_key": key,
                        "state": part.state,
                        "given_codes": {k: list(v) for k, v in part.given_codes.items()}
                        if part.given_codes
                        else None,
                        "created_at": now,
                        "updated_at": now,
                    },
                ).scalar_one()
                conn.execute(
                    insert_lines,
                    [
                        {
                            "part_id": part_id,
                            "line_no": number,
                            "basket_id": line.basket_id,
                            "shipment_id": line.shipment_id,
                            "sku": line.sku,
                            "qty": line.qty,
                        }
                        for number, line in enumerate(part.lines, start=1)
                    ],
                )
                stored.append(
                    Part(
                        id=int(part_id),
                        bitrix_order_id=order_id,
                        generation=generation,
                        part_no=part.part_no,
                        warehouse=part.warehouse,
                        zone=part.zone,
                        carrier=part.carrier,
                        external_ref=part.external_ref,
                        idempotency_key=key,
                        wms_order_id=None,
                        state=part.state,
                        wms_status=None,
                        wms_version=None,
                        lines=tuple(part.lines),
                        given_codes=part.given_codes,
                    )
                )
    except IntegrityError as exc:
        raise ConflictError(
            f"order {order_id}: generation {generation} is planned already, or one of its (zone, carrier) groups "
            "still has a live picking order"
        ) from exc
    return stored


def parts_of(conn: Connection, connection_id: str, order_id: int) -> list[Part]:
    """The order's parts with their lines, in one statement (parts joined to their lines)."""

    def build() -> Any:
        p, ln = order_parts.c, order_part_lines.c
        return (
            select(
                p.id,
                p.bitrix_order_id,
                p.generation,
                p.part_no,
                p.warehouse,
                p.zone,
                p.carrier,
                p.external_ref,
                p.idempotency_key,
                p.wms_order_id,
                p.state,
                p.wms_status,
                p.wms_version,
                p.tracking_carrier,
                p.tracking_number,
                p.marking,
                p.marking_state,
                p.given_codes,
                ln.basket_id,
                ln.shipment_id,
                ln.sku,
                ln.qty,
            )
            .select_from(order_parts.outerjoin(order_part_lines, ln.part_id == p.id))
            .where(p.connection_id == bindparam("p_connection"), p.bitrix_order_id == bindparam("p_order"))
            .order_by(p.generation, p.part_no, ln.line_no)
        )

    rows = conn.execute(prepared("parts_of", build), {"p_connection": connection_id, "p_order": order_id})
    heads: dict[int, Any] = {}
    lines: dict[int, list[PartLine]] = {}
    for row in rows:
        part_id = int(row.id)
        heads.setdefault(part_id, row)
        found = lines.setdefault(part_id, [])
        if row.sku is not None:
            found.append(PartLine(int(row.basket_id), int(row.shipment_id), row.sku, int(row.qty)))
    return [
        Part(
            id=part_id,
            bitrix_order_id=int(row.bitrix_order_id),
            generation=row.generation,
            part_no=row.part_no,
            warehouse=row.warehouse,
            zone=row.zone,
            carrier=row.carrier,
            external_ref=row.external_ref,
            idempotency_key=row.idempotency_key,
            wms_order_id=row.wms_order_id,
            state=row.state,
            wms_status=row.wms_status,
            wms_version=row.wms_version,
            lines=tuple(lines[part_id]),
            tracking_carrier=row.tracking_carrier,
            tracking_number=row.tracking_number,
            marking=row.marking,
            marking_state=row.marking_state,
            given_codes=row.given_codes,
        )
        for part_id, row in heads.items()
    ]


def part_by_wms_id(conn: Connection, connection_id: str, wms_order_id: str) -> Part | None:
    """The part the warehouse knows as ``wms_order_id`` (None: a picking order the service did not create)."""

    def build() -> Any:
        c = order_parts.c
        return select(c.bitrix_order_id).where(
            c.connection_id == bindparam("p_connection"), c.wms_order_id == bindparam("p_wms")
        )

    row = conn.execute(
        prepared("order_of_wms_id", build), {"p_connection": connection_id, "p_wms": wms_order_id}
    ).first()
    if row is None:
        return None
    return next(p for p in parts_of(conn, connection_id, int(row[0])) if p.wms_order_id == wms_order_id)


def update_part_from_wms(
    conn: Connection,
    part_id: int,
    *,
    status: str,
    version: int,
    tracking: tuple[str, str] | None,
    error: Mapping[str, Any] | None,
    now: dt.datetime,
) -> bool:
    """The warehouse's newer state of a part: only a higher version moves it (an older event changes nothing)."""
    p = order_parts.c
    values: dict[str, Any] = {"wms_status": status, "wms_version": version, "updated_at": now}
    if tracking is not None:
        values["tracking_carrier"], values["tracking_number"] = tracking
    if error is not None:
        values["error"] = dict(error)
    result = conn.execute(
        update(order_parts)
        .where(p.id == part_id, (p.wms_version.is_(None)) | (p.wms_version < version))
        .values(**values)
    )
    return bool(result.rowcount == 1)


def capture_marking(conn: Connection, part_id: int, marking: Mapping[str, Any], *, now: dt.datetime) -> bool:
    """The codes the warehouse reported at packing, to be checked: kept when none were yet, or when they differ
    from codes held as a problem (the warehouse corrected them). ``written`` and ``by_hand`` are final: the codes
    are in the shop, or a person enters them. True when captured now."""
    p = order_parts.c
    row = conn.execute(select(p.marking, p.marking_state).where(p.id == part_id)).first()
    if row is None:
        return False
    if row.marking_state is not None and not (row.marking_state == "problem" and row.marking != marking):
        return False
    conn.execute(
        update(order_parts)
        .where(p.id == part_id)
        .values(marking=dict(marking), marking_state="captured", updated_at=now)
    )
    return True


def set_marking_state(conn: Connection, part_id: int, state: str, *, now: dt.datetime) -> None:
    conn.execute(
        update(order_parts).where(order_parts.c.id == part_id).values(marking_state=state, updated_at=now)
    )


def move_part(
    conn: Connection,
    part_id: int,
    *,
    expected: Collection[str],
    state: str,
    now: dt.datetime,
    **fields: Any,
) -> bool:
    """Compare-and-set: the part moves to ``state`` only from one of ``expected``; False when another worker (or
    an earlier run) moved it first."""
    names = tuple(sorted(fields))

    def build() -> Any:
        t = order_parts
        return (
            update(t)
            .where(t.c.id == bindparam("w_id"), t.c.state.in_(bindparam("w_expected", expanding=True)))
            .values({n: param(t, n) for n in ("state", "updated_at", *names)})
        )

    params = {f"p_{n}": v for n, v in fields.items()}
    result = conn.execute(
        prepared(("move_part", names), build),
        {"w_id": part_id, "w_expected": list(expected), "p_state": state, "p_updated_at": now, **params},
    )
    return bool(result.rowcount == 1)


def pending_units(conn: Connection, connection_id: str) -> dict[tuple[str, str], int]:
    """Units per (SKU, warehouse) of parts the warehouse has not reserved yet (the stock sync's oversell guard)."""
    p, ln = order_parts.c, order_part_lines.c
    rows = conn.execute(
        select(ln.sku, p.warehouse, func.sum(ln.qty))
        .select_from(order_part_lines.join(order_parts, ln.part_id == p.id))
        .where(p.connection_id == connection_id, p.state.in_(UNRESERVED))
        .group_by(ln.sku, p.warehouse)
    ).all()
    return {(sku, warehouse): int(total) for sku, warehouse, total in rows}


# -- reconciliation -------------------------------------------------------------------------------------------------


def binding_states(conn: Connection, connection_id: str, order_ids: Collection[int]) -> dict[int, str]:
    """The state of the binding of those of these shop orders the service has looked at."""
    c = order_bindings.c
    query = select(c.bitrix_order_id, c.state).where(c.connection_id == connection_id)
    return {
        int(order_id): str(state) for order_id, state in select_in(conn, query, c.bitrix_order_id, order_ids)
    }


def refs_known(conn: Connection, connection_id: str, warehouse: str, refs: Collection[str]) -> set[str]:
    """Which of these warehouse references are the service's own picking orders (of any state)."""
    c = order_parts.c
    query = select(c.external_ref).where(c.connection_id == connection_id, c.warehouse == warehouse)
    return {str(ref) for (ref,) in select_in(conn, query, c.external_ref, refs)}


def accepted_refs(conn: Connection, connection_id: str, warehouse: str) -> dict[str, int]:
    """The warehouse references of the service's picking orders the warehouse accepted and still holds the goods of
    (not shipped, delivered or cancelled, as far as the service knows), with their shop orders."""
    c = order_parts.c
    rows = conn.execute(
        select(c.external_ref, c.bitrix_order_id).where(
            c.connection_id == connection_id,
            c.warehouse == warehouse,
            c.state == "accepted",
            c.wms_status.is_(None) | c.wms_status.not_in(["SHIPPED", "DELIVERED", "CANCELLED"]),
        )
    ).all()
    return {str(ref): int(order_id) for ref, order_id in rows}


@dataclass(frozen=True)
class Progress:
    """A shop order the service has sent on, its picking orders as the service knows them, and when any of them
    last moved."""

    order_id: int
    state: str
    applied_status: str | None
    wms_statuses: tuple[str | None, ...]
    last_moved: dt.datetime


def in_progress(
    conn: Connection, connection_id: str, states: Collection[str], *, since: dt.datetime
) -> list[Progress]:
    """Orders whose binding is in ``states``, with their live picking orders, oldest movement first. Orders the
    warehouse is done with (shipped, delivered or cancelled, as last applied) only when touched after ``since``:
    the history is not read again and again.

    When an order last moved: for one forwarded, when its live picking orders last changed; for one not all sent
    yet, when its newest picking order was planned (or it was first seen): retries touch neither."""
    b, p = order_bindings.c, order_parts.c
    done = ["SHIPPED", "DELIVERED", "CANCELLED"]
    rows = conn.execute(
        select(
            b.bitrix_order_id,
            b.state,
            b.applied_status,
            b.created_at,
            p.wms_status,
            p.updated_at,
            p.created_at,
        )
        .select_from(
            order_bindings.outerjoin(
                order_parts,
                (p.connection_id == b.connection_id)
                & (p.bitrix_order_id == b.bitrix_order_id)
                & p.state.in_(LIVE_PART_STATES),
            )
        )
        .where(
            b.connection_id == connection_id,
            b.state.in_(list(states)),
            b.applied_status.is_(None) | b.applied_status.not_in(done) | (b.updated_at >= since),
        )
        .order_by(b.bitrix_order_id)
    ).all()
    found: dict[int, Progress] = {}
    for order_id, state, applied, seen_at, wms_status, changed_at, planned_at in rows:
        key = int(order_id)
        was = found.get(key) or Progress(key, state, applied, (), seen_at)
        if planned_at is None:  # no live picking order: it last moved when the service first saw it
            found[key] = was
            continue
        moved = changed_at if state == "forwarded" else max(seen_at, planned_at)
        last = moved if not was.wms_statuses else max(was.last_moved, moved)
        found[key] = Progress(key, state, applied, (*was.wms_statuses, wms_status), last)
    return sorted(found.values(), key=lambda o: (o.last_moved, o.order_id))


# -- webhooks, conflicts, timeline ------------------------------------------------------------------------------------


def first_delivery(conn: Connection, connection_id: str, event_id: str, *, now: dt.datetime) -> bool:
    """True the first time a WMS event id arrives; False for the retries and duplicates that follow."""
    stmt = (
        dialect_insert(conn, inflow_events)
        .values(connection_id=connection_id, event_id=event_id, received_at=now)
        .on_conflict_do_nothing(index_elements=["connection_id", "event_id"])
    )
    # RETURNING, not rowcount: what a driver reports for a skipped INSERT differs.
    return conn.execute(stmt.returning(inflow_events.c.event_id)).first() is not None


def prune_events(conn: Connection, *, received_before: dt.datetime) -> int:
    """Forget webhook event ids old enough that no retry of theirs can still come."""
    result = conn.execute(delete(inflow_events).where(inflow_events.c.received_at < received_before))
    return int(result.rowcount)


def add_timeline(
    conn: Connection,
    connection_id: str,
    order_id: int,
    *,
    source: str,
    kind: str,
    detail: Mapping[str, Any],
    now: dt.datetime,
) -> None:
    row = {
        "connection_id": connection_id,
        "bitrix_order_id": order_id,
        "at": now,
        "source": source,
        "kind": kind,
        "detail": dict(detail),
    }
    conn.execute(prepared("add_timeline", order_timeline.insert), row)


def timeline(conn: Connection, connection_id: str, order_id: int) -> list[tuple[dt.datetime, str, str, Any]]:
    t = order_timeline.c
    rows = conn.execute(
        select(t.at, t.source, t.kind, t.detail)
        .where(t.connection_id == connection_id, t.bitrix_order_id == order_id)
        .order_by(t.id)
    ).all()
    return [(at, source, kind, detail) for at, source, kind, detail in rows]


@dataclass(frozen=True)
class Found:
    bitrix_order_id: int
    account_number: str | None
    state: str
    applied_status: str | None
    updated_at: dt.datetime


def find_orders(conn: Connection, connection_id: str, text: str | None, *, limit: int = 50) -> list[Found]:
    """Orders by the shop's id or number, or by a picking order's reference or warehouse id; the latest changed
    when ``text`` is empty."""
    b, p = order_bindings.c, order_parts.c
    query = select(b.bitrix_order_id, b.account_number, b.state, b.applied_status, b.updated_at).where(
        b.connection_id == connection_id
    )
    wanted = (text or "").strip()
    if wanted:
        by_part = select(p.bitrix_order_id).where(
            p.connection_id == connection_id, (p.external_ref == wanted) | (p.wms_order_id == wanted)
        )
        matches = (b.account_number == wanted) | b.bitrix_order_id.in_(by_part)
        if wanted.isdigit():
            matches = matches | (b.bitrix_order_id == int(wanted))
        query = query.where(matches)
    rows = conn.execute(query.order_by(b.updated_at.desc(), b.bitrix_order_id.desc()).limit(limit)).all()
    return [Found(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


UNSENT_STATES = ("planned", "sending", "short", "failed")


def unsent_by_state(conn: Connection) -> dict[tuple[str, str], int]:
    """Picking orders of every connection not yet in the warehouse, by (connection, state) (for /metrics)."""
    p = order_parts.c
    rows = conn.execute(
        select(p.connection_id, p.state, func.count())
        .where(p.state.in_(UNSENT_STATES))
        .group_by(p.connection_id, p.state)
    ).all()
    return {(str(connection), str(state)): int(count) for connection, state, count in rows}

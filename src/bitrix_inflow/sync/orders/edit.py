"""An order edited in the shop after it went to the warehouse (``domain.edits`` decides; this carries it out).

The steps, each committed before the next, and what a crash between them leaves:

1. **revise**: the new plan is made from the edited order (with the units the service's own picking orders hold
   counted as free, so an unchanged line keeps its zone). In one transaction: the replacements are stored as
   ``waiting`` (or ``planned`` for a group that had no picking order) under the next generation's references, the
   parts to cancel move to ``cancelling``, the parts already picking become conflicts, and the binding records the
   new fingerprint and the order version it was read at. A crash before it repeats the check; after it, step 2
   resumes from the stored states.
2. **cancel**: each ``cancelling`` part is cancelled in the warehouse (``If-Match`` its version). Confirmed
   cancelled: it is ``superseded`` and its replacement becomes ``planned`` in the same transaction, so the goods
   are never reserved twice. Refused (the pickers started meanwhile): it goes back to ``accepted``, its
   replacement is ``dropped`` and a conflict says what the shop wanted. A crash after the warehouse cancelled and
   before the commit repeats the cancel, which the warehouse confirms again.
3. The forwarding run then sends the planned replacements like any part, and the order is forwarded again.

Nothing is overwritten silently either way: the shop's edit is carried out or recorded as a conflict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Connection

from bitrix_inflow.adapters.inflow import CancelRejectedError, InflowPort, PickingOrder, VersionMismatchError
from bitrix_inflow.domain import edits, split
from bitrix_inflow.domain.incidents import Kind
from bitrix_inflow.domain.vocabulary import InflowStatus
from bitrix_inflow.errors import TransientError
from bitrix_inflow.store import incidents
from bitrix_inflow.store import orders as store
from bitrix_inflow.store.engine import reading
from bitrix_inflow.store.tables import LIVE_PART_STATES
from bitrix_inflow.sync.incidents.inbox import raise_incident
from bitrix_inflow.sync.orders.planning import OrderRun, carriers_of, fingerprint_of, free_stock, plan_lines

log = structlog.get_logger("bitrix_inflow.sync.orders")

EDIT_CONFLICT = Kind.EDIT_AFTER_PICKING.value
EDIT_BLOCKED = Kind.EDIT_BLOCKED.value
CANCEL_REASON = "The order was changed in the shop; its new lines follow under a new reference"


@dataclass
class EditReport:
    outcome: str  # unchanged | revised | conflict
    keep: list[str] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    send: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def check_edit(
    run: OrderRun,
    wms: InflowPort,
    *,
    binding: store.Binding,
    parts: Sequence[store.Part],
    carriers: Mapping[int, str],
    warehouse: str,
    preference: tuple[str, ...],
) -> EditReport:
    """A forwarded order, read again: nothing to do when its plan inputs are as they were; else step 1."""
    order = run.order
    fingerprint = fingerprint_of(order)
    if binding.fingerprint is None or binding.fingerprint == fingerprint:
        # Unchanged; or forwarded before fingerprints were kept, when what it was planned from is unknown: what
        # the shop shows now becomes the baseline (an edit is a change from here on, never a guess). The version
        # read is accounted for, so the next poll does not ask again.
        _account(run, fingerprint if binding.fingerprint is None else None)
        return EditReport("unchanged")
    lines, problems = plan_lines(run)
    by_shipment, unmapped = carriers_of(order, carriers)
    if problems or unmapped:
        # The plan inputs stay as they were (the retry sweep checks the order again once the link is fixed).
        reasons = problems + unmapped
        _record_conflicts(run, fingerprint, [], blocked=reasons)
        return EditReport("conflict", reasons=reasons)
    live = [p for p in parts if p.state in LIVE_PART_STATES]
    held = [(ln.sku, p.zone, ln.qty) for p in live for ln in p.lines]
    free = free_stock(wms, warehouse, {ln.sku for ln in lines}, held=held)
    # Every unchanged line stays in the zone that picks it now: only what the edit changed may move.
    pinned = {(ln.basket_id, ln.shipment_id): p.zone for p in live for ln in p.lines}
    planned = split.plan(
        lines, free=free, carrier_of_shipment=by_shipment, preference=preference, pinned=pinned
    )
    revision = edits.revise(
        [
            edits.LivePart(
                p.zone,
                p.carrier,
                p.external_ref,
                InflowStatus(p.wms_status) if p.wms_status else None,
                p.lines,
            )
            for p in live
        ],
        planned,
    )
    report = EditReport(
        "revised"
        if revision.cancel or revision.send
        else ("conflict" if revision.conflicts else "unchanged"),
        keep=list(revision.keep),
        cancel=list(revision.cancel),
        conflicts=[c.ref for c in revision.conflicts],
    )
    _store_revision(
        run, revision, report, binding=binding, live=live, fingerprint=fingerprint, warehouse=warehouse
    )
    log.info(
        "orders.edited",
        order_id=run.order_id,
        keep=report.keep,
        cancel=report.cancel,
        send=report.send,
        conflicts=report.conflicts,
    )
    return report


def _account(run: OrderRun, fingerprint: str | None) -> None:
    """In one transaction: the version read is accounted for, the baseline fingerprint kept (when given), and an
    edit that could not be planned is settled (the order's inputs are back to what was planned)."""
    with run.engine.begin() as conn:
        now = run.clock.now()
        if run.order.version is not None:
            store.set_seen_version(conn, run.connection_id, run.order_id, run.order.version, now=now)
        if fingerprint is not None:
            store.set_fingerprint(conn, run.connection_id, run.order_id, fingerprint, now=now)
        _blocked_edit_settled(run, conn)


def _record_conflicts(
    run: OrderRun,
    fingerprint: str | None,
    conflicts: Sequence[edits.Conflict],
    *,
    blocked: Sequence[str] = (),
) -> None:
    with run.engine.begin() as conn:
        now = run.clock.now()
        if fingerprint is not None:
            _conflicts(run, conn, fingerprint, conflicts, blocked=blocked)
        if fingerprint is not None and not blocked:
            store.set_fingerprint(conn, run.connection_id, run.order_id, fingerprint, now=now)
        if run.order.version is not None:
            store.set_seen_version(conn, run.connection_id, run.order_id, run.order.version, now=now)


def _conflicts(
    run: OrderRun,
    conn: Connection,
    fingerprint: str,
    conflicts: Sequence[edits.Conflict],
    *,
    blocked: Sequence[str] = (),
) -> None:
    # One conflict per picking order and edit (the fingerprint): a second edit of the same order is a new one.
    for conflict in conflicts:
        detail = {
            "ref": conflict.ref,
            "wms_status": conflict.status.value if conflict.status else None,
            "had": [_line(ln) for ln in conflict.had],
            "wanted": [_line(ln) for ln in conflict.wanted],
            "why": "the warehouse has started picking: the picking order stands as it was sent",
        }
        _tell(run, conn, EDIT_CONFLICT, f"{conflict.ref}@{fingerprint[:16]}", detail, source="service")
    if blocked:
        said: dict[str, object] = {
            "reasons": list(blocked),
            "why": "the edited order cannot be planned; the picking orders stand",
        }
        _tell(run, conn, EDIT_BLOCKED, fingerprint[:16], said, source="service")


def _tell(
    run: OrderRun, conn: Connection, kind: str, subject: str, detail: Mapping[str, object], *, source: str
) -> None:
    """A conflict for a person, and the same words on the order's timeline."""
    now = run.clock.now()
    raise_incident(conn, run.connection_id, run.order_id, kind=kind, subject=subject, detail=detail, now=now)
    store.add_timeline(
        conn, run.connection_id, run.order_id, source=source, kind=kind, detail=detail, now=now
    )


def _line(line: split.PlanLine) -> dict[str, object]:
    return {"basket_id": line.basket_id, "shipment_id": line.shipment_id, "sku": line.sku, "qty": line.qty}


def _store_revision(
    run: OrderRun,
    revision: edits.Revision,
    report: EditReport,
    *,
    binding: store.Binding,
    live: Sequence[store.Part],
    fingerprint: str,
    warehouse: str,
) -> None:
    generation = binding.generation + 1 if revision.send else binding.generation
    new_parts = [
        store.NewPart(
            r.part.part_no,
            warehouse,
            r.part.zone,
            r.part.carrier,
            split.external_ref(run.order_id, generation, r.part.part_no),
            r.part.lines,
            state="waiting" if r.waits_for else "planned",
        )
        for r in revision.send
    ]
    report.send = [p.external_ref for p in new_parts]
    by_ref = {p.external_ref: p for p in live}
    with run.engine.begin() as conn:
        now = run.clock.now()
        for ref in revision.cancel:
            store.move_part(conn, by_ref[ref].id, expected={"accepted"}, state="cancelling", now=now)
        if new_parts:
            store.plan_parts(conn, run.connection_id, run.order_id, generation, new_parts, now=now)
        _conflicts(run, conn, fingerprint, revision.conflicts)
        _blocked_edit_settled(run, conn)
        store.save_binding(
            conn,
            run.connection_id,
            run.order_id,
            # Parts to send or cancel: the order is on its way again (statuses wait until every part is in).
            state="planned" if revision.cancel or revision.send else binding.state,
            reason=binding.reason,
            fingerprint=fingerprint,
            seen_version=run.order.version,
            generation=generation,
            now=now,
        )
        detail = {
            "keep": report.keep,
            "cancel": report.cancel,
            "send": report.send,
            "conflicts": report.conflicts,
        }
        store.add_timeline(
            conn, run.connection_id, run.order_id, source="shop", kind="edited", detail=detail, now=now
        )


def _blocked_edit_settled(run: OrderRun, conn: Connection) -> None:
    """An edit that could not be planned before has been planned (or needs none now): its incident is settled."""
    incidents.settle(
        conn,
        run.connection_id,
        run.order_id,
        kind=EDIT_BLOCKED,
        why="the edit could be planned",
        now=run.clock.now(),
    )


def settle_cancels(run: OrderRun, wms: InflowPort, parts: Sequence[store.Part]) -> list[store.Part]:
    """Step 2: every part in ``cancelling`` is cancelled in the warehouse, then every ``waiting`` part goes
    (``planned``) once all the parts it takes lines over from are confirmed cancelled, or is ``dropped`` when one
    of them stood (the warehouse refused: picking had started). Returns the order's parts as they now are."""
    refused: list[str] = []
    for part in parts:
        if part.state != "cancelling" or part.wms_order_id is None:
            continue
        if not cancel_recorded(run, wms, part, reason=CANCEL_REASON, done="superseded"):
            refused.append(part.external_ref)
    _release_waiting(run, refused)
    with reading(run.engine).connect() as conn:
        return store.parts_of(conn, run.connection_id, run.order_id)


def _release_waiting(run: OrderRun, refused: Sequence[str]) -> None:
    with reading(run.engine).connect() as conn:
        parts = store.parts_of(conn, run.connection_id, run.order_id)
    taken: set[str] = set()
    with run.engine.begin() as conn:
        now = run.clock.now()
        binding = store.load_binding(conn, run.connection_id, run.order_id)
        fingerprint = (binding.fingerprint if binding else None) or ""
        for waiting in (p for p in parts if p.state == "waiting"):
            keys = edits.line_keys(waiting.lines)
            sources = [
                p
                for p in parts
                if p.generation < waiting.generation
                and p.state in ("cancelling", "accepted", "superseded")
                and keys & edits.line_keys(p.lines)
            ]
            if any(p.state == "cancelling" for p in sources):
                continue  # not settled yet (a retry settles it first)
            stood = [p for p in sources if p.state == "accepted"]
            store.move_part(
                conn, waiting.id, expected={"waiting"}, state="dropped" if stood else "planned", now=now
            )
            for source in stood:
                taken.add(source.external_ref)
                _conflicts(run, conn, fingerprint, [_conflict_of(source, waiting.lines)])
        for ref in refused:
            if ref not in taken:  # a removed group whose picking order stood
                [source] = [p for p in parts if p.external_ref == ref]
                _conflicts(run, conn, fingerprint, [_conflict_of(source, ())])


def _conflict_of(part: store.Part, wanted: Sequence[split.PlanLine]) -> edits.Conflict:
    status = InflowStatus(part.wms_status) if part.wms_status else None
    return edits.Conflict(part.external_ref, status, part.lines, tuple(wanted))


def cancel_recorded(
    run: OrderRun,
    wms: InflowPort,
    part: store.Part,
    *,
    reason: str,
    done: str,
    refused: Callable[[Connection, dict[str, object]], None] | None = None,
) -> bool:
    """A ``cancelling`` part's picking order cancelled in the warehouse and the answer recorded: the part goes to
    ``done`` when cancelled, back to ``accepted`` when the warehouse refused (``refused`` then runs in the same
    transaction with what happened). True when cancelled."""
    picking = cancel_picking(wms, part, reason=reason)
    if picking.status in edits.CANCELLABLE - {InflowStatus.CANCELLED}:
        # Cancellable, yet every attempt met a newer version: the part stays ``cancelling`` for the retry.
        raise TransientError(f"{part.external_ref}: the picking order kept changing while it was cancelled")
    cancelled = picking.status is InflowStatus.CANCELLED
    with run.engine.begin() as conn:
        now = run.clock.now()
        store.move_part(
            conn,
            part.id,
            expected={"cancelling"},
            state=done if cancelled else "accepted",
            now=now,
            wms_status=picking.status.value,
            wms_version=picking.version,
        )
        detail: dict[str, object] = {"ref": part.external_ref, "wms_status": picking.status.value}
        kind = "cancelled" if cancelled else "cancel_refused"
        store.add_timeline(
            conn, run.connection_id, run.order_id, source="inflow", kind=kind, detail=detail, now=now
        )
        if not cancelled and refused is not None:
            refused(conn, detail)
    return cancelled


def cancel_picking(wms: InflowPort, part: store.Part, *, reason: str = CANCEL_REASON) -> PickingOrder:
    """The part's picking order after a cancel attempt: cancelled, or as it is when the warehouse refused.

    ``If-Match`` the version the service knows: if the order moved meanwhile the warehouse says so, and the
    service looks before trying again, so it never cancels work it has not seen."""
    assert part.wms_order_id is not None
    version = part.wms_version
    for _ in range(3):
        try:
            return wms.cancel(part.wms_order_id, reason=reason, if_match_version=version)
        except CancelRejectedError:
            return wms.get_order(part.wms_order_id)
        except VersionMismatchError:
            current = wms.get_order(part.wms_order_id)
            if current.status not in edits.CANCELLABLE or current.status is InflowStatus.CANCELLED:
                return current
            version = current.version
    return wms.get_order(part.wms_order_id)

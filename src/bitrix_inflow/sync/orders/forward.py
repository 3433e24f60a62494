"""Forwarding one Bitrix order to the warehouse, exactly once, as one picking order per (zone, carrier).

The steps, each committed before the next, and what a crash between them leaves:

1. **plan**: the order's lines (products mapped to SKUs through the stock binder), the zones the warehouse can
   pick them from, and the split are stored with one idempotency key per part, before anything is sent. A crash
   here leaves nothing or the whole plan (one transaction); the next run reuses the stored plan.
2. **sending**: the order's parts move planned → sending (compare-and-set) together, before the first create
   request. A crash after it, with or without the warehouse's answers, leaves them in ``sending``: the next run
   sends the same requests with the same keys (the warehouse replays its answers), and past a key's 24 h the
   reference (``B-{order}-{n}``, unique per warehouse) finds the order the first attempt created. Never a second
   picking order. When a request raises, the parts after it go back to the state they had (they surely did not
   go); after a kill mid-way they stay ``sending``, and are sent even if the order was cancelled meanwhile.
3. **accepted**: the warehouse's ids and statuses are stored together after the last answer (sending →
   accepted), or as far as the requests got when one fails.
4. When every live part is accepted the order is *forwarded* and gets the Bitrix status the mapping table gives
   NEW (only forward, and only from a status the rules forward orders from).

What holds an order back is recorded on its binding with the reason, never dropped: not eligible (and why), a
product without a warehouse SKU, a fractional quantity, a line the warehouse is short of (retried later).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from sqlalchemy import Connection, Engine

from bitrix_inflow.adapters.inflow import (
    InflowPort,
    InsufficientStockError,
    InvalidMarkingCodeError,
    NewOrderLine,
    NewPickingOrder,
    PickingOrder,
)
from bitrix_inflow.domain import edits, eligibility, order_status, split
from bitrix_inflow.domain.incidents import Kind
from bitrix_inflow.domain.status_mapping import StatusMapping
from bitrix_inflow.domain.vocabulary import InflowStatus
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.store import incidents as incident_store
from bitrix_inflow.store import orders as store
from bitrix_inflow.store.engine import reading
from bitrix_inflow.store.tables import LIVE_PART_STATES
from bitrix_inflow.sync.incidents.inbox import raise_incident
from bitrix_inflow.sync.orders import edit, statuses
from bitrix_inflow.sync.orders.cancel import cancel_everywhere
from bitrix_inflow.sync.orders.notice import queue_forward, write_status
from bitrix_inflow.sync.orders.planning import OrderRun, carriers_of, fingerprint_of, free_stock, plan_lines
from bitrix_inflow.sync.orders.shop import OrdersShop, ShopOrder, StatusWant, StatusWrite
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.sync.orders")

DONE = (
    "closed",
    "before_go_live",
    "cancelled",
)  # states a forwarding run leaves alone (a forwarded order is checked for edits)


@dataclass(frozen=True)
class ForwardOptions:
    rules: eligibility.OrderRules
    mapping: StatusMapping
    warehouse: str
    zone_preference: tuple[str, ...] = ()
    # The marking codes the shop already holds, per (shipment, basket line) of an order: they travel with the
    # picking orders planned for it (None: not asked, e.g. labelled goods switched off).
    shop_codes: Callable[[int], Mapping[tuple[int, int], Sequence[str]]] | None = None


@dataclass
class ForwardReport:
    order_id: int
    outcome: (
        str  # forwarded | waiting | ineligible | before_go_live | blocked | unchanged | planned (dry run)
    )
    reasons: list[str] = field(default_factory=list)
    plan: tuple[split.PlannedPart, ...] = ()
    created: list[str] = field(default_factory=list)  # references the warehouse accepted in this run
    status_written: str | None = None
    pending: PendingStatus | None = None  # a status write left to the caller's batch (``defer_status``)


def forward_order(
    engine: Engine,
    wms: InflowPort,
    shop: OrdersShop,
    options: ForwardOptions,
    order_id: int,
    *,
    clock: Clock,
    connection_id: str = "default",
    dry_run: bool = False,
    order: ShopOrder | None = None,
    defer_status: bool = False,
) -> ForwardReport:
    """``order``: the order as just read (a batch read), else it is read here. ``defer_status``: the shop status
    a forwarded order is owed is not written here but left in the report (``pending``) for a batch of writes."""
    with reading(engine).connect() as conn:
        binding = store.load_binding(conn, connection_id, order_id)
        parts = store.parts_of(conn, connection_id, order_id)
    if binding is not None and binding.state in DONE:
        return ForwardReport(order_id, "unchanged", [f"already {binding.state}"])
    run = OrderRun(engine, connection_id, clock, order if order is not None else shop.order(order_id))
    if (
        run.order.facts.canceled
        and not dry_run
        and any(p.state in ("accepted", "sending", "cancelling") for p in parts)
    ):
        # Cancelled in the shop after some of it went: the warehouse's picking orders are cancelled too.
        outcome, reasons = cancel_everywhere(run, wms, parts)
        return ForwardReport(order_id, outcome, reasons)
    if binding is not None and binding.state == "forwarded":
        if dry_run:
            return ForwardReport(
                order_id, "unchanged", ["forwarded: an edit is checked by the next real run"]
            )
        with reading(engine).connect() as conn:
            changing = incident_store.lines_changing(conn, connection_id, order_id)
        if changing is not None:
            # A way out is changing the order's lines in the shop, a step at a time: a half-done change is not an
            # edit to re-plan. The way out queues this run again once it is done.
            return ForwardReport(order_id, "waiting", [f"incident {changing} is changing the order's lines"])
        return _edited(run, wms, shop, options, binding=binding, parts=parts, defer_status=defer_status)
    if any(p.state == "cancelling" for p in parts) and not dry_run:
        # An edit's cancellations a crash interrupted: settled before anything of the new plan is sent.
        parts = edit.settle_cancels(run, wms, parts)
    return _forward(
        run, wms, shop, options, binding=binding, parts=parts, dry_run=dry_run, defer_status=defer_status
    )


def _forward(
    run: OrderRun,
    wms: InflowPort,
    shop: OrdersShop,
    options: ForwardOptions,
    *,
    binding: store.Binding | None,
    parts: list[store.Part],
    dry_run: bool,
    defer_status: bool = False,
) -> ForwardReport:
    order_id, order = run.order_id, run.order
    generation = binding.generation if binding is not None else 1
    # Live parts of every generation: an edit keeps the groups it did not change under their first reference.
    live = [p for p in parts if p.state in LIVE_PART_STATES]
    verdict = eligibility.verdict(order.facts, options.rules)
    refused = [p for p in parts if p.generation == generation and p.state == "failed"]
    if not live and refused:
        # The warehouse refused a part (an unknown SKU or warehouse): planning the same generation again would
        # repeat it. The order waits for a person (the reason is on the binding); nothing is sent meanwhile.
        reasons = [
            f"{p.external_ref}: the warehouse refused it; fix the product link or the configuration"
            for p in refused
        ]
        return _held(run, "blocked", reasons, dry_run=dry_run)
    if not live:
        if not verdict.eligible:
            state = "before_go_live" if verdict.final else "ineligible"
            return _held(run, state, list(verdict.reasons), dry_run=dry_run)
        lines, problems = plan_lines(run)
        carriers, unmapped = carriers_of(order, options.rules.carriers)  # (eligibility has mapped every one)
        if problems or unmapped:
            return _held(run, "blocked", problems + unmapped, dry_run=dry_run)
        free = free_stock(wms, options.warehouse, {ln.sku for ln in lines})
        planned = split.plan(
            lines, free=free, carrier_of_shipment=carriers, preference=options.zone_preference
        )
        if dry_run:
            return ForwardReport(order_id, "planned", plan=planned)
        given = options.shop_codes(order_id) if options.shop_codes is not None else {}
        live = _store_plan(run, generation, planned, options.warehouse, given)
        parts = [*parts, *live]
    elif (order.facts.canceled or (not verdict.eligible and generation == 1)) and any(
        p.state in ("planned", "short") for p in live
    ):
        # Planned, then held (cancelled, status moved back): what was not sent is not sent now. A part already
        # on its way is settled below all the same, since the warehouse may have it. (After an edit the order
        # went already and its status is the service's own, so only a cancellation holds the replacements.)
        live = [p for p in live if p.state not in ("planned", "short")]
        if not live:
            return _held(run, "ineligible", list(verdict.reasons), dry_run=dry_run)
    if dry_run:
        return ForwardReport(order_id, "planned", ["planned before: the stored plan is sent as it is"])
    report = ForwardReport(order_id, "waiting")
    changed = _send_all(run, wms, live, report)
    # Read again when another run moved a part meanwhile, or when parts accepted before this run are in the plan
    # (the feed may have moved their warehouse status since they were read).
    if changed is None or any(p.state == "accepted" and p.id not in changed for p in live):
        with reading(run.engine).connect() as conn:
            parts_now = store.parts_of(conn, run.connection_id, order_id)
    else:
        parts_now = [changed.get(p.id, p) for p in parts]
    now_live = [p for p in parts_now if p.state in LIVE_PART_STATES]
    failed = [p for p in parts_now if p.generation == generation and p.state == "failed"]
    if now_live and not failed and all(p.state == "accepted" for p in now_live):
        report.outcome = "forwarded"
        _forwarded(run, shop, options, now_live, report, defer_status=defer_status)
    elif any(p.state == "short" for p in now_live):
        report.reasons.append("the warehouse is short of stock for a part: tried again later")
    return report


def _edited(
    run: OrderRun,
    wms: InflowPort,
    shop: OrdersShop,
    options: ForwardOptions,
    *,
    binding: store.Binding,
    parts: list[store.Part],
    defer_status: bool,
) -> ForwardReport:
    """A forwarded order the shop reports changed: an edit is carried out (or recorded), then sent on."""
    change = edit.check_edit(
        run,
        wms,
        binding=binding,
        parts=parts,
        carriers=options.rules.carriers,
        warehouse=options.warehouse,
        preference=options.zone_preference,
    )
    if change.outcome != "revised":
        picking = [f"{ref}: picking started, the edit is a conflict for a person" for ref in change.conflicts]
        return ForwardReport(run.order_id, change.outcome, change.reasons + picking)
    with reading(run.engine).connect() as conn:
        binding_now = store.load_binding(conn, run.connection_id, run.order_id)
        parts = store.parts_of(conn, run.connection_id, run.order_id)
    parts = edit.settle_cancels(run, wms, parts)
    report = _forward(
        run, wms, shop, options, binding=binding_now, parts=parts, dry_run=False, defer_status=defer_status
    )
    cancelled, sent = ", ".join(change.cancel) or "nothing", ", ".join(change.send) or "nothing"
    report.reasons.insert(0, f"edited: {cancelled} cancelled, {sent} to send")
    return report


def _held(run: OrderRun, state: str, reasons: list[str], *, dry_run: bool) -> ForwardReport:
    order_id = run.order_id
    if not dry_run:
        with run.engine.begin() as conn:
            now = run.clock.now()
            before = store.load_binding(conn, run.connection_id, order_id)
            # Held again for the same reasons (a scheduled retry): the timeline says it once.
            repeated = before is not None and before.state == state and before.reason == "; ".join(reasons)
            store.save_binding(
                conn,
                run.connection_id,
                order_id,
                state=state,
                reason="; ".join(reasons),
                account_number=run.order.account_number,
                now=now,
            )
            if not repeated:
                detail = {"reasons": reasons}
                store.add_timeline(
                    conn, run.connection_id, order_id, source="service", kind=state, detail=detail, now=now
                )
    log.info("orders.held", order_id=order_id, state=state, reasons=reasons)
    return ForwardReport(order_id, state, reasons)


def _store_plan(
    run: OrderRun,
    generation: int,
    planned: Sequence[split.PlannedPart],
    warehouse: str,
    given: Mapping[tuple[int, int], Sequence[str]],
) -> list[store.Part]:
    order_id = run.order_id
    left = {key: list(codes) for key, codes in given.items()}  # a line split over parts: its codes in turn
    parts = []
    for part in planned:
        codes: dict[str, list[str]] = {}
        for number, line in enumerate(part.lines, start=1):
            queue = left.get((line.shipment_id, line.basket_id), [])
            taken, left[(line.shipment_id, line.basket_id)] = queue[: line.qty], queue[line.qty :]
            if taken:
                codes[str(number)] = taken
        parts.append(
            store.NewPart(
                part.part_no,
                warehouse,
                part.zone,
                part.carrier,
                split.external_ref(order_id, generation, part.part_no),
                part.lines,
                given_codes=codes or None,
            )
        )
    with run.engine.begin() as conn:
        now = run.clock.now()
        account = run.order.account_number
        store.save_binding(
            conn,
            run.connection_id,
            order_id,
            state="planned",
            account_number=account,
            # What the plan was made from: a later change of these inputs is an edit.
            fingerprint=fingerprint_of(run.order),
            seen_version=run.order.version,
            now=now,
        )
        stored = store.plan_parts(conn, run.connection_id, order_id, generation, parts, now=now)
        detail = {"parts": [{"ref": p.external_ref, "zone": p.zone, "carrier": p.carrier} for p in parts]}
        store.add_timeline(
            conn, run.connection_id, order_id, source="service", kind="planned", detail=detail, now=now
        )
    return stored


def _send_all(
    run: OrderRun, wms: InflowPort, parts: Sequence[store.Part], report: ForwardReport
) -> dict[int, store.Part] | None:
    """The order's parts to the warehouse: all marked ``sending`` in one transaction before the first request
    (each may have gone from then on), the answers recorded in one transaction after the last, or as far as the
    requests got when one fails. A part whose answer was not recorded stays ``sending`` and is sent again with its
    key, which the warehouse answers with the same picking order. (A plan is stored ``planned``, not already
    ``sending``: a crash between the two then leaves parts a held order does not send.) Returns the parts it
    moved as they are now, or None when another run moved one meanwhile (then only the database knows)."""
    mine: list[tuple[store.Part, str]] = []  # each part this run sends, and the state it had before
    raced = False
    with run.engine.begin() as conn:
        for part in parts:
            if part.state == "accepted":
                continue
            if part.state in ("planned", "short") and not store.move_part(
                conn, part.id, expected={part.state}, state="sending", now=run.clock.now()
            ):
                raced = True
                continue  # another worker took it
            mine.append((part, part.state))
    answers: list[tuple[store.Part, PickingOrder | Exception]] = []
    stopped = True
    try:
        for part, _ in mine:
            answers.append((part, _request(run, wms, part)))
        stopped = False
    finally:
        # A request that failed may have reached the warehouse: its part stays ``sending``. The parts after it
        # surely did not, and go back to what they were (a cancelled order then sends them nowhere).
        unsent = (
            [(p, before) for p, before in mine[len(answers) + 1 :] if before != "sending"] if stopped else []
        )
        recorded = _record_answers(run, answers, report, unsent=unsent) if answers or unsent else {}
    if raced or recorded is None:
        return None
    return {part.id: recorded.get(part.id, replace(part, state="sending")) for part, _ in mine}


def _request(run: OrderRun, wms: InflowPort, part: store.Part) -> PickingOrder | Exception:
    """The warehouse's picking order for the part, or the refusal that settles it (short of stock, or a request
    that can never succeed); anything else is raised."""
    request = NewPickingOrder(
        external_ref=part.external_ref,
        customer_order_ref=run.order.account_number,
        lines=tuple(
            NewOrderLine(n, ln.sku, ln.qty, marking_codes=tuple((part.given_codes or {}).get(str(n), ())))
            for n, ln in enumerate(part.lines, start=1)
        ),
        warehouse=part.warehouse,
        zone=part.zone or None,
        carrier=part.carrier,
    )
    try:
        return wms.create_picking_order(request, idempotency_key=part.idempotency_key)
    except InvalidMarkingCodeError as refusal:
        if not part.given_codes:
            return refusal
        # The shop's codes are a help, not a condition: a code the warehouse will not take (used already, a SKU
        # it does not mark) must not hold the order. It goes without them (a refused request leaves the key
        # unused), and the warehouse scans its own at packing.
        log.warning(
            "orders.shop_codes_refused", order_id=run.order_id, ref=part.external_ref, why=str(refusal)
        )
        bare = replace(request, lines=tuple(replace(line, marking_codes=()) for line in request.lines))
        try:
            return wms.create_picking_order(bare, idempotency_key=part.idempotency_key)
        except (InsufficientStockError, ValidationError) as again:
            return again
    except (InsufficientStockError, ValidationError) as refusal:
        return refusal


def _record_answers(
    run: OrderRun,
    answers: Sequence[tuple[store.Part, PickingOrder | Exception]],
    report: ForwardReport,
    *,
    unsent: Sequence[tuple[store.Part, str]] = (),
) -> dict[int, store.Part] | None:
    """The answers in one transaction. Returns each part as it now is, or None when one had been moved by another
    run meanwhile."""
    accepted: list[tuple[store.Part, PickingOrder]] = []
    now_is: dict[int, store.Part] = {}
    raced = False

    def moved_to(part: store.Part, state: str, **changes: Any) -> bool:
        nonlocal raced
        if store.move_part(conn, part.id, expected={"sending"}, state=state, now=now, **changes):
            now_is[part.id] = replace(part, state=state, **{k: v for k, v in changes.items() if k != "error"})
            return True
        raced = True
        return False

    with run.engine.begin() as conn:
        now = run.clock.now()
        for part, before in unsent:
            moved_to(part, before)
        for part, answer in answers:
            if isinstance(answer, PickingOrder):
                moved = moved_to(
                    part,
                    "accepted",
                    wms_order_id=answer.id,
                    wms_status=answer.status.value,
                    wms_version=answer.version,
                    error=None,
                )
                if not moved:
                    continue  # another run recorded this part meanwhile (its job was taken over): said there
                detail = {"ref": part.external_ref, "wms_order_id": answer.id, "status": answer.status.value}
                _timeline(conn, run, "accepted", detail, now=now)
                _caught_up(conn, run, now_is[part.id], answer, now=now)
                report.created.append(part.external_ref)
                accepted.append((part, answer))
            elif isinstance(answer, InsufficientStockError):
                shortages = [
                    {"sku": s.sku, "requested": s.requested, "available": s.available}
                    for s in answer.shortages
                ]
                error = {"shortages": shortages}
                moved_to(part, "short", error=error)
                if part.state != "short":  # still short on a scheduled retry: the timeline says it once
                    _timeline(conn, run, "short", {"ref": part.external_ref, **error}, now=now)
                report.reasons.append(f"{part.external_ref}: the warehouse is short ({shortages})")
            else:
                # An unknown SKU or warehouse: retrying the same request cannot succeed; a person fixes the link
                # or the configuration (the binding says which), then retries the order.
                error2 = {"error": str(answer)}
                moved_to(part, "failed", error=error2)
                _timeline(conn, run, "failed", {"ref": part.external_ref, **error2}, now=now)
                store.save_binding(
                    conn, run.connection_id, run.order_id, state="blocked", reason=str(answer), now=now
                )
                report.outcome = "blocked"
                report.reasons.append(f"{part.external_ref}: {answer}")
    for part, answer in accepted:
        log.info("orders.part_accepted", order_id=run.order_id, ref=part.external_ref, wms_order_id=answer.id)
    return None if raced else now_is


def _caught_up(
    conn: Connection, run: OrderRun, part: store.Part, answer: PickingOrder, *, now: dt.datetime
) -> None:
    """Until this commit the warehouse's changes feed and webhooks spoke of a picking order the service did not know,
    and passed it by: the warehouse may have moved it on meanwhile (a send whose answer was lost to a crash is
    answered, on the retry, with the order as it is now). So the state the answer carries is taken like a feed
    page's, and the picking order is read once more after the commit, for any step made between the answer and it."""
    if answer.version > 1:
        statuses.took(conn, run.connection_id, part, answer, now=now)
    statuses.queue_refresh(conn, run.connection_id, answer.id, now=now)


def _timeline(
    conn: Connection, run: OrderRun, kind: str, detail: Mapping[str, object], *, now: dt.datetime
) -> None:
    store.add_timeline(
        conn, run.connection_id, run.order_id, source="inflow", kind=kind, detail=detail, now=now
    )


@dataclass(frozen=True)
class PendingStatus:
    """What a forwarded order is owed in the shop: its status write (``want``, None when nothing is to be written)
    and what the binding records once the write's answer is known. Written at once, or in a batch with others."""

    order_id: int
    want: StatusWant | None
    decision: order_status.Decision
    seen_version: int | None  # the binding's accounted version before the write (None: no binding before)
    has_binding: bool
    drifted: bool  # the order changed in the shop since its plan inputs were taken: an edit check follows
    refs: tuple[str, ...]


def _forwarded(
    run: OrderRun,
    shop: OrdersShop,
    options: ForwardOptions,
    parts: Sequence[store.Part],
    report: ForwardReport,
    *,
    defer_status: bool,
) -> None:
    order_id, connection_id = run.order_id, run.connection_id
    statuses = [InflowStatus(p.wms_status) for p in parts if p.wms_status]
    with reading(run.engine).connect() as conn:
        binding = store.load_binding(conn, connection_id, order_id)
    applied = InflowStatus(binding.applied_status) if binding and binding.applied_status else None
    shown = run.order.facts.status_id
    decision = order_status.decide(order_status.aggregate(statuses), applied, shown, options.mapping)
    want = None
    if decision.write is not None:
        # The statuses orders are forwarded from, and (after an edit) those the service set itself before.
        allowed = set(options.rules.statuses) | (
            order_status.set_by_service(options.mapping, applied) if applied is not None else set()
        )
        want = StatusWant(order_id, decision.write, frozenset(allowed))
    pending = PendingStatus(
        order_id,
        want,
        decision,
        seen_version=binding.seen_version if binding is not None else None,
        has_binding=binding is not None,
        # Changed in the shop since its plan inputs were last taken (a second edit while the first was carried
        # out): its version is not accounted for, and a follow-up run checks the edit.
        drifted=binding is not None and binding.fingerprint not in (None, fingerprint_of(run.order)),
        refs=tuple(p.external_ref for p in parts),
    )
    if want is not None and defer_status:
        report.pending = pending
        return
    write = None
    if want is not None:
        write = write_status(
            run.engine,
            shop,
            connection_id,
            order_id,
            status=want.status,
            allowed_from=want.allowed_from,
            clock=run.clock,
        )
    report.status_written = finish_forwarded(run.engine, connection_id, pending, write, clock=run.clock)


def finish_forwarded(
    engine: Engine, connection_id: str, pending: PendingStatus, write: StatusWrite | None, *, clock: Clock
) -> str | None:
    """The binding of a forwarded order once its status write (if any) answered: forwarded, the version the
    service accounts for, the status it recorded, a conflict when a person's status stood. Returns the status
    written."""
    with engine.begin() as conn:
        return _finish_in(conn, connection_id, pending, write, now=clock.now())


def finish_many(
    engine: Engine,
    connection_id: str,
    answered: Sequence[tuple[PendingStatus, StatusWrite]],
    *,
    clock: Clock,
) -> dict[int, str | Exception | None]:
    """``finish_forwarded`` for many orders in one transaction; should that fail, each in its own, so one order's
    trouble stays its own. Per order: the status written, or the error."""
    try:
        with engine.begin() as conn:
            now = clock.now()
            return {p.order_id: _finish_in(conn, connection_id, p, w, now=now) for p, w in answered}
    except Exception:
        log.warning("orders.finish_one_by_one", orders=len(answered))
    done: dict[int, str | Exception | None] = {}
    for pending, write in answered:
        try:
            done[pending.order_id] = finish_forwarded(engine, connection_id, pending, write, clock=clock)
        except Exception as error:
            done[pending.order_id] = error
    return done


def _finish_in(
    conn: Connection,
    connection_id: str,
    pending: PendingStatus,
    write: StatusWrite | None,
    *,
    now: dt.datetime,
) -> str | None:
    order_id, decision = pending.order_id, pending.decision
    outcome = write.outcome if write is not None else None
    seen = None
    if outcome == "changed" and pending.has_binding and write is not None:
        seen = edits.seen_after_own_writes(
            pending.seen_version, shipment_writes=0, status_version=write.version
        )
    store.save_binding(
        conn,
        connection_id,
        order_id,
        state="forwarded",
        seen_version=None if pending.drifted else seen,
        now=now,
    )
    if pending.drifted:
        queue_forward(conn, connection_id, order_id, now=now)
    if decision.record is not None and outcome != "refused":
        store.set_applied_status(conn, connection_id, order_id, decision.record.value, now=now)
    if outcome == "refused":
        # A person moved the order meanwhile: their status stands, and they are told.
        detail: dict[str, object] = {
            "wanted": decision.write,
            "why": "the order's status changed in the shop",
        }
        subject = str(decision.write)
        raise_incident(
            conn, connection_id, order_id, kind=Kind.STATUS_REFUSED, subject=subject, detail=detail, now=now
        )
    summary = {"parts": list(pending.refs), "status": decision.write, "outcome": outcome, "why": decision.why}
    store.add_timeline(
        conn, connection_id, order_id, source="service", kind="forwarded", detail=summary, now=now
    )
    log.info(
        "orders.forwarded", order_id=order_id, parts=len(pending.refs), status=decision.write, outcome=outcome
    )
    return decision.write if outcome == "changed" else None

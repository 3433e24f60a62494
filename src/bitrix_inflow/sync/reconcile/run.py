"""Reconciliation: the shop, the warehouse and the service's records compared, and what differs found, repaired
when that is safe, and handed to a person otherwise.

The checks, each its own function:

* **missing in the warehouse**: a shop order of the last ``window`` the service never looked at, or last saw not
  for the warehouse, which it would forward now (a lost event, a poll that skipped it, a change unnoticed).
  Repaired by queueing its forwarding run, the same exactly-once path every order takes.
* **picking orders the warehouse has and the service does not** (a reference of the service's form it has no
  record of: a restored backup, a hand-made order) and **picking orders the service sent that the warehouse does
  not have**: an incident each; neither is safe to cancel or re-send without a person (goods may be moving).
* **statuses**: an order whose shop status is not the mapped status of the step its picking orders stand at
  (never back: a replacement under a new generation counts as NEW). Re-applied by the feed's apply job, under the
  order's lock and from what it reads then, with the same compare-and-set: a status the service itself sets for
  an earlier step (or forwards from) is overwritten, anyone else's stands and is a ``status_refused`` incident.
* **stuck**: an order on its way whose picking orders have not moved for ``stuck_after``: an incident.
* **ways out stuck**: an incident whose way out has been carried out for longer than ``stuck_after`` (its job
  keeps failing) holds its order back: it is reported for a person, nothing is repaired.
* **stock**: a full comparison of the shop's quantities with the warehouse's available stock minus what the shop
  sold and the warehouse has not reserved yet (the stock sync's own rule); repaired by a full stock sync, queued
  under the stock lock.

Orders with an open incident are a person's already: the status and stuck checks leave them alone. Without
``repair`` nothing changes anywhere: the report says what would be done.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Engine

from bitrix_inflow.adapters.inflow import InflowPort
from bitrix_inflow.domain import order_status, split
from bitrix_inflow.domain.incidents import Kind
from bitrix_inflow.domain.vocabulary import InflowStatus
from bitrix_inflow.errors import IntegrationError
from bitrix_inflow.store import incidents as incident_store
from bitrix_inflow.store import orders as store
from bitrix_inflow.sync.incidents.inbox import raise_incident
from bitrix_inflow.sync.orders.forward import ForwardOptions, forward_order
from bitrix_inflow.sync.orders.notice import queue_forward
from bitrix_inflow.sync.orders.shop import OrdersShop
from bitrix_inflow.sync.orders.statuses import queue_reapply
from bitrix_inflow.sync.stock.flow import WAREHOUSE_CHANGED, StockOptions, sync_stock
from bitrix_inflow.sync.stock.jobs import queue_full
from bitrix_inflow.sync.stock.shop import ShopStock
from bitrix_inflow.timing import Clock

log = structlog.get_logger("bitrix_inflow.sync.reconcile")

# Bindings of orders on their way: forwarded, or planned and not all sent, or refused by the warehouse.
ON_THEIR_WAY = ("forwarded", "planned", "blocked")
# Picking orders whose goods are still in the warehouse (a person can still act on them).
STILL_IN_WAREHOUSE = (
    InflowStatus.NEW,
    InflowStatus.ASSIGNED,
    InflowStatus.PICKING,
    InflowStatus.PICKING_ERROR,
    InflowStatus.PICKED,
    InflowStatus.PACKING,
)
READ_AT_ONCE = 49  # orders read from the shop per request


@dataclass(frozen=True)
class ReconcileOptions:
    forward: ForwardOptions
    stock: StockOptions | None = None  # None: the stock is not compared
    window: dt.timedelta = dt.timedelta(days=7)
    grace: dt.timedelta = dt.timedelta(minutes=15)
    stuck_after: dt.timedelta = dt.timedelta(hours=48)


@dataclass(frozen=True)
class Finding:
    # missing_in_wms | unknown_in_wms | gone_from_wms | status_diverges | stuck | way_out_stuck | stock_diverges
    check: str
    subject: str  # the order, picking order or product it is about
    what: str
    action: str  # repaired | would repair | incident | would open an incident | incident open already
    order_id: int | None = None


@dataclass
class ReconcileReport:
    repair: bool
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # checks that could not run, and why

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)
        log.info("reconcile.found", check=finding.check, subject=finding.subject, action=finding.action)


def reconcile(
    engine: Engine,
    wms: InflowPort,
    shop: OrdersShop,
    stock_shop: ShopStock | None,
    options: ReconcileOptions,
    *,
    repair: bool,
    clock: Clock,
    connection_id: str = "default",
) -> ReconcileReport:
    run = _Run(engine, wms, shop, options, ReconcileReport(repair), clock, connection_id)
    run.missing_in_wms()
    run.picking_orders()
    run.statuses_and_stuck()
    run.ways_out_stuck()
    if options.stock is not None and stock_shop is not None:
        run.stock(stock_shop, options.stock)
    report = run.report
    log.info("reconcile.done", findings=len(report.findings), repair=repair, notes=len(report.notes))
    return report


@dataclass(frozen=True)
class _Run:
    """One reconciliation: what every check shares, and the checks."""

    engine: Engine
    wms: InflowPort
    shop: OrdersShop
    options: ReconcileOptions
    report: ReconcileReport
    clock: Clock
    connection_id: str

    def settled(self, kind: Kind, order_id: int, subject: str) -> bool:
        """A person settled this already (the incident about it is resolved): not found again."""
        with self.engine.connect() as conn:
            found = incident_store.find(conn, self.connection_id, order_id, kind=kind, subject=subject)
        return found is not None and found.state == "resolved"

    def incident(
        self, check: str, kind: Kind, order_id: int, subject: str, *, detail: dict[str, str], what: str
    ) -> None:
        """An incident of what was found (once per order, kind and subject, however often reconciliation runs;
        one a person settled is not found again)."""
        if self.settled(kind, order_id, subject):
            return
        if not self.report.repair:
            self.report.add(Finding(check, subject, what, "would open an incident", order_id))
            return
        with self.engine.begin() as conn:
            opened = raise_incident(
                conn,
                self.connection_id,
                order_id,
                kind=kind,
                subject=subject,
                detail=detail,
                now=self.clock.now(),
            )
        action = "incident" if opened else "incident open already"
        self.report.add(Finding(check, subject, what, action, order_id))

    def missing_in_wms(self) -> None:
        now = self.clock.now()
        since = max(self.options.forward.rules.go_live, now - self.options.window)
        ids, complete = self.shop.created_since(since)
        if not complete:
            self.report.notes.append(
                f"more shop orders since {since.isoformat()} than one pass reads: the oldest were checked"
            )
        with self.engine.connect() as conn:
            states = store.binding_states(conn, self.connection_id, ids)
        # Never looked at, or last seen not for the warehouse (unpaid, say) and then changed unnoticed.
        unseen = sorted(i for i in ids if states.get(i, "ineligible") == "ineligible")
        for start in range(0, len(unseen), READ_AT_ONCE):
            orders = self.shop.orders(unseen[start : start + READ_AT_ONCE])
            for order_id, order in sorted(orders.items()):
                created = order.facts.created_at
                if created is not None and created > now - self.options.grace:
                    continue  # the poll's to notice yet
                plan = forward_order(
                    self.engine,
                    self.wms,
                    self.shop,
                    self.options.forward,
                    order_id,
                    clock=self.clock,
                    connection_id=self.connection_id,
                    dry_run=True,
                    order=order,
                )
                if plan.outcome != "planned":
                    continue  # not for the warehouse (yet): the poll forwards it when it is
                what = f"order {order.account_number} is for the warehouse and the service never sent it"
                if self.report.repair:
                    with self.engine.begin() as conn:
                        queue_forward(conn, self.connection_id, order_id, now=self.clock.now())
                action = "repaired" if self.report.repair else "would repair"
                self.report.add(Finding("missing_in_wms", str(order_id), what, action, order_id))

    def picking_orders(self) -> None:
        warehouse = self.options.forward.warehouse
        # What the service sent is read before the warehouse's list, and what it knows after: a picking order sent
        # meanwhile is then neither "gone" (not in ``sent``) nor "unknown" (in ``known``).
        with self.engine.connect() as conn:
            sent = store.accepted_refs(conn, self.connection_id, warehouse)
        try:
            # Only what is still in the warehouse: its history is not read again every run.
            in_warehouse = {
                o.external_ref: o
                for status in STILL_IN_WAREHOUSE
                for o in self.wms.iter_orders(warehouse=warehouse, status=status)
            }
        except IntegrationError as exc:
            self.report.notes.append(f"the warehouse's picking orders could not be listed: {exc}")
            return
        ours = {ref: o for ref, o in in_warehouse.items() if split.order_of_ref(ref) is not None}
        with self.engine.connect() as conn:
            known = store.refs_known(conn, self.connection_id, warehouse, ours)
        for ref, picking in sorted(ours.items()):
            if ref in known or picking.status is InflowStatus.CANCELLED:
                continue
            order_id = split.order_of_ref(ref)
            assert order_id is not None
            detail = {"ref": ref, "aggregate": str(picking.status)}
            what = f"the warehouse has picking order {ref} ({picking.status}) the service has no record of"
            self.incident("unknown_in_wms", Kind.UNKNOWN_IN_WMS, order_id, ref, detail=detail, what=what)
        for ref, order_id in sorted(sent.items()):
            if ref in in_warehouse or self.wms.find_by_external_ref(ref, warehouse) is not None:
                continue  # (not listed: it moved on since the service last heard, which the feed will tell)
            detail = {"ref": ref}
            what = f"picking order {ref}, accepted by the warehouse, is not in its list any more"
            self.incident("gone_from_wms", Kind.GONE_FROM_WMS, order_id, ref, detail=detail, what=what)

    def statuses_and_stuck(self) -> None:
        now = self.clock.now()
        mapping = self.options.forward.mapping
        with self.engine.connect() as conn:
            on_their_way = store.in_progress(
                conn, self.connection_id, ON_THEIR_WAY, since=now - self.options.window
            )
            in_hand = incident_store.orders_in_hand(conn, self.connection_id)
            # Goods came back: the order's status is the return's now, not the warehouse's last step.
            in_hand |= incident_store.orders_with(conn, self.connection_id, Kind.RETURN_RECEIVED)
        to_read: list[tuple[int, InflowStatus]] = []
        for order in on_their_way:
            if order.order_id in in_hand:
                continue
            statuses = [InflowStatus(s) if s else InflowStatus.NEW for s in order.wms_statuses]
            aggregate = order_status.aggregate(statuses)
            # Stuck in the warehouse: once shipped, the carrier's days are not the warehouse's to answer for.
            in_warehouse = (
                aggregate is None
                or order_status.PROGRESS[aggregate] < order_status.PROGRESS[InflowStatus.SHIPPED]
            )
            if in_warehouse and order.last_moved < now - self.options.stuck_after:
                detail = {
                    "since": order.last_moved.isoformat(timespec="minutes"),
                    "aggregate": str(aggregate) if aggregate else "",
                    "why": order.state,
                }
                where = f"the order is {order.state}, {aggregate or 'not sent'}"
                what = f"nothing has moved since {detail['since']} ({where})"
                self.incident("stuck", Kind.STUCK, order.order_id, "stuck", detail=detail, what=what)
                continue
            if order.state != "forwarded" or aggregate is None:
                continue
            applied = InflowStatus(order.applied_status) if order.applied_status else None
            if applied != aggregate and order.last_moved > now - self.options.grace:
                continue  # the feed's apply job is about to write it: not a divergence yet
            # Never back: a replacement counts as NEW while the order's status stands for the step applied.
            to_read.append((order.order_id, order_status.further(aggregate, applied)))
        for start in range(0, len(to_read), READ_AT_ONCE):
            chunk = dict(to_read[start : start + READ_AT_ONCE])
            shown = self.shop.orders(list(chunk))
            for order_id, standing in sorted(chunk.items()):
                read = shown.get(order_id)
                wanted = mapping.bitrix_status_for(standing)
                if read is None or read.facts.canceled or wanted is None or read.facts.status_id == wanted:
                    continue
                showing = read.facts.status_id
                what = f"the shop shows {showing}; the warehouse's {standing} maps to {wanted}"
                if self.settled(Kind.STATUS_REFUSED, order_id, wanted):
                    continue  # a person kept the shop's status: theirs
                if not self.report.repair:
                    ours = order_status.set_by_service(mapping, standing) | set(
                        self.options.forward.rules.statuses
                    )
                    action = "would repair" if showing in ours else "would open an incident"
                    self.report.add(Finding("status_diverges", str(order_id), what, action, order_id))
                    continue
                # Written again by the apply job, under the order's lock and from what it reads then: the same
                # compare-and-set, so a status a person set stands (a status_refused incident).
                with self.engine.begin() as conn:
                    queue_reapply(conn, self.connection_id, order_id, now=self.clock.now())
                self.report.add(Finding("status_diverges", str(order_id), what, "re-applying", order_id))

    def ways_out_stuck(self) -> None:
        """Ways out carried out for longer than ``stuck_after`` (their job keeps failing): the order waits on
        them (its forwarding, its status), so a person is shown them; nothing is repaired here."""
        older_than = self.clock.now() - self.options.stuck_after
        with self.engine.connect() as conn:
            stuck = incident_store.stuck_resolving(conn, self.connection_id, older_than=older_than)
        for incident_id in stuck:
            what = (
                f"its way out has been under way, unchanged, since before {older_than.isoformat(timespec='minutes')}: "
                f"see bitrix-inflow incidents show {incident_id} and bitrix-inflow jobs list"
            )
            self.report.add(Finding("way_out_stuck", f"incident {incident_id}", what, "a person should look"))

    def stock(self, stock_shop: ShopStock, stock_options: StockOptions) -> None:
        """Compared without writing (reconciliation holds no stock lock); a difference is repaired by a full stock
        sync queued under its lock, which computes its writes afresh: a write in flight meanwhile costs nothing."""
        compared = sync_stock(
            self.engine,
            self.wms,
            stock_shop,
            stock_options,
            clock=self.clock,
            full=True,
            dry_run=True,
            connection_id=self.connection_id,
        )
        self.report.notes.extend(f"stock: {error}" for error in compared.errors)
        # What the warehouse changed lately is the incremental sync's to write (it may be writing it now): the
        # drift it cannot heal is what reconciliation is for (the shop edited by hand, a product never written).
        drift = [write for write in compared.plan if write.why != WAREHOUSE_CHANGED]
        if not drift:
            return
        if self.report.repair:
            with self.engine.begin() as conn:
                queue_full(
                    conn, now=self.clock.now(), reason="reconciliation", connection_id=self.connection_id
                )
        action = "full stock sync queued" if self.report.repair else "would repair"
        for write in drift:
            where = f"product {write.product_id}" + (f" in store {write.store_id}" if write.store_id else "")
            skus = ", ".join(write.skus)
            what = f"{skus}: the shop has {write.before}, the warehouse says {write.after} ({write.why})"
            self.report.add(Finding("stock_diverges", where, what, action))

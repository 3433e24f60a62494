"""The orders flow's jobs: a poll of the shop every ``schedules.orders_seconds`` (``orders.notice``), one
``orders.forward`` per order that has to go (queued by the poll in the transaction that moves its watermark;
claimed in cohorts of up to 49, see ``cohort``), a
read of the warehouse's changes feed every ``schedules.statuses_seconds`` (``orders.feed``) and one
``orders.apply`` per order whose picking orders moved (queued with the feed's cursor), and, where the shop is
read through its offline event queue, a read of it every ``schedules.events_seconds`` (``orders.events``).

Without ``[orders] go_live`` the flow is off (no schedule): which orders belong to the old process is never
guessed. The rules are read when a job runs, so a change to them applies from the next run on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from bitrix_inflow.adapters.inflow import InflowClient
from bitrix_inflow.config import Settings
from bitrix_inflow.domain.eligibility import parse_rules
from bitrix_inflow.domain.status_mapping import StatusMapping
from bitrix_inflow.errors import ConfigError, ConfigProblem
from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.blueprint import Blueprint
from bitrix_inflow.jobs.registry import JobContext
from bitrix_inflow.jobs.scheduler import Schedule
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.store import status_map
from bitrix_inflow.store.engine import reading
from bitrix_inflow.sync.marking.bitrix_shop import marking_shop_for
from bitrix_inflow.sync.marking.given import held_by_shop
from bitrix_inflow.sync.marking.shop import MarkingShop
from bitrix_inflow.sync.orders.bitrix_shop import BitrixOfflineQueue, BitrixOrdersShop
from bitrix_inflow.sync.orders.cohort import forward_cohort
from bitrix_inflow.sync.orders.forward import ForwardOptions
from bitrix_inflow.sync.orders.notice import (
    FORWARD_KIND,
    NOTICE_KIND,
    POLL_LOCK,
    notice_orders,
    sweep_waiting,
)
from bitrix_inflow.sync.orders.offline import EVENTS_KIND, read_offline_events
from bitrix_inflow.sync.orders.shop import WRITES_AT_ONCE
from bitrix_inflow.sync.orders.statuses import APPLY_KIND, REFRESH_KIND, apply_statuses, read_changes, refresh
from bitrix_inflow.sync.sides import open_clients
from bitrix_inflow.timing import SystemClock

FEED_KIND = "orders.feed"
PRUNE_KIND = "orders.prune"
SWEEP_KIND = "orders.sweep"
# The warehouse retries a webhook for hours at most (contract §8: 8 attempts, exponential backoff); a week is ample.
KEEP_EVENT_IDS = dt.timedelta(days=7)

blueprint: Blueprint[Settings] = Blueprint("orders")


def options_from(settings: Settings, mapping: StatusMapping) -> ForwardOptions:
    rules, problems = parse_rules(settings.orders.rule_values())
    if problems or rules is None:
        raise ConfigError(
            "[orders]",
            [
                ConfigProblem(f"orders.{p.field}", p.problem + (f" (fix: {p.fix})" if p.fix else ""))
                for p in problems
            ],
        )
    default_warehouse = settings.inflow.warehouse if settings.inflow is not None else "MAIN"
    return ForwardOptions(
        rules=rules,
        mapping=mapping,
        warehouse=settings.orders.warehouse or default_warehouse,
        zone_preference=settings.orders.zone_preference,
    )


@contextmanager
def open_sides(settings: Settings) -> Iterator[tuple[InflowClient, BitrixOrdersShop]]:
    with open_clients(settings) as (wms, gateway):
        yield wms, BitrixOrdersShop(gateway)


def marking_shop(settings: Settings, shop: BitrixOrdersShop) -> MarkingShop:
    return marking_shop_for(settings, shop.gateway)


def with_shop_codes(options: ForwardOptions, settings: Settings, shop: BitrixOrdersShop) -> ForwardOptions:
    """The options with the shop's codes asked for each planned order, when the shop can answer (its module: without
    it the only codes a line carries are those the service wrote, and a cloud shop's requests are counted)."""
    marking = marking_shop(settings, shop)
    if not settings.marking.enabled or not marking.reaches_receipt:
        return options
    names = settings.marking.group_names()
    return replace(options, shop_codes=lambda order_id: held_by_shop(marking, order_id, group_names=names))


@blueprint.task(NOTICE_KIND)
def notice(ctx: JobContext, settings: Settings) -> None:
    with open_sides(settings) as (_, shop):
        report = notice_orders(ctx.engine, shop, clock=SystemClock(), connection_id=ctx.job.connection_id)
    if not report.complete:
        ctx.log.info("orders.poll_continues", seen=report.seen)


def _order_job(ctx: JobContext, settings: Settings) -> tuple[int, ForwardOptions]:
    """An order job's order, and the options as they stand now (rules and the mapping table are read per run)."""
    with reading(ctx.engine).connect() as conn:
        mapping = status_map.load(conn, ctx.job.connection_id)
    return int(ctx.payload["order_id"]), options_from(settings, mapping)


@blueprint.task(FORWARD_KIND, batch=WRITES_AT_ONCE)
def forward(ctx: JobContext, settings: Settings) -> None:
    """A cohort of forwarding runs (one per order, claimed together): read together, sent one by one, their
    statuses written together. Each job's outcome is its own order's."""
    _, options = _order_job(ctx, settings)
    cohort = ctx.cohort or (ctx,)
    jobs_of: dict[int, list[JobContext]] = {}
    for (
        job
    ) in cohort:  # (one job per order: jobs of one order share a lock key, which a cohort never holds twice)
        jobs_of.setdefault(int(job.payload["order_id"]), []).append(job)
    connection_id = ctx.job.connection_id

    def next_waiting(count: int, skip: set[int]) -> list[int]:
        with reading(ctx.engine).connect() as conn:
            queued = queue.next_queued(
                conn, FORWARD_KIND, connection_id=connection_id, now=ctx.now(), limit=count + len(skip)
            )
        ids = [int(job.payload["order_id"]) for job in queued]
        return [i for i in ids if i not in skip][:count]

    with open_sides(settings) as (wms, shop):
        results = forward_cohort(
            ctx.engine,
            wms,
            shop,
            with_shop_codes(options, settings, shop),
            list(jobs_of),
            clock=SystemClock(),
            connection_id=connection_id,
            next_waiting=next_waiting,
            lost=lambda order_id: all(job.lease_lost.is_set() for job in jobs_of[order_id]),
        )
    for order_id, result in results.items():
        for job in jobs_of[order_id]:
            if isinstance(result, Exception):
                job.fail(result)
            elif result.outcome not in ("forwarded", "unchanged"):
                job.log.info(
                    "orders.not_forwarded", order_id=order_id, outcome=result.outcome, reasons=result.reasons
                )


@blueprint.task(FEED_KIND)
def feed(ctx: JobContext, settings: Settings) -> None:
    with open_sides(settings) as (wms, _):
        report = read_changes(ctx.engine, wms, clock=SystemClock(), connection_id=ctx.job.connection_id)
    if report.unknown:
        ctx.log.info("orders.feed_foreign_orders", count=report.unknown)


@blueprint.task(REFRESH_KIND)
def refreshed(ctx: JobContext, settings: Settings) -> None:
    with open_sides(settings) as (wms, _):
        refresh(
            ctx.engine,
            wms,
            str(ctx.payload["wms_order_id"]),
            clock=SystemClock(),
            connection_id=ctx.job.connection_id,
        )


@blueprint.task(APPLY_KIND)
def apply(ctx: JobContext, settings: Settings) -> None:
    order_id, options = _order_job(ctx, settings)
    with open_sides(settings) as (_, shop):
        apply_statuses(
            ctx.engine,
            shop,
            options.mapping,
            order_id,
            forwarded_from=options.rules.statuses,
            clock=SystemClock(),
            connection_id=ctx.job.connection_id,
            reapply=bool(ctx.payload.get("reapply")),
            marking=marking_shop(settings, shop) if settings.marking.enabled else None,
            group_names=settings.marking.group_names(),
        )


@blueprint.task(SWEEP_KIND)
def sweep(ctx: JobContext, settings: Settings) -> None:
    del settings
    queued = sweep_waiting(ctx.engine, clock=SystemClock(), connection_id=ctx.job.connection_id)
    if queued:
        ctx.log.info("orders.retried", orders=queued[:20], count=len(queued))


@blueprint.periodic
def retry_waiting(settings: Settings) -> Schedule | None:
    every = dt.timedelta(seconds=settings.schedules.orders_retry_seconds)
    return _while_live(
        settings, Schedule(name=SWEEP_KIND, every=every, kind=SWEEP_KIND, lock_key="orders:sweep")
    )


@blueprint.task(EVENTS_KIND)
def offline_events(ctx: JobContext, settings: Settings) -> None:
    with open_clients(settings) as (_, gateway):
        read_offline_events(
            ctx.engine, BitrixOfflineQueue(gateway), clock=SystemClock(), connection_id=ctx.job.connection_id
        )


@blueprint.periodic
def offline_queue(settings: Settings) -> Schedule | None:
    if settings.bitrix is None or not settings.bitrix.offline_events:
        return None
    every = dt.timedelta(seconds=settings.schedules.events_seconds)
    return _while_live(
        settings,
        Schedule(name=EVENTS_KIND, every=every, kind=EVENTS_KIND, lock_key="orders:events", priority=10),
    )


@blueprint.task(PRUNE_KIND)
def prune(ctx: JobContext, settings: Settings) -> None:
    del settings
    with ctx.engine.begin() as conn:
        removed = order_store.prune_events(conn, received_before=ctx.now() - KEEP_EVENT_IDS)
        ctx.complete_in(conn, note=f"forgot {removed} webhook event ids")


@blueprint.periodic
def prune_daily(settings: Settings) -> Schedule | None:
    return _while_live(settings, Schedule(name=PRUNE_KIND, every=dt.timedelta(days=1), kind=PRUNE_KIND))


@blueprint.periodic
def statuses(settings: Settings) -> Schedule | None:
    every = dt.timedelta(seconds=settings.schedules.statuses_seconds)
    return _while_live(
        settings, Schedule(name="orders.feed", every=every, kind=FEED_KIND, lock_key="orders:feed")
    )


@blueprint.periodic
def poll(settings: Settings) -> Schedule | None:
    every = dt.timedelta(seconds=settings.schedules.orders_seconds)
    return _while_live(
        settings, Schedule(name="orders.poll", every=every, kind=NOTICE_KIND, lock_key=POLL_LOCK)
    )


def _while_live(settings: Settings, schedule: Schedule) -> Schedule | None:
    """Every schedule of the flow, only once ``[orders] go_live`` is set (which orders belong to the old process
    is never guessed)."""
    return schedule if settings.orders.go_live is not None else None

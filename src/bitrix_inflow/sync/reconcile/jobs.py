"""Reconciliation's job: one run every ``schedules.reconcile_seconds`` (``reconcile.run``), repairing what is safe
and opening incidents for the rest (its repairs are jobs under their own locks: forwarding, applying a status, a
full stock sync). Without
``[orders] go_live`` it is off, like the orders flow."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from bitrix_inflow.adapters.inflow import InflowClient
from bitrix_inflow.config import Settings
from bitrix_inflow.jobs.blueprint import Blueprint
from bitrix_inflow.jobs.registry import JobContext
from bitrix_inflow.jobs.scheduler import Schedule
from bitrix_inflow.store import status_map
from bitrix_inflow.store.engine import reading
from bitrix_inflow.sync.orders import jobs as orders_jobs
from bitrix_inflow.sync.orders.bitrix_shop import BitrixOrdersShop
from bitrix_inflow.sync.reconcile.run import ReconcileOptions, ReconcileReport, reconcile
from bitrix_inflow.sync.sides import open_clients
from bitrix_inflow.sync.stock import jobs as stock_jobs
from bitrix_inflow.sync.stock.bitrix_shop import BitrixShopStock
from bitrix_inflow.timing import SystemClock

RECONCILE_KIND = "reconcile.run"

blueprint: Blueprint[Settings] = Blueprint("reconcile")


def options_from(settings: Settings, connection_id: str, engine: Engine) -> ReconcileOptions:
    """The options as they stand now (the mapping table is read per run)."""
    with reading(engine).connect() as conn:
        mapping = status_map.load(conn, connection_id)
    section = settings.reconcile
    return ReconcileOptions(
        forward=orders_jobs.options_from(settings, mapping),
        stock=stock_jobs.options_from(settings),
        window=dt.timedelta(hours=section.window_hours),
        grace=dt.timedelta(minutes=section.grace_minutes),
        stuck_after=dt.timedelta(hours=section.stuck_hours),
    )


@contextmanager
def open_sides(settings: Settings) -> Iterator[tuple[InflowClient, BitrixOrdersShop, BitrixShopStock]]:
    with open_clients(settings) as (wms, gateway):
        yield (
            wms,
            BitrixOrdersShop(gateway),
            BitrixShopStock(gateway, offer_key=settings.stock.offer_match_key),
        )


def run_once(settings: Settings, engine: Engine, *, repair: bool, connection_id: str) -> ReconcileReport:
    options = options_from(settings, connection_id, engine)
    with open_sides(settings) as (wms, shop, stock_shop):
        return reconcile(
            engine,
            wms,
            shop,
            stock_shop,
            options,
            repair=repair,
            clock=SystemClock(),
            connection_id=connection_id,
        )


@blueprint.task(RECONCILE_KIND)
def run(ctx: JobContext, settings: Settings) -> None:
    report = run_once(settings, ctx.engine, repair=True, connection_id=ctx.job.connection_id)
    if report.findings or report.notes:
        ctx.log.info(
            "reconcile.report",
            findings=[(f.check, f.subject, f.action) for f in report.findings[:50]],
            count=len(report.findings),
            notes=report.notes,
        )


@blueprint.periodic
def hourly(settings: Settings) -> Schedule | None:
    if settings.orders.go_live is None:
        return None
    return Schedule(
        name="reconcile",
        every=dt.timedelta(seconds=settings.schedules.reconcile_seconds),
        kind=RECONCILE_KIND,
        lock_key="reconcile",
    )

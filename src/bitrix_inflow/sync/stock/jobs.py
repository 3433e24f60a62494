"""The stock sync's jobs: incremental every ``schedules.stock_seconds``, full nightly and at start-up, targeted when
the warehouse rings (``stock.changed`` webhooks). All runs of a connection share one lock key, so they never overlap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from bitrix_inflow.adapters.inflow import InflowClient
from bitrix_inflow.config import Settings
from bitrix_inflow.domain.stock import SafetyBuffer
from bitrix_inflow.errors import NothingToDo
from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.blueprint import Blueprint, StartJob
from bitrix_inflow.jobs.registry import JobContext
from bitrix_inflow.jobs.scheduler import Schedule
from bitrix_inflow.store import stock as store
from bitrix_inflow.sync.sides import open_clients
from bitrix_inflow.sync.stock.bitrix_shop import BitrixShopStock
from bitrix_inflow.sync.stock.flow import StockOptions, StockReport, sync_stock
from bitrix_inflow.timing import SystemClock

SYNC_KIND = "stock.sync"
CONNECTION = queue.DEFAULT_CONNECTION

blueprint: Blueprint[Settings] = Blueprint("stock")


# Its name from before tenants ("stock:<connection>" then), kept so jobs queued before an upgrade keep their lock.
STOCK_LOCK = "stock:default"


def lock_key(connection_id: str = CONNECTION) -> str:
    """Every stock run of one tenant, scheduled or hinted, under one lock (the schedules' keys are made per tenant
    the same way, by ``queue.per_connection``)."""
    return queue.per_connection(STOCK_LOCK, connection_id)


def options_from(settings: Settings) -> StockOptions:
    stock = settings.stock
    default_warehouse = settings.inflow.warehouse if settings.inflow is not None else "MAIN"
    return StockOptions(
        warehouses=stock.warehouses or (default_warehouse,),
        match_key=stock.match_key,
        group_key=stock.group_key,
        aggregate=stock.aggregate,
        buffer=SafetyBuffer(everywhere=stock.buffer, by_group=stock.buffer_groups, by_sku=stock.buffer_skus),
        stores=stock.stores,
    )


@contextmanager
def open_sides(settings: Settings) -> Iterator[tuple[InflowClient, BitrixShopStock]]:
    """The warehouse client and the shop, from the settings; a missing side is a configuration error."""
    with open_clients(settings) as (wms, gateway):
        yield wms, BitrixShopStock(gateway, offer_key=settings.stock.offer_match_key)


@blueprint.task(SYNC_KIND)
def run(ctx: JobContext, settings: Settings) -> None:
    payload = ctx.payload
    connection_id = ctx.job.connection_id
    taken: dict[tuple[str, str], dt.datetime] = {}
    skus: set[str] | None = None
    if payload.get("hinted"):
        with ctx.engine.connect() as conn:
            taken = store.load_hints(conn, connection_id)
        if not taken:
            raise NothingToDo("no SKUs waiting: an earlier run took them")
        skus = {sku for sku, _ in taken}
    with open_sides(settings) as (wms, shop):
        report = sync_stock(
            ctx.engine,
            wms,
            shop,
            options_from(settings),
            clock=SystemClock(),
            full=bool(payload.get("full")),
            skus=skus,
            connection_id=connection_id,
        )
    if taken:
        with ctx.engine.begin() as conn:
            store.clear_hints(conn, connection_id, taken)
    _log(ctx, report)


def _log(ctx: JobContext, report: StockReport) -> None:
    if report.errors:
        ctx.log.warning(
            "stock.sync_errors", kind=report.kind, errors=report.errors[:20], count=len(report.errors)
        )


def hint(
    conn: Connection, warehouse: str, skus: list[str], *, now: dt.datetime, connection_id: str = CONNECTION
) -> int:
    """A doorbell from the warehouse: remember the SKUs and queue one targeted run (joining a waiting one)."""
    added = store.add_hints(conn, connection_id, warehouse, skus, now=now)
    if added:
        queue.enqueue_coalesced(
            conn,
            SYNC_KIND,
            {"hinted": True},
            key=f"stock:hinted:{connection_id}",
            now=now,
            connection_id=connection_id,
            lock_key=lock_key(connection_id),
            priority=10,  # a customer may be looking at the product right now
        )
    return added


def queue_full(conn: Connection, *, now: dt.datetime, reason: str, connection_id: str = CONNECTION) -> None:
    """One full run, soon, under the stock lock (joining one that waits already)."""
    queue.enqueue_coalesced(
        conn,
        SYNC_KIND,
        {"full": True, "reason": reason},
        key=f"stock:full:{connection_id}",
        now=now,
        connection_id=connection_id,
        lock_key=lock_key(connection_id),
    )


@blueprint.periodic
def incremental(settings: Settings) -> Schedule:
    return Schedule(
        name="stock.incremental",
        every=dt.timedelta(seconds=settings.schedules.stock_seconds),
        kind=SYNC_KIND,
        lock_key=lock_key(),
    )


@blueprint.periodic
def nightly(settings: Settings) -> Schedule:
    return Schedule(
        name="stock.full",
        every=dt.timedelta(seconds=settings.schedules.stock_full_seconds),
        kind=SYNC_KIND,
        payload={"full": True},
        lock_key=lock_key(),
    )


@blueprint.at_start
def full_at_start(settings: Settings) -> StartJob | None:
    if settings.inflow is None or settings.bitrix is None:
        return None  # nothing to sync with; `check` and the job's error say what is missing
    return StartJob(SYNC_KIND, {"full": True, "reason": "start-up"}, key="stock:start", lock_key=lock_key())

"""Reconciliation as the service runs it: its schedule, and its job run by a worker against both sandboxes."""

from __future__ import annotations

import json
import threading

from sqlalchemy import Engine, func, select

from bitrix_inflow.config import Settings
from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.worker import Worker
from bitrix_inflow.service import blueprints, build_registry, worker_settings
from bitrix_inflow.store import stock as stock_store
from bitrix_inflow.store.tables import jobs as jobs_table
from bitrix_inflow.sync.orders.notice import FORWARD_KIND
from bitrix_inflow.sync.reconcile import jobs
from bitrix_inflow.timing import SystemClock

from .conftest import Sides, running_sides


def test_reconcile_runs_on_its_schedule_once_orders_go_live() -> None:
    assert jobs.blueprint.schedules(Settings()) == []
    live = Settings(orders={"go_live": "2026-12-01T00:00:00+03:00"}, schedules={"reconcile_seconds": 900})
    [schedule] = jobs.blueprint.schedules(live)
    assert schedule.kind == jobs.RECONCILE_KIND and schedule.every.total_seconds() == 900
    assert schedule.lock_key == "reconcile"  # one at a time; its repairs are jobs under their own locks
    assert jobs.blueprint in blueprints(), "the service discovers reconciliation"


def test_the_job_repairs_an_order_the_service_never_saw(engine: Engine, db_url: str) -> None:
    with running_sides(engine, "site") as sides:
        _placed(engine, sides)
        settings = Settings(
            database={"url": db_url},
            inflow={"base_url": sides.warehouse.base_url, "api_key": "sandbox-key"},
            bitrix={
                "webhook_url": sides.shop.webhook_url,
                "verify": str(sides.shop.ca_file),
                "manager_user_id": 1,
            },
            orders={"go_live": "2020-01-01T00:00:00+03:00", "carriers": json.loads(_carriers(sides))},
            reconcile={"grace_minutes": 0},
        )
        with engine.begin() as conn:
            queue.enqueue(conn, jobs.RECONCILE_KIND, {}, now=SystemClock().now())
        registry = build_registry(settings, [jobs.blueprint]).only({jobs.RECONCILE_KIND})
        Worker(engine, registry, settings=worker_settings(settings)).run(
            threading.Event(), exit_when_idle=True
        )
        with engine.connect() as conn:
            forwards = conn.execute(
                select(func.count()).select_from(jobs_table).where(jobs_table.c.kind == FORWARD_KIND)
            ).scalar_one()
            done = conn.execute(
                select(jobs_table.c.status).where(jobs_table.c.kind == jobs.RECONCILE_KIND)
            ).scalar_one()
        assert (forwards, done) == (1, "done")
        assert (
            sides.wms_orders() == []
        )  # queued for the forwarding worker; reconciliation sends nothing itself


def _placed(engine: Engine, sides: Sides) -> int:
    with engine.connect() as conn:
        tee = stock_store.load_links(conn, "default")["SB-TEE-CLASSIC-S"].product_id
    lines = [{"productId": tee, "quantity": 1}]
    return int(sides.shop.control.place_order(lines=lines, shipments=[{"deliveryId": 2, "lines": [0]}])["id"])


def _carriers(sides: Sides) -> str:
    return json.dumps({str(row["id"]): str(row["name"]) for row in sides.shop.control.entities("deliveries")})

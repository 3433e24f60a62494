"""``bitrix-inflow demo``: runs what exists on embedded defaults (SQLite under ./var, both sandboxes on loopback).

1. Starts the sandbox warehouse (Inflow WMS, REST, API key) and the sandbox shop (1C-Bitrix "site", HTTPS with its
   own test CA), and points the real adapters at them: the same checks ``bitrix-inflow check`` runs, then the
   warehouse's sellable stock streamed page by page and the shop's new orders read the way the poller reads them.
   Then the stock sync: a full sync in quantity mode (with the unmatched report), an incremental one after a change
   in the warehouse (one write), and a full sync in document mode (stock documents per store).
2. Exercises the durable job engine in the real state database: jobs per order serialised by lock key, a
   transient failure retried with backoff, a rate limit honoured, a permanent failure parked as ``dead``.

The order flows arrive with their own issues; then this demo runs them too.
"""

from __future__ import annotations

import itertools
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from rich.markup import escape
from rich.table import Table

from bitrix_inflow import log
from bitrix_inflow.adapters.bitrix import BitrixGateway, BitrixSettings, OrderWatermark
from bitrix_inflow.adapters.inflow import InflowClient, InflowSettings
from bitrix_inflow.cli.check import bitrix_findings, findings_table, inflow_findings
from bitrix_inflow.cli.common import console, database, settings
from bitrix_inflow.cli.sync import show_summary
from bitrix_inflow.errors import PermanentError, RateLimitedError, TransientError
from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import Job, JobStatus, RetryPolicy
from bitrix_inflow.jobs.registry import JobContext, JobRegistry
from bitrix_inflow.jobs.worker import Worker, WorkerSettings
from bitrix_inflow.sandboxes import wms
from bitrix_inflow.sandboxes.bitrix import SandboxConfig, running_bitrix_sandbox
from bitrix_inflow.store import schema
from bitrix_inflow.store import stock as store
from bitrix_inflow.store.engine import make_engine
from bitrix_inflow.sync.stock.bitrix_shop import BitrixShopStock
from bitrix_inflow.sync.stock.flow import StockOptions, sync_stock
from bitrix_inflow.timing import SystemClock

DEMO_TIMEOUT_SECONDS = 60
SANDBOX_WMS_KEY = "sandbox-key"  # the sandbox warehouse's default API key


def _registry(calls: Counter[str]) -> JobRegistry:
    registry = JobRegistry(default_policy=RetryPolicy(max_attempts=4, base_delay=0.3, max_delay=2.0))
    lock = threading.Lock()

    def count(ctx: JobContext) -> int:
        with lock:
            calls[f"{ctx.job.kind}#{ctx.job.id}"] += 1
            return calls[f"{ctx.job.kind}#{ctx.job.id}"]

    @registry.handler("demo.forward_order")
    def forward_order(ctx: JobContext) -> None:
        count(ctx)
        time.sleep(0.02)

    @registry.handler("demo.flaky_wms")
    def flaky(ctx: JobContext) -> None:
        if count(ctx) <= 2:
            raise TransientError("WMS answered 503 Service Unavailable")

    @registry.handler("demo.rate_limited")
    def limited(ctx: JobContext) -> None:
        if count(ctx) == 1:
            raise RateLimitedError("Bitrix answered 503 QUERY_LIMIT_EXCEEDED", retry_after=1.0)

    @registry.handler("demo.bad_mapping")
    def bad(ctx: JobContext) -> None:
        count(ctx)
        raise PermanentError("Inflow status 'SHORT_PICK' has no Bitrix status in the mapping table")

    return registry


def _sandboxes() -> None:
    console.rule("[bold]the sandboxes, through the real adapters")
    # Both load the sandboxes' shared catalogue, so the shop's products are the warehouse's SKUs.
    with (
        wms.run_in_process(wms.SandboxSettings(seed=7, bins=400, qty_min=0, qty_max=30)) as warehouse,
        running_bitrix_sandbox(SandboxConfig(profile="site"), orders=6) as shop,
    ):
        console.print(f"warehouse: {warehouse.api_url}   shop: {shop.webhook_url.rsplit('/', 2)[0]}/…")
        inflow = InflowSettings(base_url=warehouse.base_url, api_key=SecretStr(SANDBOX_WMS_KEY))
        bitrix = BitrixSettings(
            webhook_url=SecretStr(shop.webhook_url), verify=shop.ca_file, manager_user_id=1
        )
        results = [*inflow_findings(inflow), *bitrix_findings(bitrix)]
        console.print(findings_table(results, "bitrix-inflow check (against the sandboxes)"))
        with InflowClient(inflow) as client:
            rows = list(client.iter_available_stock(warehouse=inflow.warehouse, limit=10))
        sellable = [row for row in rows if row.qty_available > 0]
        console.print(
            f"warehouse stock streamed in pages of 10: {len(rows)} SKUs, {len(sellable)} sellable, "
            f"{sum(row.qty_available for row in rows)} units available"
        )
        gateway = BitrixGateway(bitrix)
        try:
            changed = gateway.orders_changed_since(OrderWatermark())
        finally:
            gateway.close()
        ids = ", ".join(str(order.id) for order in changed.new)
        console.print(
            f"shop orders found by the poller: {len(changed.new)} new ({ids}); "
            f"next poll starts after id {changed.watermark.last_id}"
        )
        _stock_sync(warehouse, shop, inflow, bitrix)


def _stock_sync(warehouse: Any, shop: Any, inflow: InflowSettings, bitrix: BitrixSettings) -> None:
    """The stock flow on the sandboxes, in a state database of its own (the user's state is never touched)."""
    console.rule("[bold]stock sync: warehouse → shop")
    clock = SystemClock()
    with tempfile.TemporaryDirectory(prefix="bitrix-inflow-demo-") as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'stock.db'}")
        schema.upgrade(engine)
        try:
            with InflowClient(inflow) as client, BitrixGateway(bitrix) as gateway:
                shop_side = BitrixShopStock(gateway)
                options = StockOptions(warehouses=(inflow.warehouse,), stores={inflow.warehouse: 1})
                shop.control.settings(inventory_management=False)
                full = sync_stock(engine, client, shop_side, options, clock=clock, full=True)
                show_summary(full, title="full sync, quantity mode (no inventory management)")
                with engine.connect() as conn:
                    unmatched = store.load_unmatched(conn, "default")
                for item in unmatched[:8]:
                    console.print(f"  unmatched ({item.side}): {escape(item.item)} — {escape(item.detail)}")
                sku = sorted(store_links(engine))[0]
                _adjust(warehouse, inflow.warehouse, sku, 5)
                incremental = sync_stock(engine, client, shop_side, options, clock=clock)
                changed = ", ".join(f"{', '.join(p.skus)} {p.before}→{p.after}" for p in incremental.plan)
                console.print(
                    f"the warehouse received 5 more of {sku}; the incremental sync wrote only what changed "
                    f"({incremental.written}): {changed}"
                )
                shop.control.settings(inventory_management=True)
                documents = sync_stock(engine, client, shop_side, options, clock=clock, full=True)
                show_summary(documents, title="full sync, document mode (inventory management on, store 1)")
        finally:
            engine.dispose()


def store_links(engine: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        return store.load_links(conn, "default")


def _adjust(warehouse: Any, code: str, sku: str, delta: int) -> None:
    httpx.post(
        warehouse.base_url + "/_sandbox/stock",
        json={"warehouse": code, "sku": sku, "delta": delta},
        timeout=30,
    ).raise_for_status()


def demo() -> None:
    """Run the main job on embedded defaults and show the outcome."""
    loaded = settings(log.SHOWCASE)
    db = database(loaded, require_current=False)
    schema.upgrade(db)
    console.rule("[bold]bitrix-inflow demo")
    _sandboxes()
    console.rule("[bold]the durable job engine")
    console.print(
        f"state database: {db.url.render_as_string(hide_password=True)} (schema {schema.head_revision()})"
    )
    clock = SystemClock()
    ids: list[int] = []
    with db.begin() as conn:
        for n, order in zip(range(12), itertools.cycle(("1001", "1002", "1003")), strict=False):
            ids.append(
                queue.enqueue(
                    conn,
                    "demo.forward_order",
                    {"order": order, "step": n},
                    now=clock.now(),
                    lock_key=f"order:{order}",
                ).job_id
            )
        for kind in ("demo.flaky_wms", "demo.rate_limited", "demo.bad_mapping"):
            ids.append(queue.enqueue(conn, kind, {}, now=clock.now(), max_attempts=4).job_id)
    console.print(f"enqueued {len(ids)} jobs; running 2 workers…")
    calls: Counter[str] = Counter()
    registry = _registry(calls)
    stop = threading.Event()
    workers = [
        Worker(db, registry, settings=WorkerSettings(lease_seconds=10, heartbeat_seconds=2, poll_seconds=0.1))
        for _ in range(2)
    ]
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + DEMO_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with db.connect() as conn:
            if not queue.any_active(conn, ids):
                break
        time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join()
    with db.connect() as conn:
        finished = [j for j in (queue.get(conn, job_id) for job_id in ids) if j is not None]
    _show(finished)


def _show(finished: list[Job]) -> None:
    table = Table(title="jobs of this demo run", header_style="bold")
    for column in ("id", "kind", "lock key", "status", "attempts", "note / last error"):
        table.add_column(column, overflow="fold")
    for job in finished:
        colour = {"done": "green", "dead": "red"}.get(job.status.value, "yellow")
        table.add_row(
            str(job.id),
            job.kind,
            job.lock_key or "",
            f"[{colour}]{job.status.value}[/]",
            str(job.attempts),
            escape(job.last_error.splitlines()[0]) if job.last_error else "",
        )
    console.print(table)
    dead = [j.id for j in finished if j.status is JobStatus.DEAD]
    console.print(
        f"done: {sum(j.status is JobStatus.DONE for j in finished)}, dead: {len(dead)}"
        + (
            f" — inspect with `bitrix-inflow jobs list --status dead`, re-run with `bitrix-inflow jobs retry {dead[0]}`"
            if dead
            else ""
        )
    )

"""One soak run: the world, the instances, the people and the killer together; then the settling and the checks."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, select

from bench.soak.chaos import Killer
from bench.soak.cluster import Cluster, Instance
from bench.soak.customers import Customers, Mix, Record
from bench.soak.invariants import Findings, check
from bench.soak.world import HOOK_SECRET, Faults, World, fresh_database, running_world, secrets_env
from bitrix_inflow.store import stock as stock_store
from bitrix_inflow.store.engine import make_engine
from bitrix_inflow.store.tables import jobs

FINAL = ("DELIVERED", "CANCELLED", "PICKING_ERROR")


@dataclass(frozen=True)
class SoakOptions:
    orders: int = 2000
    rate: float = 3.0  # orders per second
    kills: int = 20
    instances: int = 2
    workers: int = 3
    lease_seconds: float = 8.0
    pace: float = 2.0  # seconds between two warehouse steps of every open order
    pg_admin: str | None = None  # a PostgreSQL admin URL (a fresh database is made beside it); None: SQLite
    database: str | None = None  # an empty database to use instead (the tests' own)
    seed: int = 17
    settle_timeout_s: float = 900.0
    work: Path | None = None
    faults: Faults = field(default_factory=Faults)
    mix: Mix = field(default_factory=Mix)


@dataclass
class SoakReport:
    options: SoakOptions
    findings: Findings
    record: Record
    kills: list[tuple[float, str]]
    wms_faults_met: dict[str, int]
    shop_errors: dict[str, int]
    seconds: dict[str, float]
    work: Path

    @property
    def ok(self) -> bool:
        return self.findings.ok and len(self.kills) >= self.options.kills


def run_soak(options: SoakOptions, say: object = None) -> SoakReport:
    tell = say if callable(say) else _say
    work = options.work or Path(tempfile.mkdtemp(prefix="bitrix-inflow-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    started = time.monotonic()
    verdict: list[bool] = []
    made = (
        nullcontext(options.database)
        if options.database
        else fresh_database(work, options.pg_admin, keep=lambda: verdict != [True])
    )
    with (
        made as database,
        running_world(
            work,
            database=database,
            faults=options.faults,
            workers=options.workers,
            lease=options.lease_seconds,
            pace=options.pace,
        ) as world,
    ):
        engine = make_engine(world.database)
        instances = [
            Instance(
                f"instance-{n + 1}", world.config, secrets_env(world.shop), work / f"instance-{n + 1}.log"
            )
            for n in range(options.instances)
        ]
        with Cluster(instances) as cluster:
            _ring_doorbells(world, cluster)
            products = _wait_for_links(engine)
            tell(f"{len(instances)} instances up, {len(products)} products linked; faults on, orders coming")
            world.wms_faults(options.faults.wms())
            customers = Customers(
                world, products, orders=options.orders, rate=options.rate, mix=options.mix, seed=options.seed
            )
            killer = Killer(cluster, options.kills, window_s=options.orders / options.rate, seed=options.seed)
            stop = threading.Event()
            threads = [
                threading.Thread(target=customers.run, args=(stop,), name="customers", daemon=True),
                threading.Thread(target=killer.run, args=(stop,), name="killer", daemon=True),
            ]
            for thread in threads:
                thread.start()
            try:
                while not (customers.done.is_set() and killer.done.is_set()):
                    time.sleep(5)
                    tell(
                        f"  {time.monotonic() - started:6.0f} s: {len(customers.record.placed)} orders placed, "
                        f"{len(killer.log)} kills"
                    )
            finally:
                stop.set()
                for thread in threads:
                    thread.join(timeout=60)
            for failure in (customers.failure, killer.failure):
                if failure is not None:
                    raise RuntimeError(f"the soak's own driver failed: {failure!r}") from failure
            seconds["load"] = time.monotonic() - started
            met = httpx.get(world.warehouse.base_url + "/_sandbox/faults/met", timeout=30).json()
            world.wms_faults(None)  # the storm is over: what is left must settle by itself
            for instance in cluster.instances:
                if not instance.alive:
                    instance.start()
                    instance.wait_ready()
            tell("faults off; settling")
            settle_started = time.monotonic()
            findings = _settle(world, engine, customers.record, options.settle_timeout_s, tell)
            verdict.append(findings.ok)
            if not findings.ok:
                tell(f"the database is kept for a look: {world.database}")
            seconds["settle"] = time.monotonic() - settle_started
        shop_errors = dict(world.shop.control.info().get("errors_answered", {}))
        engine.dispose()
    seconds["total"] = time.monotonic() - started
    return SoakReport(options, findings, customers.record, killer.log, met, shop_errors, seconds, work)


def _say(text: str) -> None:
    print(text, flush=True)


def _ring_doorbells(world: World, cluster: Cluster) -> None:
    """The warehouse's webhooks go to the first instance, the shop's events to the last: whichever is down when a
    call comes, the polls bring it later."""
    first, last = cluster.instances[0], cluster.instances[-1]
    with world.wms_api() as api:
        api.post(
            "/webhooks",
            json={
                "url": first.url + "/hooks/inflow",
                "events": ["order.status_changed", "stock.changed"],
                "secret": HOOK_SECRET,
            },
        ).raise_for_status()
    world.shop.control.configure_events(handler_url=last.url + "/hooks/bitrix")


def _wait_for_links(engine: Engine, timeout: float = 180) -> list[int]:
    """The start-up full stock sync links the shop's products to the warehouse's SKUs; orders need the links."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            links = stock_store.load_links(conn, "default")
            busy = conn.execute(
                select(func.count()).where(
                    jobs.c.kind.like("stock%"), jobs.c.status.in_(("queued", "running"))
                )
            ).scalar_one()
        if links and not busy:
            return sorted(link.product_id for link in links.values() if not link.barcode_multi)
        time.sleep(1)
    raise RuntimeError(f"no products linked after {timeout:.0f} s: the first stock sync did not finish")


def _settle(world: World, engine: Engine, record: Record, timeout: float, tell: object) -> Findings:
    """Wait for the warehouse to finish every order, then for the service to catch up; the checks run until they
    hold or the time is up (then their last findings are the verdict)."""
    say = tell if callable(tell) else _say
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        open_ = [o for o in world.wms_orders() if o["status"] not in FINAL]
        if not open_:
            break
        say(f"  the warehouse still works on {len(open_)} picking orders")
        time.sleep(10)
    findings = check(world, engine, record)
    while time.monotonic() < deadline:
        findings = check(world, engine, record)
        if all(not findings.violations[k] for k in findings.violations if k != "stock"):
            break
        left = {k: v for k, v in findings.violations.items() if v and k != "stock"}
        say("  settling: " + "; ".join(f"{k}: {len(v)}, e.g. {v[0]}" for k, v in left.items()))
        time.sleep(10)
    _full_stock_sync(world)
    return check(world, engine, record)


def _full_stock_sync(world: World) -> None:
    """The operator's `sync stock --full`: the last word on stock before it is compared."""
    env = {**os.environ, **secrets_env(world.shop)}
    done = subprocess.run(
        [sys.executable, "-m", "bitrix_inflow", "--config", str(world.config), "sync", "stock", "--full"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"sync stock --full failed: {done.stderr[-2000:]}")

"""Two ``serve`` instances on one PostgreSQL database share the work; one is SIGKILLed while it is sending an order
to the warehouse and the other finishes: every order ends with its picking orders, each in the warehouse once."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.soak.cluster import Cluster, Instance
from bench.soak.main import CALM
from bench.soak.world import World, running_world, secrets_env
from sqlalchemy import Engine, select

from bitrix_inflow.store import orders as order_store
from bitrix_inflow.store import stock as stock_store
from bitrix_inflow.store.engine import make_engine
from bitrix_inflow.store.tables import jobs
from bitrix_inflow.sync.orders.notice import FORWARD_KIND


@pytest.fixture
def world(pg_url: str, tmp_path: Path) -> Iterator[World]:
    # pace 0: the warehouse leaves the picking orders NEW, so what is checked is the sending alone.
    with running_world(tmp_path, database=pg_url, faults=CALM, workers=2, lease=6, pace=0) as made:
        yield made


def linked_products(engine: Engine, timeout: float = 120) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            links = stock_store.load_links(conn, "default")
        if links:
            return sorted(link.product_id for link in links.values() if not link.barcode_multi)
        time.sleep(0.5)
    raise AssertionError("the start-up stock sync linked no products")


def sending(engine: Engine, instances: list[Instance]) -> tuple[int, Instance] | None:
    """A forwarding job running now, and the instance running it (worker ids carry the process id)."""
    with engine.connect() as conn:
        running = conn.execute(
            select(jobs.c.id, jobs.c.leased_by).where(jobs.c.kind == FORWARD_KIND, jobs.c.status == "running")
        ).all()
    for job_id, leased_by in running:
        for instance in instances:
            if instance.proc is not None and f":{instance.proc.pid}:" in (leased_by or ""):
                return int(job_id), instance
    return None


def test_an_instance_killed_mid_export_leaves_its_work_to_the_other_and_nothing_is_sent_twice(
    world: World, tmp_path: Path
) -> None:
    engine = make_engine(world.database)
    env = secrets_env(world.shop)
    first, second = (
        Instance(name, world.config, env, tmp_path / f"{name}.log") for name in ("first", "second")
    )
    with Cluster([first, second]):
        products = linked_products(engine)
        # The warehouse takes its time over each new picking order, so a send is in flight long enough to be cut.
        world.wms_faults({"processing_delay_ms": 1500})
        deliveries = [int(row["id"]) for row in world.shop.control.entities("deliveries")]
        placed = []
        for n in range(12):
            lines = [{"productId": products[(n + k) % len(products)], "quantity": 1} for k in range(3)]
            shipments = [{"deliveryId": deliveries[n % len(deliveries)], "lines": [0, 1, 2]}]
            placed.append(int(world.shop.control.place_order(lines=lines, shipments=shipments)["id"]))
        # The shop's events reach the first instance; either may take the forwarding jobs they queue.
        world.shop.control.configure_events(handler_url=first.url + "/hooks/bitrix")
        world.shop_admin("sale.order.update", {"id": placed[0], "fields": {"comments": "a save: an event"}})

        deadline, found = time.monotonic() + 120, None
        while found is None and time.monotonic() < deadline:
            found = sending(engine, [first, second])
            time.sleep(0.05)
        assert found is not None, "no instance started sending (no event, no poll?)"
        cut, victim = found
        survivor = second if victim is first else first
        time.sleep(0.7)  # into the warehouse's processing: the request is in, its answer not back yet
        killed_at = dt.datetime.now(dt.UTC)
        victim.kill()
        assert not victim.alive

        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                states = [order_store.load_binding(conn, "default", order_id) for order_id in placed]
            if all(b is not None and b.state == "forwarded" for b in states):
                break
            time.sleep(1)
        assert survivor.alive and not victim.alive  # no restart: the survivor did the rest

    with engine.connect() as conn:
        bindings = {order_id: order_store.load_binding(conn, "default", order_id) for order_id in placed}
        parts = {order_id: order_store.parts_of(conn, "default", order_id) for order_id in placed}
        job = conn.execute(
            select(jobs.c.status, jobs.c.attempts, jobs.c.payload).where(jobs.c.id == cut)
        ).one()
    engine.dispose()
    assert {order_id: b.state if b else None for order_id, b in bindings.items()} == dict.fromkeys(
        placed, "forwarded"
    )
    assert job.status == "done" and job.attempts >= 2, "the killed instance's job was taken over and finished"
    refs = Counter(o["external_ref"] for o in world.wms_orders())
    planned = {p.external_ref for order_parts in parts.values() for p in order_parts}
    assert set(refs) == planned and all(p.state == "accepted" for ps in parts.values() for p in ps)
    assert max(refs.values()) == 1, f"a picking order twice: {[r for r, n in refs.items() if n > 1]}"
    # Mid-export indeed: the warehouse created a picking order of that order after its sender was dead.
    cut_order = int(dict(job.payload)["order_id"])
    created = [
        dt.datetime.fromisoformat(o["created_at"])
        for o in world.wms_orders()
        if o["external_ref"].startswith(f"B-{cut_order}-")
    ]
    assert any(at > killed_at for at in created), (killed_at, created)

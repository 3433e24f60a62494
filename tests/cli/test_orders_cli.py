"""`sync orders`, `sync statuses` and `orders show` as an operator runs them: a process with its settings in the
environment, against the two sandboxes."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, update

from bitrix_inflow.jobs import queue
from bitrix_inflow.jobs.model import JobStatus
from bitrix_inflow.store import connections
from bitrix_inflow.store import orders as order_store
from bitrix_inflow.store import stock as stock_store
from bitrix_inflow.store.tables import jobs
from bitrix_inflow.sync.orders.notice import FORWARD_KIND
from sandbox_env import service_environment


def run(
    db_url: str,
    warehouse: Any,
    shop: Any,
    cwd: Path,
    *args: str,
    go_live: bool = True,
    settings: dict[str, str] | None = None,
) -> tuple[int, str]:
    carriers = {str(row["id"]): str(row["name"]) for row in shop.control.entities("deliveries")}
    extra = {"BITRIX_INFLOW__ORDERS__CARRIERS": json.dumps(carriers), **(settings or {})}
    if go_live:
        extra["BITRIX_INFLOW__ORDERS__GO_LIVE"] = "2020-01-01T00:00:00+03:00"
    env = service_environment(warehouse, shop, db_url, **extra)
    done = subprocess.run(
        [sys.executable, "-m", "bitrix_inflow", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout.decode() + done.stderr.decode()


def test_one_round_forwards_then_follows_and_shows_an_order(
    db_url: str, engine: Engine, sides: tuple[Any, Any], tmp_path: Path
) -> None:
    warehouse, shop = sides
    with engine.connect() as conn:
        links = stock_store.load_links(conn, "default")
    hoodie, sneaker = links["SB-HOODIE-URBAN-M"].product_id, links["SB-SNEAKER-RUN-41"].product_id
    lines = [{"productId": hoodie, "quantity": 1}, {"productId": sneaker, "quantity": 1}]
    order_id = int(
        shop.control.place_order(lines=lines, shipments=[{"deliveryId": 2, "lines": [0, 1]}])["id"]
    )

    code, output = run(db_url, warehouse, shop, tmp_path, "sync", "orders", go_live=False)
    assert code != 0 and "go_live" in output

    code, output = run(db_url, warehouse, shop, tmp_path, "sync", "orders", "--dry-run")
    assert code == 0, output
    assert (
        "nothing was sent" in output and "SB-HOODIE-URBAN-M x1" in output and "SB-SNEAKER-RUN-41 x1" in output
    )
    orders_url = warehouse.base_url + "/_sandbox/orders"
    assert httpx.get(orders_url, timeout=30).json()["items"] == []

    code, output = run(db_url, warehouse, shop, tmp_path, "sync", "orders")
    assert code == 0, output
    assert "1 to forward" in output and "forwarded" in output
    placed = httpx.get(orders_url, timeout=30).json()["items"]
    assert sorted(o["external_ref"] for o in placed) == [f"B-{order_id}-1", f"B-{order_id}-2"]

    # A manager edits the hoodie line before anyone picks it: the next round re-sends that part only.
    basket = sorted(int(r["id"]) for r in shop.control.entities("basketItems", orderId=order_id))
    shop.control.edit_line(order_id, basket[0], 2)
    code, output = run(db_url, warehouse, shop, tmp_path, "sync", "orders")
    assert code == 0, output
    placed = {o["external_ref"]: o for o in httpx.get(orders_url, timeout=30).json()["items"]}
    assert placed[f"B-{order_id}-1"]["status"] == "CANCELLED" and f"B-{order_id}r2-1" in placed

    live = [o for o in placed.values() if o["status"] != "CANCELLED"]
    for order in live:
        url = f"{orders_url}/{order['id']}/advance"
        httpx.post(url, json={"to": "PICKING"}, timeout=30).raise_for_status()
    code, output = run(db_url, warehouse, shop, tmp_path, "sync", "statuses")
    assert code == 0, output
    assert "picking order(s) moved" in output
    assert shop.control.entity("orders", order_id)["statusId"] == "Q"

    # Edited again while it is picked: recorded for a person, nothing cancelled or sent. (Once shipped, the shop
    # itself refuses to change a line.)
    shop.control.edit_line(order_id, basket[1], 3)
    code, output = run(db_url, warehouse, shop, tmp_path, "sync", "orders")
    assert code == 0, output
    assert len(httpx.get(orders_url, timeout=30).json()["items"]) == 3

    for order in live:
        url = f"{orders_url}/{order['id']}/advance"
        httpx.post(url, json={"to": "SHIPPED"}, timeout=30).raise_for_status()
    code, output = run(db_url, warehouse, shop, tmp_path, "sync", "statuses")
    assert code == 0, output
    assert shop.control.entity("orders", order_id)["statusId"] == "D"

    code, output = run(db_url, warehouse, shop, tmp_path, "orders", "show", str(order_id))
    assert code == 0, output
    assert f"B-{order_id}r2-1" in output and "SHIPPED" in output and "superseded" in output
    assert "conflicts" in output and "edit_after_picking" in output and "orders.forward" in output


def test_a_round_killed_while_the_warehouse_creates_a_picking_order_creates_nothing_twice(
    db_url: str, engine: Engine, sides: tuple[Any, Any], tmp_path: Path
) -> None:
    """SIGKILL after the create request left and before its answer was committed: the warehouse still creates the
    picking order; the next round finds the part `sending`, sends the same request with the same key, and adopts
    that order instead of creating another."""
    warehouse, shop = sides
    with engine.connect() as conn:
        links = stock_store.load_links(conn, "default")
    lines = [
        {"productId": links["SB-HOODIE-URBAN-M"].product_id, "quantity": 1},
        {"productId": links["SB-SNEAKER-RUN-41"].product_id, "quantity": 1},
    ]
    order_id = int(
        shop.control.place_order(lines=lines, shipments=[{"deliveryId": 2, "lines": [0, 1]}])["id"]
    )
    faults = warehouse.base_url + "/_sandbox/faults"
    httpx.put(faults, json={"processing_delay_ms": 3000}, timeout=30).raise_for_status()
    process = start_round(db_url, warehouse, shop, tmp_path, "orders")
    try:
        wait_until(
            lambda: _part_states(engine, order_id)[:1] == ["sending"], "the first part to be on its way"
        )
        # The part is marked on its way just before its request, which then takes 3 s in the warehouse: 1 s on,
        # the request is surely there, still unanswered.
        time.sleep(1.0)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    orders_url = warehouse.base_url + "/_sandbox/orders"
    wait_until(
        lambda: len(httpx.get(orders_url, timeout=30).json()["items"]) == 1, "the warehouse to create it"
    )
    httpx.put(faults, json={"processing_delay_ms": 0}, timeout=30).raise_for_status()
    leases_run_out(engine)  # the next round takes the job over

    code, output = run(db_url, warehouse, shop, tmp_path, "sync", "orders")
    assert code == 0, output
    placed = httpx.get(orders_url, timeout=30).json()["items"]
    assert sorted(o["external_ref"] for o in placed) == [f"B-{order_id}-1", f"B-{order_id}-2"], "none twice"
    assert _part_states(engine, order_id) == ["accepted", "accepted"]
    assert shop.control.entity("orders", order_id)["statusId"] == "P"


def start_round(db_url: str, warehouse: Any, shop: Any, cwd: Path, flow: str) -> subprocess.Popen[bytes]:
    """`sync <flow>` as a process to kill, with a short job lease (5 s) so the next round takes its job over soon."""
    carriers = {str(row["id"]): str(row["name"]) for row in shop.control.entities("deliveries")}
    env = service_environment(
        warehouse,
        shop,
        db_url,
        BITRIX_INFLOW__ORDERS__CARRIERS=json.dumps(carriers),
        BITRIX_INFLOW__ORDERS__GO_LIVE="2020-01-01T00:00:00+03:00",
        BITRIX_INFLOW__JOBS__LEASE_SECONDS="5",
        BITRIX_INFLOW__JOBS__HEARTBEAT_SECONDS="2",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bitrix_inflow", "sync", flow],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _part_states(engine: Engine, order_id: int) -> list[str]:
    with engine.connect() as conn:
        return [p.state for p in order_store.parts_of(conn, "default", order_id)]


def leases_run_out(engine: Engine) -> None:
    """What waiting out the lease would do, without the wait: the killed round's jobs are left running with a lease
    that has ended, as a dead worker leaves them once its lease time passes."""
    with engine.begin() as conn:
        ended = conn.execute(
            update(jobs)
            .where(jobs.c.status == "running")
            .values(lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        ).rowcount
    assert ended >= 1, "the killed round left no job running"


def wait_until(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("stage", ["before", "after"])
def test_a_round_killed_while_writing_a_status_ends_with_the_right_status(
    db_url: str, engine: Engine, sides: tuple[Any, Any], tmp_path: Path, stage: str
) -> None:
    """SIGKILL while the shop holds the status write, before it ran or after it ran with its answer kept back: the
    next round applies the status once (compare-and-set), and no picking order is touched."""
    warehouse, shop = sides
    with engine.connect() as conn:
        links = stock_store.load_links(conn, "default")
    line = {"productId": links["SB-HOODIE-URBAN-M"].product_id, "quantity": 1}
    order_id = int(shop.control.place_order(lines=[line], shipments=[{"deliveryId": 2, "lines": [0]}])["id"])
    code, output = run(db_url, warehouse, shop, tmp_path, "sync", "orders")
    assert code == 0, output
    [picking] = httpx.get(warehouse.base_url + "/_sandbox/orders", timeout=30).json()["items"]
    url = f"{warehouse.base_url}/_sandbox/orders/{picking['id']}/advance"
    httpx.post(url, json={"to": "PICKING"}, timeout=30).raise_for_status()

    shop.control.faults(hold_methods=["sale.order.update"], hold_stage=stage)
    process = start_round(db_url, warehouse, shop, tmp_path, "statuses")
    try:
        wait_until(
            lambda: any(h["state"] == "held" for h in shop.control.holds()), "the status write to be held"
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    shop.control.release_holds(drop=True)  # what was not run yet never runs: the client is gone
    wait_until(lambda: all(h["finished"] for h in shop.control.holds()), "the held write to finish")
    expected_now = "Q" if stage == "after" else "P"
    assert shop.control.entity("orders", order_id)["statusId"] == expected_now
    leases_run_out(engine)

    code, output = run(db_url, warehouse, shop, tmp_path, "sync", "statuses")
    assert code == 0, output
    assert shop.control.entity("orders", order_id)["statusId"] == "Q"
    assert len(httpx.get(warehouse.base_url + "/_sandbox/orders", timeout=30).json()["items"]) == 1
    with engine.connect() as conn:
        binding = order_store.load_binding(conn, "default", order_id)
    assert binding is not None and binding.applied_status == "PICKING"


@pytest.mark.parametrize("stage", ["before", "after"])
def test_a_round_killed_while_writing_a_cohorts_statuses_sends_nothing_twice_and_ends_right(
    db_url: str, engine: Engine, sides: tuple[Any, Any], tmp_path: Path, stage: str
) -> None:
    """Six orders forwarded as one cohort; SIGKILL while the shop holds the batch that writes their statuses, before
    it ran or after it ran with its answer kept back. The next round takes the jobs over: every order has exactly
    its planned picking orders and the status P, written once."""
    warehouse, shop = sides
    with engine.connect() as conn:
        links = stock_store.load_links(conn, "default")
    skus = ["SB-HOODIE-URBAN-M", "SB-SNEAKER-RUN-41", "SB-TEE-CLASSIC-S"]
    order_ids = [
        int(
            shop.control.place_order(
                lines=[{"productId": links[skus[n % 3]].product_id, "quantity": 1}],
                shipments=[{"deliveryId": 2 + n % 2, "lines": [0]}],
            )["id"]
        )
        for n in range(6)
    ]
    shop.control.faults(hold_methods=["sale.order.update"], hold_stage=stage)
    process = start_round(db_url, warehouse, shop, tmp_path, "orders")
    try:
        wait_until(
            lambda: any(h["state"] == "held" for h in shop.control.holds()), "the status batch to be held"
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    [held] = shop.control.holds()
    assert held["method"] == "batch" and "sale.order.update" in held["commands"], held
    shop.control.release_holds(drop=True)
    wait_until(lambda: all(h["finished"] for h in shop.control.holds()), "the held batch to finish")
    statuses = [shop.control.entity("orders", i)["statusId"] for i in order_ids]
    assert statuses == (["P"] * 6 if stage == "after" else ["N"] * 6)  # the cohort's writes travel together
    leases_run_out(engine)

    code, output = run(db_url, warehouse, shop, tmp_path, "sync", "orders")
    assert code == 0, output
    assert [shop.control.entity("orders", i)["statusId"] for i in order_ids] == ["P"] * 6
    placed = httpx.get(warehouse.base_url + "/_sandbox/orders", timeout=30).json()["items"]
    assert sorted(o["external_ref"] for o in placed) == sorted(f"B-{i}-1" for i in order_ids), "none twice"
    for order_id in order_ids:
        assert _part_states(engine, order_id) == ["accepted"]
        with engine.connect() as conn:
            binding = order_store.load_binding(conn, "default", order_id)
        assert binding is not None and binding.state == "forwarded"
        assert binding.applied_status == "NEW"


def test_a_round_runs_only_its_own_tenant_s_jobs(
    db_url: str, engine: Engine, sides: tuple[Any, Any], tmp_path: Path
) -> None:
    """`sync orders` holds the default tenant's settings: another tenant's waiting forward is not its to run (it
    would read this shop's order and send it to this warehouse under the other tenant's name)."""
    warehouse, shop = sides
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        connections.ensure(conn, "north", now=now)
        theirs = queue.enqueue(conn, FORWARD_KIND, {"order_id": 1}, now=now, connection_id="north").job_id
    code, output = run(db_url, warehouse, shop, tmp_path, "sync", "orders")
    assert code == 0, output
    assert "0 forwarding job(s) ran" in output
    with engine.connect() as conn:
        left = queue.get(conn, theirs)
    assert left is not None and left.status is JobStatus.QUEUED and left.attempts == 0
    assert httpx.get(warehouse.base_url + "/_sandbox/orders", timeout=30).json()["items"] == []

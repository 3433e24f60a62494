"""Orders (issue 9): ``--orders`` orders forwarded and driven to DELIVERED by ``bitrix-inflow serve``, the cloud
requests per forwarded order beside the floor and a naive per-order baseline, status latency by event and by poll.

Both sandboxes run in their own processes on loopback from one generated catalogue; the service is the real
``bitrix-inflow serve`` (``--workers`` job threads, SQLite) configured through its environment, as a user runs it.

* ``forward``: ``--orders`` orders placed in the shop (two shipments each, random products and carriers), then
  ``serve`` notices and forwards them: orders forwarded per second = orders / (last forwarded - first planned),
  from the service's own timeline; the shop and warehouse requests it took;
* ``latency``: ``--latency-samples`` forwarded orders each have all their picking orders moved to PICKING; the time
  until the Bitrix order shows the mapped status (polled through the shop's control API): with the warehouse's
  webhooks subscribed (event mode), then without them (poll mode: the changes feed every
  ``schedules.statuses_seconds``);
* ``delivered``: every open picking order stepped to DELIVERED in the warehouse; the time until every order shows
  the DELIVERED status (the feed, the applies, tracking and shipments);
* ``cloud``: ``--cloud-orders`` orders forwarded on a ``bitrix24`` shop (2 req/s, burst 50) by ``serve``: the shop
  requests per forwarded order, beside the floor (the REST commands the forwarding ran ÷ 50, the most one
  ``batch`` carries) and beside a naive per-order client (one call per command, no batch) on ``--naive-orders``
  orders, run in the same session.

Run: ``python -m bench orders --orders 10000``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from bench.stock import (
    API_KEY,
    HOOK_SECRET,
    Sides,
    _cli,
    _control,
    _free_port,
    _process,
    machine,
    sandbox_cpu,
    served,
    service_env,
    shop,
    sync,
    warehouse,
)
from bitrix_inflow.store.engine import make_engine

GO_LIVE = "2020-01-01T00:00:00+00:00"


def _env(sides: Sides, db: str, web_port: int, carriers: dict[int, str], *, workers: int) -> dict[str, str]:
    return service_env(
        sides,
        db,
        web_port,
        BITRIX_INFLOW__STOCK__WAREHOUSES='["MAIN"]',
        BITRIX_INFLOW__ORDERS__GO_LIVE=GO_LIVE,
        BITRIX_INFLOW__ORDERS__STATUSES='["N"]',
        BITRIX_INFLOW__ORDERS__CARRIERS=json.dumps({str(k): v for k, v in carriers.items()}),
        BITRIX_INFLOW__SCHEDULES__ORDERS_SECONDS="30",
        BITRIX_INFLOW__SCHEDULES__STATUSES_SECONDS="30",
        BITRIX_INFLOW__JOBS__WORKERS=str(workers),
    )


@contextlib.contextmanager
def serve(sides: Sides, db: str, carriers: dict[int, str], *, workers: int) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = _env(sides, db, port, carriers, workers=workers)
    with _process(
        [_cli(), "serve"], lambda: httpx.get(url + "/healthz", timeout=5).status_code == 200, "serve", env=env
    ):
        yield url


_ENGINES: dict[str, Engine] = {}


def _query(db: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    engine = _ENGINES.get(db) or _ENGINES.setdefault(db, make_engine(db))
    with engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(sql, tuple(args)).all()]


def bindings_by_state(db: str) -> dict[str, int]:
    with contextlib.suppress(DBAPIError):  # before serve created the schema
        return {
            str(state): int(n)
            for state, n in _query(db, "SELECT state, count(*) FROM order_bindings GROUP BY state")
        }
    return {}


def fresh_database(admin_url: str | None, work: Path, name: str) -> str:
    """SQLite in the work folder, or a new PostgreSQL database next to ``admin_url``'s."""
    if admin_url is None:
        return f"sqlite:///{work / name}.db"
    database = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(admin_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + database


def place_orders(sides: Sides, count: int, seed: int) -> list[int]:
    with _control(sides) as control:
        stream = control.post(
            "/orders/stream", json={"count": count, "rate_per_s": 1_000_000, "shipments": 2, "seed": seed}
        ).json()
        while True:
            state = control.get(f"/orders/stream/{stream['id']}").json()
            if state["done"]:
                return [int(i) for i in state["placed"]]
            time.sleep(0.5)


def top_up(sides: Sides, db: str, units: int) -> None:
    skus = [sku for (sku,) in _query(db, "SELECT sku FROM product_links")]
    with httpx.Client(base_url=sides.wms_url, timeout=60) as wms:
        for sku in skus:
            wms.post(
                "/_sandbox/stock", json={"warehouse": "MAIN", "sku": sku, "delta": units}
            ).raise_for_status()


def carriers_of(sides: Sides) -> dict[int, str]:
    with _control(sides) as control:
        return {int(row["id"]): str(row["name"]) for row in control.get("/entities/deliveries").json()}


def wait_settled(db: str, total: int, *, timeout: float) -> dict[str, int]:
    """Until every order left the states a run is still working on (or nothing moved for 30 s)."""
    deadline, last, still = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        states = bindings_by_state(db)
        busy = sum(n for state, n in states.items() if state in ("seen", "planned"))
        if sum(states.values()) >= total and busy == 0:
            return states
        if states != last:
            last, still = states, time.monotonic()
        elif time.monotonic() - still > 30:
            return states
        time.sleep(1)
    return bindings_by_state(db)


def forward_window(db: str) -> float:
    """Seconds from the first plan to the last forwarded order, from the service's own timeline."""
    [(first, last)] = _query(
        db,
        "SELECT (SELECT min(at) FROM order_timeline WHERE kind = 'planned'), "
        "(SELECT max(at) FROM order_timeline WHERE kind = 'forwarded')",
    )
    return (_instant(last) - _instant(first)).total_seconds()


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(str(text))


def wms_orders(sides: Sides) -> list[dict[str, Any]]:
    return list(httpx.get(sides.wms_url + "/_sandbox/orders", timeout=120).json()["items"])


def latency(sides: Sides, order_ids: list[int], status: str, *, timeout: float) -> list[float]:
    """All picking orders of each order to PICKING at once, then the time until the shop shows ``status``."""
    by_ref: dict[int, list[str]] = {}
    for item in wms_orders(sides):
        ref = str(item["external_ref"])
        order_id = int(ref.split("-")[1].split("r", maxsplit=1)[0])
        if order_id in order_ids and item["status"] == "NEW":
            by_ref.setdefault(order_id, []).append(str(item["id"]))
    started: dict[int, float] = {}
    with httpx.Client(base_url=sides.wms_url, timeout=60) as wms:
        for order_id in order_ids:
            for picking in by_ref.get(order_id, []):
                wms.post(f"/_sandbox/orders/{picking}/advance", json={"to": "PICKING"}).raise_for_status()
            started[order_id] = time.perf_counter()
    seen: dict[int, float] = {}
    with _control(sides) as control:
        deadline = time.perf_counter() + timeout
        while len(seen) < len(order_ids) and time.perf_counter() < deadline:
            for order_id in order_ids:
                if (
                    order_id not in seen
                    and control.get(f"/entities/orders/{order_id}").json()["statusId"] == status
                ):
                    seen[order_id] = time.perf_counter() - started[order_id]
            time.sleep(0.02)
    return [seen.get(order_id, math.inf) for order_id in order_ids]


def percentiles(values: list[float]) -> tuple[float, float]:
    ok = sorted(values)
    return statistics.median(ok), ok[max(0, math.ceil(0.95 * len(ok)) - 1)]


def naive_forwarding(sides: Sides, order_ids: list[int]) -> int:
    """Baseline: per order, one REST call per command the service runs for it (the order read whole, its status
    checked, its status written), no batch. Returns the requests sent, 503 retries included."""
    requests = 0
    with httpx.Client(base_url=sides.webhook_url, verify=sides.ca_file, timeout=120) as http:
        for order_id in order_ids:
            for method, body in (
                ("sale.order.get", {"id": order_id}),
                ("sale.order.list", {"select": ["id", "statusId"], "filter": {"id": order_id}}),
                ("sale.order.update", {"id": order_id, "fields": {"statusId": "P"}}),
            ):
                while True:
                    answer = http.post(method, json=body)
                    requests += 1
                    if answer.status_code != 503:
                        answer.raise_for_status()
                        break
                    time.sleep(0.5)
    return requests


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench orders", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--skus", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument("--cloud-orders", type=int, default=1000)
    parser.add_argument("--naive-orders", type=int, default=40)
    parser.add_argument(
        "--db-url",
        default=None,
        help="a PostgreSQL admin URL: the state database is made there (default: SQLite)",
    )
    parser.add_argument("--skip", action="append", default=[], choices=["cloud", "latency", "delivered"])
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        f"{args.orders:,} orders over {args.skus} SKUs, serve with {args.workers} workers, seed {args.seed}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp:
        work = Path(tmp)
        with warehouse(args.skus, args.seed) as wms_url, shop(args.skus, args.seed, work / "ca") as (url, ca):
            sides = Sides(wms_url, url, ca)
            with _control(sides) as control:
                control.post("/settings", json={"inventory_management": False}).raise_for_status()
            db = fresh_database(args.db_url, work, "state")
            linked = sync(sides, db, full=True)
            top_up(sides, db, 50_000)
            carriers = carriers_of(sides)
            print(f"linked {linked['matched']} SKUs; carriers {carriers}", flush=True)
            started = time.perf_counter()
            placed = place_orders(sides, args.orders, args.seed)
            print(
                f"placed {len(placed):,} orders in the shop in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
            shop_before, cpu_before = served(sides), sandbox_cpu()
            wall = time.perf_counter()
            with serve(sides, db, carriers, workers=args.workers) as service:
                states = wait_settled(db, len(placed), timeout=36_000)
                elapsed = time.perf_counter() - wall
                window = forward_window(db)
                forwarded = states.get("forwarded", 0)
                shop_requests = served(sides) - shop_before
                cpu = {side: seconds - cpu_before.get(side, 0) for side, seconds in sandbox_cpu().items()}
                parts = len(wms_orders(sides))
                print(
                    f"forward: {forwarded:,} of {len(placed):,} orders forwarded ({states}), {parts:,} picking "
                    f"orders; {forwarded / window:.1f} orders/s over the forwarding window {window:.1f} s "
                    f"(serve up to the last: {elapsed:.1f} s); shop requests {shop_requests:,} "
                    f"({shop_requests / max(forwarded, 1):.2f}/order); "
                    f"sandbox CPU s { ({k: round(v, 1) for k, v in cpu.items()}) } (target ≥ 50 orders/s)",
                    flush=True,
                )
                if "latency" not in args.skip:
                    forwarded_ids = [
                        int(i)
                        for (i,) in _query(
                            db, "SELECT bitrix_order_id FROM order_bindings WHERE state = 'forwarded'"
                        )
                    ]
                    samples = forwarded_ids[: 2 * args.latency_samples]
                    with httpx.Client(
                        base_url=sides.wms_url, headers={"X-API-Key": API_KEY}, timeout=60
                    ) as wms:
                        hook = {
                            "url": service + "/hooks/inflow",
                            "events": ["order.status_changed"],
                            "secret": HOOK_SECRET,
                        }
                        subscription = wms.post("/api/v1/webhooks", json=hook).json()
                        event = latency(sides, samples[: args.latency_samples], "Q", timeout=60)
                        wms.delete(f"/api/v1/webhooks/{subscription['id']}").raise_for_status()
                    poll = latency(sides, samples[args.latency_samples :], "Q", timeout=120)
                    for mode, values, target in (
                        ("event", event, "p95 ≤ 2 s"),
                        ("poll", poll, "p95 ≤ 30 + 2 s"),
                    ):
                        p50, p95 = percentiles(values)
                        print(
                            f"latency {mode}: {len(values)} orders, p50 {p50:.2f} s, p95 {p95:.2f} s, "
                            f"max {max(values):.2f} s ({target})",
                            flush=True,
                        )
                if "delivered" not in args.skip:
                    moment = time.perf_counter()
                    with httpx.Client(base_url=sides.wms_url, timeout=600) as wms:
                        # A step per warehouse move, one per picked line: 12 take up to 7 lines through.
                        wms.post("/_sandbox/clock/step", json={"steps": 12}).raise_for_status()
                    total = forwarded
                    last, still, took = -1, time.perf_counter(), 0.0
                    # Until every order shows DELIVERED, or none moved for two feed intervals (the warehouse may
                    # leave some short of DELIVERED: they are counted as they are).
                    while time.perf_counter() - still < 70:
                        [(done,)] = _query(
                            db, "SELECT count(*) FROM order_bindings WHERE applied_status = 'DELIVERED'"
                        )
                        if done != last:
                            last, still, took = done, time.perf_counter(), time.perf_counter() - moment
                        if done >= total:
                            break
                        time.sleep(1)
                    print(
                        f"delivered: {done:,} of {total:,} orders show DELIVERED {took:.1f} s after the warehouse "
                        f"delivered them ({done / took:.1f} orders/s)",
                        flush=True,
                    )
        if "cloud" not in args.skip:
            cloud(work, args)


def shop_counts(sides: Sides) -> tuple[int, int]:
    """HTTP requests the shop served, and REST commands it ran (alone or inside a batch)."""
    with _control(sides) as control:
        info = control.get("/").json()
    return int(info["requests_served"]), sum(int(n) for n in info["commands_run"].values())


def wait_idle(db: str, *, timeout: float = 600) -> None:
    """Until the service's start-up work (the full stock sync) is done: nothing queued or running for 3 s."""
    deadline, quiet = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and quiet < 3:
        [(busy,)] = _query(db, "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
        quiet = quiet + 1 if busy == 0 else 0
        time.sleep(1)


def cloud(work: Path, args: argparse.Namespace) -> None:
    with (
        warehouse(args.skus, args.seed) as wms_url,
        shop(args.skus, args.seed, work / "ca-cloud", profile="bitrix24") as (url, ca),
    ):
        sides = Sides(wms_url, url, ca)
        with _control(sides) as control:
            control.post("/settings", json={"inventory_management": False}).raise_for_status()
        db = fresh_database(args.db_url, work, "cloud")
        sync(sides, db, cloud=True, full=True)
        top_up(sides, db, 50_000)
        carriers = carriers_of(sides)
        with serve(sides, db, carriers, workers=args.workers):
            wait_idle(db)  # the start-up stock sync is not forwarding: it is not counted
            with _control(sides) as control:
                control.post("/limits/reset").raise_for_status()
            (requests_before, commands_before), wall = shop_counts(sides), time.perf_counter()
            placed = place_orders(sides, args.cloud_orders, args.seed)
            states = wait_settled(db, len(placed), timeout=3600)
            requests_after, commands_after = shop_counts(sides)
        seconds = time.perf_counter() - wall
        forwarded = states.get("forwarded", 0)
        requests, commands = requests_after - requests_before, commands_after - commands_before
        # The floor: the REST commands the forwarding ran (polls, reads, checks, writes) in full batches of 50.
        floor = commands / 50
        naive_ids = place_orders(sides, args.naive_orders, args.seed + 1)
        with _control(sides) as control:
            control.post("/limits/reset").raise_for_status()
        naive_started = time.perf_counter()
        naive_requests = naive_forwarding(sides, naive_ids)
        naive_seconds = time.perf_counter() - naive_started
        print(
            f"cloud: {forwarded} of {len(placed)} orders forwarded ({states}) in {seconds:.1f} s with {requests} shop "
            f"requests = {requests / max(forwarded, 1):.3f} per order, carrying {commands} commands; floor "
            f"{floor / max(forwarded, 1):.3f} per order ({requests / max(floor, 1e-9):.2f}x the floor, target ≤ 2x); "
            f"naive per-order client {naive_requests / len(naive_ids):.2f} per order "
            f"({naive_seconds:.1f} s for {len(naive_ids)} orders)",
            flush=True,
        )


if __name__ == "__main__":
    main()

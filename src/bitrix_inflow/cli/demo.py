"""``bitrix-inflow demo``: the whole product, working, on embedded defaults.

It starts both sandboxes on loopback (the warehouse steps its picking orders on by itself and fails a few picks; the
shop takes a stream of customer orders, some with marked goods), points the real service at them on a SQLite
database of its own under ``var/demo`` (a fresh one each run: your own state database is never touched), and prints
the console's address with a password made up for this run. Stock flows to the shop, orders to the warehouse,
statuses, tracking and marking codes back; picking errors wait in the console for a person. Ctrl-C stops it all.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import signal
import socket
import threading
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import httpx
import typer

from bitrix_inflow import log
from bitrix_inflow.cli.common import console, settings
from bitrix_inflow.config import Settings
from bitrix_inflow.domain.status_mapping import DEFAULT_MAPPING
from bitrix_inflow.ops import console as people
from bitrix_inflow.ops import mapping
from bitrix_inflow.sandboxes import wms
from bitrix_inflow.sandboxes.bitrix import SandboxConfig, running_bitrix_sandbox
from bitrix_inflow.service import Service
from bitrix_inflow.store import schema
from bitrix_inflow.store.engine import make_engine
from bitrix_inflow.timing import SystemClock

DEMO_DIR = Path("var") / "demo"
SANDBOX_WMS_KEY = "sandbox-key"  # the sandbox warehouse's default API key
ADMIN = "admin"


def demo(
    *,
    orders: Annotated[int, typer.Option(min=1, help="customer orders the shop receives")] = 1000,
    rate: Annotated[float, typer.Option(min=0.01, max=50, help="customer orders per second")] = 0.5,
    port: Annotated[int, typer.Option(min=0, max=65535, help="the console's port (0: any free one)")] = 8750,
    picking_errors: Annotated[
        float, typer.Option(min=0, max=1, help="share of picks the warehouse fails")
    ] = 0.04,
    seconds: Annotated[float | None, typer.Option(min=1, help="stop by itself after this long")] = None,
) -> None:
    """Run the whole product on the sandboxes and open its console; Ctrl-C stops it."""
    settings(log.SHOWCASE)  # the logging set-up a person watching wants; the demo's own settings follow
    port = port or _free_port()
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    database = DEMO_DIR / "state.db"
    for stale in DEMO_DIR.glob("state.db*"):
        stale.unlink()
    with ExitStack() as running:
        warehouse = running.enter_context(
            wms.run_in_process(
                wms.SandboxSettings(
                    seed=7,
                    bins=400,
                    qty_min=20,
                    qty_max=60,
                    pace=1.0,  # a warehouse step a second: an order ships in about half a minute
                    faults=wms.FaultSettings(seed=7, picking_error_rate=picking_errors),
                )
            )
        )
        shop = running.enter_context(running_bitrix_sandbox(SandboxConfig(profile="site")))
        webhook_secret, application_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        base = f"http://127.0.0.1:{port}"
        # Both sides ring the service's doorbells, so changes show within seconds, not at the next poll.
        httpx.post(
            f"{warehouse.api_url}/webhooks",
            headers={"X-API-Key": SANDBOX_WMS_KEY},
            json={
                "url": f"{base}/hooks/inflow",
                "events": ["order.status_changed", "stock.changed"],
                "secret": webhook_secret,
            },
            timeout=30,
        ).raise_for_status()
        shop.control.configure_events(handler_url=f"{base}/hooks/bitrix", application_token=application_token)
        deliveries = {str(row["id"]): str(row["name"]) for row in shop.control.entities("deliveries")}
        loaded = _settings(
            database=database,
            port=port,
            warehouse=warehouse.base_url,
            shop=shop,
            webhook_secret=webhook_secret,
            application_token=application_token,
            carriers=deliveries,
        )
        engine = make_engine(loaded.database.url)
        schema.upgrade(engine)
        clock = SystemClock()
        mapping.import_table(engine, dict(DEFAULT_MAPPING), clock=clock, actor="demo")
        password = people.generated_password()
        people.set_password(engine, ADMIN, password, clock=clock, actor="demo")
        engine.dispose()

        service = Service.from_settings(loaded)
        running.callback(service.engine.dispose)

        def stop(_signum: int = 0, _frame: FrameType | None = None) -> None:
            # Browsers keep connections open: the servers then cut them at shutdown, which is no error here.
            logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
            service.stop.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        if seconds is not None:
            timer = threading.Timer(seconds, stop)
            timer.daemon = True
            timer.start()
        # The customers start once the service listens (a first full stock sync is already queued).
        streaming = threading.Timer(
            2.0, lambda: shop.control.stream_orders(count=orders, rate_per_s=rate, seed=11)
        )
        streaming.daemon = True
        streaming.start()
        _banner(base, password, warehouse.base_url, shop, orders=orders, rate=rate)
        service.run()
    console.print("[bold]demo stopped[/]: both sandboxes are gone; var/demo/state.db keeps what happened")


def _settings(
    *,
    database: Path,
    port: int,
    warehouse: str,
    shop: Any,
    webhook_secret: str,
    application_token: str,
    carriers: dict[str, str],
) -> Settings:
    go_live = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat(timespec="seconds")
    return Settings.model_validate(
        {
            "database": {"url": f"sqlite:///{database.resolve()}"},
            "jobs": {"workers": 4},
            "schedules": {"orders_seconds": 30, "statuses_seconds": 30},
            "web": {"host": "127.0.0.1", "port": port},
            "inflow": {
                "base_url": warehouse,
                "api_key": SANDBOX_WMS_KEY,
                "warehouse": "MAIN",
                "webhook_secret": webhook_secret,
            },
            "bitrix": {
                "webhook_url": shop.webhook_url,
                "verify": str(shop.ca_file),
                "profile": "site",
                "manager_user_id": 1,
                "application_token": application_token,
                "language": "ru",
            },
            "orders": {"go_live": go_live, "statuses": ["N"], "carriers": carriers},
            "stock": {"warehouses": ["MAIN"], "stores": {"MAIN": 1}},  # the shop keeps stock by store
        }
    )


def _banner(base: str, password: str, warehouse: str, shop: Any, *, orders: int, rate: float) -> None:
    console.rule("[bold]bitrix-inflow demo")
    console.print(f"console:   [bold]{base}/console/[/]")
    console.print(f"sign in:   [bold]{ADMIN}[/] / [bold]{password}[/]   (made up for this run)")
    console.print(f"warehouse: {warehouse}/_sandbox/orders   (the Inflow WMS sandbox)")
    console.print(f"shop:      {shop.base_url}   (the 1C-Bitrix sandbox)")
    console.print(
        f"{orders} customer orders arrive at {rate:g} a second; the warehouse fails a few picks (see Incidents)."
    )
    console.print("Ctrl-C stops the demo.")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

"""What the soak runs against: both sandboxes on loopback with their faults, a fresh state database, and the
configuration file every instance reads (secrets through the environment, as in production)."""

from __future__ import annotations

import contextlib
import datetime as dt
import ssl
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from bitrix_inflow.ops import mapping
from bitrix_inflow.sandboxes import wms
from bitrix_inflow.sandboxes.bitrix import SandboxConfig, running_bitrix_sandbox
from bitrix_inflow.sandboxes.wms.auth import AuthSettings
from bitrix_inflow.store import schema
from bitrix_inflow.store.engine import make_engine
from bitrix_inflow.timing import SystemClock

API_KEY = "soak-key"
HOOK_SECRET = "soak-webhook-secret-0123456789"
APPLICATION_TOKEN = "soak0application0token0000001"
ERROR_STATUS = (
    "E"  # the shop's status for an order a picking error stopped: made for the soak, as `init` proposes
)
# The brief's table, and a picking error shown as its own status (the brief's "special Bitrix status").
MAPPING = {
    "NEW": "P",
    "PICKING": "Q",
    "PICKING_ERROR": ERROR_STATUS,
    "SHIPPED": "D",
    "DELIVERED": "F",
    "CANCELLED": "Z",
}


@dataclass(frozen=True)
class Faults:
    """The soak's fault mix (the issue's numbers by default)."""

    wms_5xx: float = 0.10
    wms_timeouts: float = 0.05
    wms_429: float = 0.05
    webhook_drop: float = 0.10
    webhook_duplicate: float = 0.10
    picking_errors: float = 0.03
    seed: int = 17

    def wms(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "error_rate": self.wms_5xx,
            "hang_rate": self.wms_timeouts,
            "hang_seconds": 4.0,  # beyond the instances' read timeout: a timeout on the client, done on the server
            "rate_429": self.wms_429,
            "retry_after": 1,
            "picking_error_rate": self.picking_errors,
            "webhook_drop_rate": self.webhook_drop,
            "webhook_duplicate_rate": self.webhook_duplicate,
        }


@dataclass
class World:
    warehouse: Any  # wms RunningSandbox
    shop: Any  # bitrix RunningSandbox
    database: str
    config: Path

    @property
    def faults_url(self) -> str:
        return self.warehouse.base_url + "/_sandbox/faults"

    def wms_faults(self, settings: dict[str, Any] | None) -> None:
        if settings is None:
            httpx.delete(self.faults_url, timeout=30).raise_for_status()
        else:
            httpx.put(self.faults_url, json=settings, timeout=30).raise_for_status()

    def wms_orders(self) -> list[dict[str, Any]]:
        return list(httpx.get(self.warehouse.base_url + "/_sandbox/orders", timeout=60).json()["items"])

    def wms_api(self) -> httpx.Client:
        return httpx.Client(base_url=self.warehouse.api_url, headers={"X-API-Key": API_KEY}, timeout=30)

    def shop_admin(self, method: str, params: dict[str, Any]) -> Any:
        """A person in the shop's admin panel, through its REST (not the service's client)."""
        response = self.shop_admin_answer(method, params)
        response.raise_for_status()
        return response.json()["result"]

    def shop_admin_answer(self, method: str, params: dict[str, Any]) -> httpx.Response:
        """The shop's whole answer, refusals included: a person reads why the shop said no."""
        trust = ssl.create_default_context(cafile=str(self.shop.ca_file))
        return httpx.post(self.shop.webhook_url + method, json=params, verify=trust, timeout=30)


@contextlib.contextmanager
def fresh_database(
    work: Path, pg_admin: str | None, *, keep: Callable[[], bool] = lambda: False
) -> Iterator[str]:
    """SQLite in ``work``, or a new PostgreSQL database beside ``pg_admin``'s, dropped afterwards unless ``keep()``
    says it is wanted (a failed soak's, for a person to look into)."""
    if pg_admin is None:
        yield f"sqlite:///{work / 'state.db'}"
        return
    name = f"soak_{uuid.uuid4().hex[:10]}"
    admin = make_engine(pg_admin)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    try:
        yield pg_admin.rsplit("/", 1)[0] + "/" + name
    finally:
        if not keep():
            _drop(pg_admin, name)


def _drop(pg_admin: str, name: str) -> None:
    admin = make_engine(pg_admin)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def instance_settings(
    world_db: str, warehouse: Any, shop: Any, carriers: dict[str, str], *, workers: int, lease: float
) -> dict[str, Any]:
    go_live = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat(timespec="seconds")
    return {
        "database": {"url": world_db},
        "jobs": {
            "workers": workers,
            "lease_seconds": lease,
            "heartbeat_seconds": max(1.0, lease / 4),
            "poll_seconds": 0.3,
            "max_attempts": 50,  # faults for the whole run: a job may meet many before it gets through
            "base_delay_seconds": 1,
            "max_delay_seconds": 15,
        },
        "log": {"level": "info", "format": "json"},
        "schedules": {"orders_seconds": 30, "statuses_seconds": 30, "orders_retry_seconds": 60},
        "web": {"host": "127.0.0.1"},
        "inflow": {
            "base_url": warehouse.base_url,
            "warehouse": "MAIN",
            "timeouts": {"read": 3.0},
        },
        "bitrix": {
            "verify": str(shop.ca_file),
            "profile": "site",
            "manager_user_id": 1,
            "language": "ru",
        },
        "orders": {"go_live": go_live, "statuses": ["N"], "carriers": carriers},
        "stock": {"warehouses": ["MAIN"]},
    }


def secrets_env(shop: Any) -> dict[str, str]:
    """The instances' secrets, from their environment as in production (the configuration refuses them)."""
    return {**SECRETS_ENV, "BITRIX_INFLOW__BITRIX__WEBHOOK_URL": shop.webhook_url}


SECRETS_ENV = {
    "BITRIX_INFLOW__INFLOW__API_KEY": API_KEY,
    "BITRIX_INFLOW__INFLOW__WEBHOOK_SECRET": HOOK_SECRET,
    "BITRIX_INFLOW__BITRIX__APPLICATION_TOKEN": APPLICATION_TOKEN,
}


@contextlib.contextmanager
def running_world(
    work: Path, *, database: str, faults: Faults, workers: int, lease: float, pace: float
) -> Iterator[World]:
    """Both sandboxes, the shop's error status, the configuration, and ``database`` migrated with the mapping."""
    with (
        wms.run_in_process(
            wms.SandboxSettings(
                seed=faults.seed,
                bins=400,
                qty_min=300,  # plenty: an order short of stock waits, which is another test's subject
                qty_max=600,
                pace=pace,
                auth=AuthSettings(api_keys=[API_KEY]),
            )
        ) as warehouse,
        running_bitrix_sandbox(
            SandboxConfig(profile="site", inventory_management=False, application_token=APPLICATION_TOKEN)
        ) as shop,
    ):
        shop.control.add_status(ERROR_STATUS, "Ошибка сборки")
        carriers = {str(row["id"]): str(row["name"]) for row in shop.control.entities("deliveries")}
        config = work / "bitrix-inflow.toml"
        settings = instance_settings(database, warehouse, shop, carriers, workers=workers, lease=lease)
        config.write_text(tomli_w.dumps(settings), encoding="utf-8")
        engine = make_engine(database)
        schema.upgrade(engine)
        mapping.import_table(engine, MAPPING, clock=SystemClock(), actor="soak")
        engine.dispose()
        yield World(warehouse, shop, database, config)

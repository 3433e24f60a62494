"""Assembles the running service from its settings: database, job registry, schedules, workers, scheduler.

The job kinds and schedules are not listed here: each flow module declares its own (``jobs.blueprint``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import Engine

from bitrix_inflow.config import Settings, runtime
from bitrix_inflow.config.settings import DEFAULT_TENANT
from bitrix_inflow.errors import ValidationError
from bitrix_inflow.jobs import maintenance, queue
from bitrix_inflow.jobs.blueprint import Blueprint, discover
from bitrix_inflow.jobs.model import RetryPolicy
from bitrix_inflow.jobs.registry import JobRegistry
from bitrix_inflow.jobs.scheduler import Schedule, Scheduler
from bitrix_inflow.jobs.worker import Worker, WorkerSettings, new_worker_id
from bitrix_inflow.store import connections
from bitrix_inflow.store import console as console_store
from bitrix_inflow.store.engine import make_engine
from bitrix_inflow.store.schema import ensure_current
from bitrix_inflow.timing import Clock, SystemClock

if TYPE_CHECKING:
    import uvicorn

    from bitrix_inflow.web.app import TenantWeb
    from bitrix_inflow.web.console import Console

log = structlog.get_logger("bitrix_inflow.service")


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.jobs.max_attempts,
        base_delay=settings.jobs.base_delay_seconds,
        max_delay=settings.jobs.max_delay_seconds,
    )


def worker_settings(settings: Settings) -> WorkerSettings:
    return WorkerSettings(
        lease_seconds=settings.jobs.lease_seconds,
        heartbeat_seconds=settings.jobs.heartbeat_seconds,
        poll_seconds=settings.jobs.poll_seconds,
    )


FLOWS_PACKAGE = "bitrix_inflow.sync"


def blueprints() -> list[Blueprint[Settings]]:
    """The engine's own housekeeping and every flow in ``sync/``: each declares its kinds and schedules."""
    return [maintenance.blueprint, *discover(FLOWS_PACKAGE)]


def build_registry(
    settings: Settings,
    parts: Sequence[Blueprint[Settings]],
    *,
    current: Callable[[str], Settings] | None = None,
) -> JobRegistry:
    """``current(connection id)``: the settings a job of that tenant runs with (default: ``settings`` for all)."""
    registry = JobRegistry(default_policy=retry_policy(settings))
    for blueprint in parts:
        blueprint.register_into(registry, settings, current=current)
    return registry


class CurrentSettings:
    """The file's settings with what an operator changed at run time (``runtime_settings``, from the console) in
    force: read again every few seconds, so each job and scheduler tick runs with what is set now."""

    def __init__(
        self, base: Settings, engine: Engine, *, connection_id: str = "default", ttl: float = 5.0
    ) -> None:
        self.base, self.engine, self.connection_id, self.ttl = base, engine, connection_id, ttl
        self._kept: tuple[float, Settings] | None = None
        self._values: dict[str, object] | None = None  # what the kept settings were made from
        self._lock = threading.Lock()

    def __call__(self) -> Settings:
        with self._lock:
            if self._kept is not None and time.monotonic() - self._kept[0] < self.ttl:
                return self._kept[1]
            try:
                with self.engine.connect() as conn:
                    values = console_store.runtime_values(conn, self.connection_id)
            except Exception:  # the database will be back; the settings in force stay meanwhile
                log.warning("service.runtime_settings_unread", exc_info=True)
                return self._kept[1] if self._kept is not None else self.base
            if self._kept is not None and values == self._values:
                # Unchanged: the same object, so whatever is keyed on it stays.
                self._kept = (time.monotonic(), self._kept[1])
                return self._kept[1]
            current = runtime.in_force(
                self.base,
                values,
                on_refused=lambda why: log.warning("service.runtime_setting_refused", why=why),
            )
            self._kept, self._values = (time.monotonic(), current), dict(values)
            return current


class Tenants:
    """Each tenant's settings in force (its file's, with what its operators changed at run time), by connection id:
    a job runs with its own tenant's settings, and only with those."""

    def __init__(
        self, deployment: Settings, tenants: Mapping[str, Settings], engine: Engine, *, ttl: float = 5.0
    ) -> None:
        self.deployment = deployment
        self._current = {
            tenant: CurrentSettings(own, engine, connection_id=tenant, ttl=ttl)
            for tenant, own in tenants.items()
        }

    @property
    def ids(self) -> list[str]:
        return list(self._current)

    def __call__(self, connection_id: str) -> Settings:
        current = self._current.get(connection_id)
        if current is not None:
            return current()
        if connection_id == DEFAULT_TENANT:
            return self.deployment  # housekeeping, in a deployment whose every pair has a tenant file
        raise ValidationError(
            "connection_id",
            f"a job of the tenant {connection_id!r}, which no tenant file configures now",
            "put its file back in the [tenants] folder, or cancel its jobs",
        )

    def in_force(self) -> dict[str, Settings]:
        return {tenant: current() for tenant, current in self._current.items()}

    def files(self) -> dict[str, Settings]:
        """Each tenant's settings as its file says, without what was changed at run time: what a console compares a
        form with (given what is in force, a value set at run time would pass for the file's, and saving the form
        unchanged would clear it)."""
        return {tenant: current.base for tenant, current in self._current.items()}


def build_schedules(
    settings: Settings, parts: Sequence[Blueprint[Settings]], *, tenants: Mapping[str, Settings] | None = None
) -> list[Schedule]:
    """The deployment's housekeeping from ``settings``; every flow's schedules once per tenant, with its settings
    (just ``settings`` as the default tenant when ``tenants`` is not given)."""
    pairs = tenants if tenants is not None else {DEFAULT_TENANT: settings}
    found: list[Schedule] = []
    for blueprint in parts:
        if blueprint.per_tenant:
            for tenant, own in pairs.items():
                found.extend(blueprint.schedules(own, tenant))
        else:
            found.extend(blueprint.schedules(settings))
    return found


def queue_start_jobs(
    engine: Engine,
    settings: Settings,
    parts: Sequence[Blueprint[Settings]],
    clock: Clock,
    *,
    tenants: Mapping[str, Settings] | None = None,
) -> int:
    """The jobs the blueprints want at every start, per tenant; coalesced, so several instances starting together
    queue one."""
    pairs = tenants if tenants is not None else {DEFAULT_TENANT: settings}
    queued = 0
    with engine.begin() as conn:
        for tenant in pairs:
            connections.ensure(conn, tenant, now=clock.now())
        for blueprint in parts:
            wanted = (
                [job for tenant, own in pairs.items() for job in blueprint.start_jobs(own, tenant)]
                if blueprint.per_tenant
                else blueprint.start_jobs(settings)
            )
            for job in wanted:
                result = queue.enqueue_coalesced(
                    conn,
                    job.kind,
                    job.payload,
                    key=job.key,
                    now=clock.now(),
                    lock_key=job.lock_key,
                    connection_id=job.connection_id,
                )
                queued += int(result.created)
    return queued


@dataclass
class Service:
    settings: Settings
    engine: Engine
    registry: JobRegistry
    schedules: list[Schedule]
    stop: threading.Event = field(default_factory=threading.Event)

    tenants: Tenants | None = None
    parts: Sequence[Blueprint[Settings]] = ()

    @classmethod
    def from_settings(cls, settings: Settings, tenants: Mapping[str, Settings] | None = None) -> Service:
        """``tenants``: every shop/warehouse pair by id (``config.tenants.load_tenants``); by default the one pair of
        ``settings``, as ``default``."""
        engine = make_engine(settings.database.url)
        ensure_current(engine)  # refuse to run on an outdated schema
        parts = blueprints()
        current = Tenants(settings, tenants if tenants is not None else {DEFAULT_TENANT: settings}, engine)
        queue_start_jobs(engine, settings, parts, SystemClock(), tenants=current.in_force())
        registry = build_registry(settings, parts, current=current)
        schedules = build_schedules(settings, parts, tenants=current.in_force())
        return cls(settings, engine, registry, schedules, tenants=current, parts=parts)

    def schedules_now(self) -> list[Schedule]:
        """The schedules with the intervals in force now (an operator may change them at run time)."""
        if self.tenants is None:
            return self.schedules
        return build_schedules(self.settings, self.parts, tenants=self.tenants.in_force())

    def schedules_of(self, tenant: str) -> Callable[[], list[Schedule]]:
        """One tenant's schedules, for its console's dashboard."""
        return lambda: [s for s in self.schedules_now() if s.connection_id == tenant]

    def run(self) -> None:
        """Run the scheduler and the workers until :attr:`stop` is set."""
        instance = new_worker_id()
        threads = [
            threading.Thread(
                target=Scheduler(self.engine, self.schedules_now, instance_id=instance).run,
                args=(self.stop,),
                name="scheduler",
                daemon=True,
            )
        ]
        for n in range(self.settings.jobs.workers):
            worker = Worker(self.engine, self.registry, settings=worker_settings(self.settings))
            threads.append(
                threading.Thread(target=worker.run, args=(self.stop,), name=f"worker-{n}", daemon=True)
            )
        log.info(
            "service.started",
            workers=self.settings.jobs.workers,
            kinds=self.registry.kinds,
            instance=instance,
            tenants=self.tenants.ids if self.tenants is not None else [DEFAULT_TENANT],
        )
        web = self._web_server()
        if web is not None:
            threads.append(threading.Thread(target=web.run, name="web", daemon=True))
        for thread in threads:
            thread.start()
        self.stop.wait()
        if web is not None:
            web.should_exit = True
        for thread in threads:
            thread.join()
        log.info("service.stopped", instance=instance)

    def _tenant_web(self, tenant: str, settings: Settings) -> TenantWeb:
        from bitrix_inflow.web.app import TenantWeb  # noqa: PLC0415 - loaded on first use

        inflow, bitrix = settings.inflow, settings.bitrix
        return TenantWeb(
            tenant,
            inflow.webhook_secret.get_secret_value() if inflow and inflow.webhook_secret else None,
            bitrix.application_token.get_secret_value() if bitrix and bitrix.application_token else None,
            self._console(tenant, settings),
        )

    def _console(self, tenant: str, settings: Settings) -> Console:
        from bitrix_inflow.adapters.bitrix import BitrixGateway  # noqa: PLC0415 - loaded on first use
        from bitrix_inflow.adapters.inflow import InflowClient  # noqa: PLC0415 - loaded on first use
        from bitrix_inflow.web.console import Console  # noqa: PLC0415 - loaded on first use
        from bitrix_inflow.web.console.health import Connections  # noqa: PLC0415 - loaded on first use
        from bitrix_inflow.web.console.shop_statuses import ShopStatuses  # noqa: PLC0415 - loaded on first use

        bitrix, inflow = settings.bitrix, settings.inflow
        # The console's own clients: its requests never wait behind a job's.
        gateway = BitrixGateway(bitrix) if bitrix is not None else None
        warehouse = InflowClient(inflow) if inflow is not None else None
        connections = Connections(
            warehouse=(lambda: warehouse) if warehouse is not None else None,
            shop=(lambda: gateway) if gateway is not None else None,
        )
        schedules = self.schedules_of(tenant)
        if bitrix is None or gateway is None:
            return Console(
                self.engine, SystemClock(), connection_id=tenant, schedules=schedules, connections=connections
            )
        return Console(
            self.engine,
            SystemClock(),
            connection_id=tenant,
            default_language=bitrix.language,
            shop_statuses=ShopStatuses(lambda: gateway, language=bitrix.language),
            schedules=schedules,
            connections=connections,
            settings=settings,
        )

    def _web_server(self) -> uvicorn.Server | None:
        web = self.settings.web
        if not web.enabled:
            return None
        # Loaded here, not at the top: the commands that run jobs without serving (sync, orders) start sooner.
        import uvicorn  # noqa: PLC0415 - loaded on first use

        from bitrix_inflow.web.app import build_app  # noqa: PLC0415 - loaded on first use

        alive_within = dt.timedelta(
            seconds=2 * max(self.settings.jobs.heartbeat_seconds, self.settings.jobs.poll_seconds)
        )
        pairs = self.tenants.files() if self.tenants is not None else {DEFAULT_TENANT: self.settings}
        default = pairs.get(DEFAULT_TENANT)
        own = self._tenant_web(DEFAULT_TENANT, default) if default is not None else None
        config = uvicorn.Config(
            build_app(
                self.engine,
                alive_within=alive_within,
                inflow_webhook_secret=own.inflow_webhook_secret if own else None,
                bitrix_application_token=own.bitrix_application_token if own else None,
                console=own.console if own else None,
                tenants=[self._tenant_web(t, p) for t, p in pairs.items() if t != DEFAULT_TENANT],
            ),
            host=web.host,
            port=web.port,
            log_config=None,  # keep our structlog set-up
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        log.info(
            "service.web",
            url=f"http://{web.host}:{web.port}",
            endpoints=["/healthz", "/metrics", "/hooks/inflow"],
            tenants=[f"/t/{t}/" for t in pairs if t != DEFAULT_TENANT],
        )
        return uvicorn.Server(config)

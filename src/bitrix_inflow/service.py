"""Assembles the running service from its settings: database, job registry, schedules, workers, scheduler.

The job kinds and schedules are not listed here: each flow module declares its own (``jobs.blueprint``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import Engine

from bitrix_inflow.config import Settings, runtime
from bitrix_inflow.jobs import maintenance, queue
from bitrix_inflow.jobs.blueprint import Blueprint, discover
from bitrix_inflow.jobs.model import RetryPolicy
from bitrix_inflow.jobs.registry import JobRegistry
from bitrix_inflow.jobs.scheduler import Schedule, Scheduler
from bitrix_inflow.jobs.worker import Worker, WorkerSettings, new_worker_id
from bitrix_inflow.store import console as console_store
from bitrix_inflow.store.engine import make_engine
from bitrix_inflow.store.schema import ensure_current
from bitrix_inflow.timing import Clock, SystemClock

if TYPE_CHECKING:
    import uvicorn

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
    settings: Settings, parts: Sequence[Blueprint[Settings]], *, current: Callable[[], Settings] | None = None
) -> JobRegistry:
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


def build_schedules(settings: Settings, parts: Sequence[Blueprint[Settings]]) -> list[Schedule]:
    return [schedule for blueprint in parts for schedule in blueprint.schedules(settings)]


def queue_start_jobs(
    engine: Engine, settings: Settings, parts: Sequence[Blueprint[Settings]], clock: Clock
) -> int:
    """The jobs the blueprints want at every start; coalesced, so several instances starting together queue one."""
    queued = 0
    with engine.begin() as conn:
        for blueprint in parts:
            for job in blueprint.start_jobs(settings):
                result = queue.enqueue_coalesced(
                    conn, job.kind, job.payload, key=job.key, now=clock.now(), lock_key=job.lock_key
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

    current: Callable[[], Settings] | None = None
    parts: Sequence[Blueprint[Settings]] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Service:
        engine = make_engine(settings.database.url)
        ensure_current(engine)  # refuse to run on an outdated schema
        parts = blueprints()
        current = CurrentSettings(settings, engine)
        queue_start_jobs(engine, current(), parts, SystemClock())
        registry = build_registry(settings, parts, current=current)
        return cls(
            settings, engine, registry, build_schedules(current(), parts), current=current, parts=parts
        )

    def schedules_now(self) -> list[Schedule]:
        """The schedules with the intervals in force now (an operator may change them at run time)."""
        if self.current is None:
            return self.schedules
        return build_schedules(self.current(), self.parts)

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

    def _webhook_secret(self) -> str | None:
        inflow = self.settings.inflow
        if inflow is None or inflow.webhook_secret is None:
            return None
        return inflow.webhook_secret.get_secret_value()

    def _application_token(self) -> str | None:
        bitrix = self.settings.bitrix
        if bitrix is None or bitrix.application_token is None:
            return None
        return bitrix.application_token.get_secret_value()

    def _console(self) -> Console:
        from bitrix_inflow.adapters.bitrix import BitrixGateway  # noqa: PLC0415 - loaded on first use
        from bitrix_inflow.adapters.inflow import InflowClient  # noqa: PLC0415 - loaded on first use
        from bitrix_inflow.web.console import Console  # noqa: PLC0415 - loaded on first use
        from bitrix_inflow.web.console.health import Connections  # noqa: PLC0415 - loaded on first use
        from bitrix_inflow.web.console.shop_statuses import ShopStatuses  # noqa: PLC0415 - loaded on first use

        bitrix, inflow = self.settings.bitrix, self.settings.inflow
        # The console's own clients: its requests never wait behind a job's.
        gateway = BitrixGateway(bitrix) if bitrix is not None else None
        warehouse = InflowClient(inflow) if inflow is not None else None
        connections = Connections(
            warehouse=(lambda: warehouse) if warehouse is not None else None,
            shop=(lambda: gateway) if gateway is not None else None,
        )
        if bitrix is None or gateway is None:
            return Console(self.engine, SystemClock(), schedules=self.schedules_now, connections=connections)
        return Console(
            self.engine,
            SystemClock(),
            default_language=bitrix.language,
            shop_statuses=ShopStatuses(lambda: gateway, language=bitrix.language),
            schedules=self.schedules_now,
            connections=connections,
            settings=self.settings,
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
        config = uvicorn.Config(
            build_app(
                self.engine,
                alive_within=alive_within,
                inflow_webhook_secret=self._webhook_secret(),
                bitrix_application_token=self._application_token(),
                console=self._console(),
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
        )
        return uvicorn.Server(config)

"""A module's share of the job engine, declared where the work lives: its job kinds and its schedules.

After procrastinate's blueprints. Each flow module (``bitrix_inflow.sync.*``) holds a module-level ``blueprint``;
the service finds them with :func:`discover` and registers them, so adding a flow never edits a central list. A
blueprint's kinds are namespaced by its name (``stock.push``), which keeps two modules from claiming one kind.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bitrix_inflow.jobs.model import RetryPolicy
from bitrix_inflow.jobs.queue import DEFAULT_CONNECTION, per_connection
from bitrix_inflow.jobs.registry import JobContext, JobRegistry
from bitrix_inflow.jobs.scheduler import Schedule

# What the schedules are computed from (the service's settings); contravariant: a blueprint that needs less of
# the settings fits wherever one needing more does.
S_contra = TypeVar("S_contra", contravariant=True)

# A schedule computed from the settings, or None when the configuration switches it off.
ScheduleFactory = Callable[[S_contra], Schedule | None]
# A flow's handler gets the service's settings too: which systems to talk to, with which options.
FlowHandler = Callable[[JobContext, S_contra], None]


@dataclass(frozen=True)
class StartJob:
    """A job the service queues each time it starts (e.g. a full stock read that heals drift after a downtime)."""

    kind: str
    payload: dict[str, Any]
    key: str  # coalescing key: several instances starting together queue one run
    lock_key: str | None = None
    connection_id: str = DEFAULT_CONNECTION


StartFactory = Callable[[S_contra], StartJob | None]


@dataclass(frozen=True)
class Task(Generic[S_contra]):
    kind: str
    handler: FlowHandler[S_contra]
    policy: RetryPolicy | None
    batch: int = 1


class Blueprint(Generic[S_contra]):
    """``per_tenant``: its schedules and start jobs run once for each tenant (shop/warehouse pair), with that
    tenant's settings, connection id and keys; otherwise once for the deployment (housekeeping)."""

    def __init__(self, name: str, *, per_tenant: bool = True) -> None:
        if not name or "." in name:
            raise ValueError(f"blueprint name {name!r}: a non-empty word without dots")
        self.name = name
        self.per_tenant = per_tenant
        self.tasks: list[Task[S_contra]] = []
        self._schedules: list[ScheduleFactory[S_contra]] = []
        self._at_start: list[StartFactory[S_contra]] = []

    def task(
        self, kind: str, *, policy: RetryPolicy | None = None, batch: int = 1
    ) -> Callable[[FlowHandler[S_contra]], FlowHandler[S_contra]]:
        """Declare the handler of job kind ``kind`` (which must start with ``<blueprint name>.``). With ``batch``
        > 1 a worker claims up to that many jobs of the kind at once and the handler gets them as
        ``ctx.cohort``."""
        if not kind.startswith(f"{self.name}."):
            raise ValueError(
                f"job kind {kind!r} of blueprint {self.name!r} must start with {self.name + '.'!r}"
            )

        def declare(handler: FlowHandler[S_contra]) -> FlowHandler[S_contra]:
            self.tasks.append(Task(kind, handler, policy, batch))
            return handler

        return declare

    def periodic(self, factory: ScheduleFactory[S_contra]) -> ScheduleFactory[S_contra]:
        """Declare a schedule; ``factory`` computes it from the settings (interval, payload, or off)."""
        self._schedules.append(factory)
        return factory

    def at_start(self, factory: StartFactory[S_contra]) -> StartFactory[S_contra]:
        """Declare a job queued whenever the service starts (``None`` from the factory: not this time)."""
        self._at_start.append(factory)
        return factory

    def start_jobs(self, settings: S_contra, connection_id: str = DEFAULT_CONNECTION) -> list[StartJob]:
        jobs = [job for job in (factory(settings) for factory in self._at_start) if job is not None]
        undeclared = [job.kind for job in jobs if job.kind not in {task.kind for task in self.tasks}]
        if undeclared:
            raise ValueError(f"blueprint {self.name!r} starts {undeclared}, which it does not declare")
        return [
            dataclasses.replace(
                job,
                connection_id=connection_id,
                key=per_connection(job.key, connection_id),
                lock_key=_scoped(job.lock_key, connection_id),
            )
            for job in jobs
        ]

    def register_into(
        self, registry: JobRegistry, settings: S_contra, *, current: Callable[[str], Any] | None = None
    ) -> None:
        """Each handler gets ``current(its job's connection id)`` at each run when given (each tenant's settings,
        with what was changed at run time), else ``settings``."""
        for task in self.tasks:
            registry.register(
                task.kind,
                _bound(task.handler, current or (lambda _: settings)),
                task.policy,
                batch=task.batch,
            )

    def schedules(self, settings: S_contra, connection_id: str = DEFAULT_CONNECTION) -> list[Schedule]:
        made = [factory(settings) for factory in self._schedules]
        schedules = [schedule for schedule in made if schedule is not None]
        for schedule in schedules:
            if schedule.kind not in {task.kind for task in self.tasks}:
                raise ValueError(
                    f"schedule {schedule.name!r} of blueprint {self.name!r} runs {schedule.kind!r}, "
                    "which the blueprint does not declare"
                )
        return [
            dataclasses.replace(
                schedule, connection_id=connection_id, lock_key=_scoped(schedule.lock_key, connection_id)
            )
            for schedule in schedules
        ]


def discover(package: str) -> list[Blueprint[Any]]:
    """The ``blueprint`` of every module in ``package`` and its sub-packages, in module-name order (stable)."""
    found: list[Blueprint[Any]] = []
    root = importlib.import_module(package)
    modules = pkgutil.walk_packages(root.__path__, prefix=f"{package}.")
    for info in sorted(modules, key=lambda m: m.name):
        module = importlib.import_module(info.name)
        blueprint = getattr(module, "blueprint", None)
        if isinstance(blueprint, Blueprint):
            found.append(blueprint)
    return found


def _scoped(lock_key: str | None, connection_id: str) -> str | None:
    return None if lock_key is None else per_connection(lock_key, connection_id)


def _bound(
    handler: FlowHandler[S_contra], settings: Callable[[str], S_contra]
) -> Callable[[JobContext], None]:
    def run(ctx: JobContext) -> None:
        handler(ctx, settings(ctx.job.connection_id))

    run.__name__ = getattr(handler, "__name__", "handler")
    return run

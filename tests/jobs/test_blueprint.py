"""Blueprints: a module declares its job kinds and schedules; the service finds and registers them."""

from __future__ import annotations

import datetime as dt
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine

from bitrix_inflow.config import Settings
from bitrix_inflow.jobs import maintenance, queue
from bitrix_inflow.jobs.blueprint import Blueprint, StartJob, discover
from bitrix_inflow.jobs.registry import JobContext, JobRegistry
from bitrix_inflow.jobs.scheduler import Schedule
from bitrix_inflow.service import blueprints, build_registry, build_schedules, queue_start_jobs
from bitrix_inflow.timing import SystemClock


def _noop(ctx: JobContext, settings: object) -> None:
    del ctx, settings


def test_kinds_are_namespaced_by_the_blueprint() -> None:
    stock: Blueprint[object] = Blueprint("stock")
    stock.task("stock.push")(_noop)
    with pytest.raises(ValueError, match=r"must start with 'stock\.'"):
        stock.task("orders.forward")
    with pytest.raises(ValueError, match="without dots"):
        Blueprint("sync.stock")


def test_schedules_come_from_the_settings_and_can_be_switched_off() -> None:
    stock: Blueprint[SimpleNamespace] = Blueprint("stock")
    stock.task("stock.push")(_noop)

    @stock.periodic
    def every(settings: SimpleNamespace) -> Schedule | None:
        if not settings.enabled:
            return None
        return Schedule(name="stock.push", every=dt.timedelta(seconds=settings.seconds), kind="stock.push")

    [schedule] = stock.schedules(SimpleNamespace(enabled=True, seconds=180))
    assert schedule.every == dt.timedelta(minutes=3)
    assert stock.schedules(SimpleNamespace(enabled=False, seconds=180)) == []


def test_a_schedule_of_an_undeclared_kind_is_refused() -> None:
    stock: Blueprint[object] = Blueprint("stock")
    stock.periodic(lambda _: Schedule(name="s", every=dt.timedelta(minutes=1), kind="stock.push"))
    with pytest.raises(ValueError, match="does not declare"):
        stock.schedules(object())


def test_one_kind_cannot_be_claimed_by_two_blueprints() -> None:
    first: Blueprint[object] = Blueprint("stock")
    second: Blueprint[object] = Blueprint("stock")
    first.task("stock.push")(_noop)
    second.task("stock.push")(_noop)
    registry = JobRegistry()
    first.register_into(registry, object())
    with pytest.raises(ValueError, match="registered twice"):
        second.register_into(registry, object())


@pytest.fixture
def flows_package(tmp_path: Path) -> Iterator[str]:
    """A package laid out like ``sync/``: flow modules, a sub-package, and a helper module without a blueprint."""
    name = f"flows_{tmp_path.name.replace('-', '_')}"
    root = tmp_path / name
    (root / "orders").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "orders" / "__init__.py").write_text("")
    flow = textwrap.dedent(
        """
        from bitrix_inflow.jobs.blueprint import Blueprint
        blueprint = Blueprint("{bp}")
        @blueprint.task("{bp}.run")
        def run(ctx, settings):
            pass
        """
    )
    (root / "stock.py").write_text(flow.format(bp="stock"))
    (root / "orders" / "forward.py").write_text(flow.format(bp="forward"))
    (root / "helpers.py").write_text("VALUE = 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield name
    finally:
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]


def test_discover_finds_every_flow_module_including_sub_packages(flows_package: str) -> None:
    found = discover(flows_package)
    assert [bp.name for bp in found] == ["forward", "stock"]  # module-name order: orders.forward, stock
    assert [task.kind for bp in found for task in bp.tasks] == ["forward.run", "stock.run"]


def test_the_service_registers_every_blueprint_and_its_schedules() -> None:
    settings = Settings.model_validate({"jobs": {"keep_finished_days": 3}})
    parts = blueprints()
    assert maintenance.blueprint in parts
    registry = build_registry(settings, parts)
    assert maintenance.PRUNE_KIND in registry.kinds
    [prune] = [s for s in build_schedules(settings, parts) if s.kind == maintenance.PRUNE_KIND]
    assert prune.payload == {"keep_days": 3}


def test_handlers_get_the_settings_and_start_jobs_are_declared_kinds() -> None:
    seen: list[object] = []
    flow: Blueprint[SimpleNamespace] = Blueprint("flow")

    @flow.task("flow.run")
    def run(ctx: JobContext, settings: SimpleNamespace) -> None:
        del ctx
        seen.append(settings.marker)

    flow.at_start(lambda s: StartJob("flow.run", {"full": True}, key="flow:start") if s.marker else None)
    settings = SimpleNamespace(marker="configured")
    registry = JobRegistry()
    flow.register_into(registry, settings)
    job_type = registry.get("flow.run")
    assert job_type is not None
    job_type.handler(SimpleNamespace(job=SimpleNamespace(connection_id="default")))  # type: ignore[arg-type]
    assert seen == ["configured"]
    assert flow.start_jobs(settings) == [StartJob("flow.run", {"full": True}, key="flow:start")]
    assert flow.start_jobs(SimpleNamespace(marker=None)) == []
    flow.at_start(lambda s: StartJob("flow.other", {}, key="k"))
    with pytest.raises(ValueError, match="does not declare"):
        flow.start_jobs(settings)


def test_start_jobs_are_coalesced_across_instances_starting_together(engine: Engine) -> None:
    settings = Settings.model_validate(
        {
            "inflow": {"base_url": "http://127.0.0.1:9", "api_key": "k"},
            "bitrix": {"webhook_url": "https://127.0.0.1:9/rest/1/abc/"},
        }
    )
    parts = blueprints()
    assert queue_start_jobs(engine, settings, parts, SystemClock()) == 1  # the stock flow's full read
    assert queue_start_jobs(engine, settings, parts, SystemClock()) == 0  # a second instance joins it
    with engine.connect() as conn:
        [job] = queue.list_jobs(conn, kind="stock.sync")
    assert job.payload["full"] is True and job.lock_key == "stock:default"


def test_each_tenant_gets_its_own_schedules_start_jobs_keys_and_settings() -> None:
    seen: list[tuple[str, object]] = []
    flow: Blueprint[SimpleNamespace] = Blueprint("flow")

    @flow.task("flow.run")
    def run(ctx: JobContext, settings: SimpleNamespace) -> None:
        seen.append((ctx.job.connection_id, settings.marker))

    flow.periodic(
        lambda s: Schedule(name="flow.tick", every=dt.timedelta(minutes=5), kind="flow.run", lock_key="flow")
    )
    flow.at_start(lambda s: StartJob("flow.run", {}, key="flow:start", lock_key="flow"))
    pairs = {"default": SimpleNamespace(marker="main"), "north": SimpleNamespace(marker="north's")}
    registry = JobRegistry()
    flow.register_into(registry, pairs["default"], current=lambda tenant: pairs[tenant])
    job_type = registry.get("flow.run")
    assert job_type is not None
    for tenant in ("north", "default"):
        job_type.handler(SimpleNamespace(job=SimpleNamespace(connection_id=tenant)))  # type: ignore[arg-type]
    assert seen == [("north", "north's"), ("default", "main")]

    [main] = flow.schedules(pairs["default"], "default")
    [north] = flow.schedules(pairs["north"], "north")
    # The default tenant keeps the keys it had before tenants; another's never meet them.
    assert (main.connection_id, main.lock_key) == ("default", "flow")
    assert (north.connection_id, north.lock_key) == ("north", "flow@north")
    [start] = flow.start_jobs(pairs["north"], "north")
    assert (start.connection_id, start.key, start.lock_key) == ("north", "flow:start@north", "flow@north")

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, text
from sqlalchemy.exc import IntegrityError

from bitrix_inflow.errors import SchemaOutdatedError
from bitrix_inflow.jobs import queue
from bitrix_inflow.store import schema
from bitrix_inflow.store.engine import make_engine
from bitrix_inflow.store.tables import jobs, metadata

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def _job(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "connection_id": "default",
        "kind": "k",
        "payload": {},
        "status": "queued",
        "max_attempts": 3,
        "run_after": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }
    row.update(over)
    return row


def test_upgrade_creates_every_table_and_is_repeatable(db_url: str) -> None:
    eng = make_engine(db_url)
    assert schema.current_revision(eng) is None
    schema.upgrade(eng)
    schema.upgrade(eng)  # a second run is a no-op
    assert schema.current_revision(eng) == schema.head_revision()
    assert {"connections", "jobs", "workers", "schedule_slots"} <= set(inspect(eng).get_table_names())
    schema.ensure_current(eng)
    with eng.connect() as conn:
        assert conn.execute(text("SELECT id FROM connections")).scalars().all() == ["default"]


def test_refuses_an_empty_database_with_the_command_to_run(db_url: str) -> None:
    eng = make_engine(db_url)
    with pytest.raises(SchemaOutdatedError, match="bitrix-inflow db upgrade"):
        schema.ensure_current(eng)


def test_refuses_an_outdated_or_unknown_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    with pytest.raises(SchemaOutdatedError, match="does not know"):
        schema.ensure_current(engine)


def test_downgrade_then_upgrade_round_trips(engine: Engine) -> None:
    config = schema._alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert "jobs" not in inspect(engine).get_table_names()
    schema.upgrade(engine)
    assert "jobs" in inspect(engine).get_table_names()


def test_only_one_active_job_per_dedupe_key(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(jobs).values(**_job(dedupe_key="order:1", status="done")))
        conn.execute(insert(jobs).values(**_job(dedupe_key="order:1", status="done")))  # history may repeat
        conn.execute(insert(jobs).values(**_job(dedupe_key="order:1", status="queued")))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(jobs).values(**_job(dedupe_key="order:1", status="running")))


def test_only_one_running_job_per_lock_key(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(jobs).values(**_job(lock_key="order:7", status="running")))
        conn.execute(insert(jobs).values(**_job(lock_key="order:7", status="queued")))  # may wait behind it
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(jobs).values(**_job(lock_key="order:7", status="running")))


def test_timestamps_come_back_as_aware_utc(engine: Engine) -> None:
    moscow = dt.timezone(dt.timedelta(hours=3))
    with engine.begin() as conn:
        conn.execute(insert(jobs).values(**_job(run_after=NOW.astimezone(moscow))))
    with engine.connect() as conn:
        (job,) = queue.list_jobs(conn)
    assert job.run_after == NOW
    assert job.run_after.tzinfo is not None


def test_the_migrations_build_exactly_the_schema_the_code_declares(engine: Engine) -> None:
    """tables.py and the Alembic revisions are written separately; a column, index or constraint present in one
    and not the other (e.g. a partial unique index the engine relies on) shows up here."""
    with engine.connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn), metadata)
    assert drift == []

"""All tables of the state store (SQLAlchemy Core).

Guarantees live here, in constraints and partial indexes, not in ``if`` checks in Python:

* ``ix_jobs_dedupe_active``: at most one queued-or-running job per dedupe key (race-free enqueue de-dup);
* ``ix_jobs_lock_running``: at most one running job per lock key (per-entity serialisation across machines);
* ``uq_schedule_slots``: one row per (schedule, slot) — each periodic tick fires once across all instances.

Every business row carries ``connection_id`` (one shop paired with one warehouse) so that one deployment can serve
several pairs later without a redesign.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from bitrix_inflow.store.types import UtcDateTime

# Deterministic constraint names keep Alembic migrations identical on both dialects.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")

connections = Table(
    "connections",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("connection_id", String(64), ForeignKey("connections.id"), nullable=False),
    Column("kind", String(100), nullable=False),
    Column("payload", JSON(), nullable=False),
    Column("dedupe_key", String(300)),
    Column("lock_key", String(300)),
    Column("priority", Integer, nullable=False, server_default=text("100")),
    # queued | running | done | dead | cancelled
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=False),
    Column("run_after", UtcDateTime(), nullable=False),
    Column("leased_by", String(200)),
    Column("lease_until", UtcDateTime()),
    Column("last_error", Text),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
)

Index(
    "ix_jobs_dedupe_active",
    jobs.c.dedupe_key,
    unique=True,
    sqlite_where=text("status IN ('queued', 'running')"),
    postgresql_where=text("status IN ('queued', 'running')"),
)
Index(
    "ix_jobs_lock_running",
    jobs.c.lock_key,
    unique=True,
    sqlite_where=text("status = 'running'"),
    postgresql_where=text("status = 'running'"),
)
Index("ix_jobs_claim", jobs.c.status, jobs.c.run_after, jobs.c.priority, jobs.c.id)
Index("ix_jobs_lock_key", jobs.c.lock_key, jobs.c.status)
Index("ix_jobs_lease", jobs.c.status, jobs.c.lease_until)

workers = Table(
    "workers",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("hostname", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("heartbeat_at", UtcDateTime(), nullable=False),
)

schedule_slots = Table(
    "schedule_slots",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("connection_id", String(64), ForeignKey("connections.id"), nullable=False),
    Column("schedule", String(100), nullable=False),
    Column("slot", UtcDateTime(), nullable=False),
    Column("job_id", BigInteger),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("connection_id", "schedule", "slot", name="uq_schedule_slots"),
)

status_map = Table(
    "status_map",
    metadata,
    Column("connection_id", String(64), ForeignKey("connections.id"), primary_key=True),
    Column("inflow_status", String(32), primary_key=True),
    Column("bitrix_status", String(2), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

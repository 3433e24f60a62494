"""Foundation: connections, the job queue, workers and periodic schedule slots.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from bitrix_inflow.store.types import UtcDateTime

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    connections = op.create_table(
        "connections",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.bulk_insert(
        connections,
        [{"id": "default", "name": "Default shop ↔ warehouse", "created_at": dt.datetime.now(dt.UTC)}],
    )
    op.create_table(
        "jobs",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column(
            "connection_id",
            sa.String(64),
            sa.ForeignKey("connections.id", name="fk_jobs_connection_id_connections"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", sa.String(300)),
        sa.Column("lock_key", sa.String(300)),
        sa.Column("priority", sa.Integer, nullable=False, server_default=sa.text("100")),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("run_after", UtcDateTime(), nullable=False),
        sa.Column("leased_by", sa.String(200)),
        sa.Column("lease_until", UtcDateTime()),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime()),
    )
    active = sa.text("status IN ('queued', 'running')")
    running = sa.text("status = 'running'")
    op.create_index(
        "ix_jobs_dedupe_active",
        "jobs",
        ["dedupe_key"],
        unique=True,
        sqlite_where=active,
        postgresql_where=active,
    )
    op.create_index(
        "ix_jobs_lock_running",
        "jobs",
        ["lock_key"],
        unique=True,
        sqlite_where=running,
        postgresql_where=running,
    )
    op.create_index("ix_jobs_claim", "jobs", ["status", "run_after", "priority", "id"])
    op.create_index("ix_jobs_lock_key", "jobs", ["lock_key", "status"])
    op.create_index("ix_jobs_lease", "jobs", ["status", "lease_until"])
    op.create_table(
        "workers",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("hostname", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("heartbeat_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "schedule_slots",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column(
            "connection_id",
            sa.String(64),
            sa.ForeignKey("connections.id", name="fk_schedule_slots_connection_id_connections"),
            nullable=False,
        ),
        sa.Column("schedule", sa.String(100), nullable=False),
        sa.Column("slot", UtcDateTime(), nullable=False),
        sa.Column("job_id", sa.BigInteger),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("connection_id", "schedule", "slot", name="uq_schedule_slots"),
    )


def downgrade() -> None:
    op.drop_table("schedule_slots")
    op.drop_table("workers")
    op.drop_index("ix_jobs_lease", "jobs")
    op.drop_index("ix_jobs_lock_key", "jobs")
    op.drop_index("ix_jobs_claim", "jobs")
    op.drop_index("ix_jobs_lock_running", "jobs")
    op.drop_index("ix_jobs_dedupe_active", "jobs")
    op.drop_table("jobs")
    op.drop_table("connections")

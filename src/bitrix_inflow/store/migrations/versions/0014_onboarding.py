"""Onboarding: what ``init`` saw of both systems each time it ran (``onboarding_snapshots``), so the next run can say
what changed on either side since (a new status, a new delivery service, a renamed field).

Revision ID: 0014_onboarding
Revises: 0013_console
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bitrix_inflow.store.types import UtcDateTime

revision = "0014_onboarding"
down_revision = "0013_console"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "onboarding_snapshots",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("connection_id", sa.String(64), nullable=False),
        sa.Column("taken_at", UtcDateTime(), nullable=False),
        sa.Column("taken_by", sa.String(100), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_onboarding_snapshots"),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.id"], name="fk_onboarding_snapshots_connection_id_connections"
        ),
    )
    op.create_index("ix_onboarding_snapshots_connection_id", "onboarding_snapshots", ["connection_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_onboarding_snapshots_connection_id", table_name="onboarding_snapshots")
    op.drop_table("onboarding_snapshots")

"""Tenants: each console user belongs to one shop/warehouse pair (``console_users.connection_id``), and signs in to
that pair's console only. Every user made before is the default pair's.

Revision ID: 0015_tenant_users
Revises: 0014_onboarding
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_tenant_users"
down_revision = "0014_onboarding"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("console_users") as batch:
        batch.add_column(
            sa.Column("connection_id", sa.String(64), nullable=False, server_default=sa.text("'default'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("console_users") as batch:
        batch.drop_column("connection_id")

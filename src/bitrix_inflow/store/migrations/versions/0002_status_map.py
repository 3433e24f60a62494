"""The Inflow → Bitrix status mapping table, seeded with the brief's defaults for existing connections.

Revision ID: 0002_status_map
Revises: 0001_foundation
Create Date: 2026-11-27
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from bitrix_inflow.store.types import UtcDateTime

revision = "0002_status_map"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration must build the same rows whatever later code considers the default.
SEED = {"NEW": "P", "PICKING": "Q", "SHIPPED": "D", "DELIVERED": "F", "CANCELLED": "Z"}


def upgrade() -> None:
    table = op.create_table(
        "status_map",
        sa.Column(
            "connection_id",
            sa.String(64),
            sa.ForeignKey("connections.id", name="fk_status_map_connection_id_connections"),
            primary_key=True,
        ),
        sa.Column("inflow_status", sa.String(32), primary_key=True),
        sa.Column("bitrix_status", sa.String(2), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    connection_ids = [row[0] for row in op.get_bind().execute(sa.text("SELECT id FROM connections")).all()]
    now = dt.datetime.now(dt.UTC)
    op.bulk_insert(
        table,
        [
            {
                "connection_id": connection_id,
                "inflow_status": inflow,
                "bitrix_status": bitrix,
                "updated_at": now,
                "updated_by": "migration 0002",
            }
            for connection_id in connection_ids
            for inflow, bitrix in SEED.items()
        ],
    )


def downgrade() -> None:
    op.drop_table("status_map")

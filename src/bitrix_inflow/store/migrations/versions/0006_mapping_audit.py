"""The status mapping's audit trail: who changed which Inflow status's Bitrix status, when, from what to what.

Revision ID: 0006_mapping_audit
Revises: 0005_orders
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bitrix_inflow.store.types import UtcDateTime

revision = "0006_mapping_audit"
down_revision = "0005_orders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_map_audit",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column(
            "connection_id",
            sa.String(64),
            sa.ForeignKey("connections.id", name="fk_status_map_audit_connection_id_connections"),
            nullable=False,
        ),
        sa.Column("inflow_status", sa.String(32), nullable=False),
        sa.Column("old", sa.String(2)),
        sa.Column("new", sa.String(2)),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("status_map_audit")

"""The marking ledger: every marked unit the service shipped, with its full code and identity, where it left and
what became of it; a unit is sold once (a partial unique index on its identity, returned units excepted).

Revision ID: 0011_marking_ledger
Revises: 0010_incidents
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bitrix_inflow.store.types import UtcDateTime

revision = "0011_marking_ledger"
down_revision = "0010_incidents"
branch_labels = None
depends_on = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "marking_ledger",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column(
            "connection_id",
            sa.String(64),
            sa.ForeignKey("connections.id", name="fk_marking_ledger_connection_id_connections"),
            nullable=False,
        ),
        sa.Column("identity", sa.String(64), nullable=False),
        sa.Column("code", sa.String(256), nullable=False),
        sa.Column("gtin", sa.String(14), nullable=False),
        sa.Column("bitrix_order_id", sa.BigInteger, nullable=False),
        sa.Column("shipment_id", sa.BigInteger),
        sa.Column("picking_ref", sa.String(64), nullable=False),
        sa.Column("sscc", sa.String(18)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index(
        "ix_marking_ledger_sold_once",
        "marking_ledger",
        ["connection_id", "identity"],
        unique=True,
        sqlite_where=sa.text("state != 'returned'"),
        postgresql_where=sa.text("state != 'returned'"),
    )
    op.create_index("ix_marking_ledger_order", "marking_ledger", ["connection_id", "bitrix_order_id", "id"])
    op.create_index("ix_marking_ledger_created", "marking_ledger", ["connection_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_marking_ledger_created", "marking_ledger")
    op.drop_index("ix_marking_ledger_order", "marking_ledger")
    op.drop_index("ix_marking_ledger_sold_once", "marking_ledger")
    op.drop_table("marking_ledger")

"""Marking codes on their way to the shop: each picking order keeps the codes and packages the warehouse reported
at packing (``marking``), how far they got (``marking_state``: captured → checked → written, or problem), and the
codes the shop held when it was planned, which travel with it (``given_codes``); each
ledger unit its basket line, so a shipment line's codes are read from the ledger alone.

Revision ID: 0012_part_marking
Revises: 0011_marking_ledger
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_part_marking"
down_revision = "0011_marking_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("order_parts", sa.Column("marking", sa.JSON(), nullable=True))
    op.add_column("order_parts", sa.Column("marking_state", sa.String(12), nullable=True))
    op.add_column("order_parts", sa.Column("given_codes", sa.JSON(), nullable=True))
    op.add_column("marking_ledger", sa.Column("basket_id", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_marking_ledger_line",
        "marking_ledger",
        ["connection_id", "bitrix_order_id", "shipment_id", "basket_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_marking_ledger_line", table_name="marking_ledger")
    with op.batch_alter_table("marking_ledger") as batch:
        batch.drop_column("basket_id")
    with op.batch_alter_table("order_parts") as batch:
        batch.drop_column("given_codes")
        batch.drop_column("marking_state")
        batch.drop_column("marking")

"""The order version the latest poll saw, on each binding: an order read ahead of its forwarding run is used only if
no poll has seen a newer version of it since (whichever process polled).

Revision ID: 0009_polled_version
Revises: 0008_claim_order
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_polled_version"
down_revision = "0008_claim_order"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("order_bindings", sa.Column("polled_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order_bindings") as batch:
        batch.drop_column("polled_version")

"""Bindings remember the Bitrix order version whose contents the service has accounted for (read when it planned,
or reached by its own writes): a poll row with another version is someone else's edit and is checked. They also
remember what the service last wrote to each shipment, so a status step rewrites no tracking that did not change,
and how many of the shop's events about the order are echoes of the service's own writes still to come.

Revision ID: 0007_order_versions
Revises: 0006_mapping_audit
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_order_versions"
down_revision = "0006_mapping_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("order_bindings", sa.Column("seen_version", sa.Integer(), nullable=True))
    op.add_column("order_bindings", sa.Column("shipments_written", sa.JSON(), nullable=True))
    op.add_column("order_bindings", sa.Column("echoes", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("order_bindings") as batch:
        batch.drop_column("seen_version")
        batch.drop_column("shipments_written")
        batch.drop_column("echoes")

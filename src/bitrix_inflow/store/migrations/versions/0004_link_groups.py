"""Stock links remember the product group their safety buffer comes from, so an incremental sync applies the same
group buffer as the full sync that matched them (it read the groups; incremental runs do not read the catalogue).

Revision ID: 0004_link_groups
Revises: 0003_stock
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_link_groups"
down_revision = "0003_stock"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("product_links", sa.Column("product_group", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("product_links") as batch:
        batch.drop_column("product_group")

"""Orders: the order binder and its picking orders (with the constraints that make a second picking order for the
same part impossible), their lines, the sync cursors, the WMS webhook dedupe, conflicts and the timeline.

Revision ID: 0005_orders
Revises: 0004_link_groups
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bitrix_inflow.store.types import UtcDateTime

revision = "0005_orders"
down_revision = "0004_link_groups"
branch_labels = None
depends_on = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LIVE = "state IN ('planned', 'sending', 'accepted', 'cancelling', 'short')"


def _connection(table: str, *, primary_key: bool = True) -> sa.Column[str]:
    return sa.Column(
        "connection_id",
        sa.String(64),
        sa.ForeignKey("connections.id", name=f"fk_{table}_connection_id_connections"),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "sync_cursors",
        _connection("sync_cursors"),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "order_bindings",
        _connection("order_bindings"),
        sa.Column("bitrix_order_id", sa.BigInteger, primary_key=True),
        sa.Column("account_number", sa.String(100)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("applied_status", sa.String(16)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "order_parts",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        _connection("order_parts", primary_key=False),
        sa.Column("bitrix_order_id", sa.BigInteger, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("part_no", sa.Integer, nullable=False),
        sa.Column("warehouse", sa.String(64), nullable=False),
        sa.Column("zone", sa.String(32), nullable=False),
        sa.Column("carrier", sa.String(100), nullable=False),
        sa.Column("external_ref", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("wms_order_id", sa.String(64)),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("wms_status", sa.String(16)),
        sa.Column("wms_version", sa.Integer),
        sa.Column("tracking_carrier", sa.String(100)),
        sa.Column("tracking_number", sa.String(100)),
        sa.Column("error", sa.JSON()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint(
            "connection_id", "bitrix_order_id", "generation", "part_no", name="uq_order_parts_part"
        ),
        sa.UniqueConstraint("connection_id", "warehouse", "external_ref", name="uq_order_parts_ref"),
        sa.UniqueConstraint("connection_id", "idempotency_key", name="uq_order_parts_key"),
        sa.UniqueConstraint("connection_id", "wms_order_id", name="uq_order_parts_wms"),
    )
    op.create_index(
        "ix_order_parts_live_group",
        "order_parts",
        ["connection_id", "bitrix_order_id", "zone", "carrier"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )
    op.create_table(
        "order_part_lines",
        sa.Column(
            "part_id",
            big_id,
            sa.ForeignKey(
                "order_parts.id", name="fk_order_part_lines_part_id_order_parts", ondelete="CASCADE"
            ),
            primary_key=True,
        ),
        sa.Column("line_no", sa.Integer, primary_key=True),
        sa.Column("basket_id", sa.BigInteger, nullable=False),
        sa.Column("shipment_id", sa.BigInteger, nullable=False),
        sa.Column("sku", sa.String(100), nullable=False),
        sa.Column("qty", sa.Integer, nullable=False),
    )
    op.create_table(
        "inflow_events",
        _connection("inflow_events"),
        sa.Column("event_id", sa.String(100), primary_key=True),
        sa.Column("received_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "order_conflicts",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        _connection("order_conflicts", primary_key=False),
        sa.Column("bitrix_order_id", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("resolved_at", UtcDateTime()),
        sa.UniqueConstraint(
            "connection_id", "bitrix_order_id", "kind", "subject", name="uq_order_conflicts_kind"
        ),
    )
    op.create_table(
        "order_timeline",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        _connection("order_timeline", primary_key=False),
        sa.Column("bitrix_order_id", sa.BigInteger, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_order_timeline_order", "order_timeline", ["connection_id", "bitrix_order_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_order_timeline_order", table_name="order_timeline")
    op.drop_index("ix_order_parts_live_group", table_name="order_parts")
    for table in (
        "order_timeline",
        "order_conflicts",
        "inflow_events",
        "order_part_lines",
        "order_parts",
        "order_bindings",
        "sync_cursors",
    ):
        op.drop_table(table)

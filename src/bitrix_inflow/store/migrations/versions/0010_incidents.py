"""Incidents: the conflicts table becomes the one inbox of what a person must decide (picking errors, refused
cancellations and statuses, edits after picking), each with its ways out, whether the manager has been told (and by
which task or notification), the way out chosen, and an audit trail of who did what when.

The conflicts recorded so far are carried over as open or resolved incidents; the manager is told of the open ones.

Revision ID: 0010_incidents
Revises: 0009_polled_version
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bitrix_inflow.store.types import UtcDateTime

revision = "0010_incidents"
down_revision = "0009_polled_version"
branch_labels = None
depends_on = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _connection(table: str) -> sa.Column[str]:
    return sa.Column(
        "connection_id",
        sa.String(64),
        sa.ForeignKey("connections.id", name=f"fk_{table}_connection_id_connections"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        _connection("incidents"),
        sa.Column("bitrix_order_id", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("ways_out", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("notice_state", sa.String(12), nullable=False),
        sa.Column("notice_kind", sa.String(16)),
        sa.Column("notice_ref", sa.String(64)),
        sa.Column("resolution", sa.JSON()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("resolved_at", UtcDateTime()),
        sa.UniqueConstraint("connection_id", "bitrix_order_id", "kind", "subject", name="uq_incidents_kind"),
    )
    op.create_index("ix_incidents_state", "incidents", ["connection_id", "state", "kind"])
    op.create_table(
        "incident_audit",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id",
            big_id,
            sa.ForeignKey("incidents.id", name="fk_incident_audit_incident_id_incidents"),
            nullable=False,
        ),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_incident_audit_incident", "incident_audit", ["incident_id", "id"])
    op.execute(
        "INSERT INTO incidents (id, connection_id, bitrix_order_id, kind, subject, detail, ways_out, state, "
        "notice_state, created_at, updated_at, resolved_at) "
        "SELECT id, connection_id, bitrix_order_id, kind, subject, detail, '[]', state, "
        "CASE WHEN state = 'open' THEN 'pending' ELSE 'not_needed' END, created_at, created_at, resolved_at "
        "FROM order_conflicts"
    )
    if op.get_bind().dialect.name == "postgresql":  # ids were copied: the sequence goes on after them
        op.execute(
            "SELECT setval(pg_get_serial_sequence('incidents', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM incidents"
        )
    op.drop_table("order_conflicts")


def downgrade() -> None:
    op.create_table(
        "order_conflicts",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        _connection("order_conflicts"),
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
    op.execute(
        "INSERT INTO order_conflicts (id, connection_id, bitrix_order_id, kind, subject, detail, state, "
        "created_at, resolved_at) SELECT id, connection_id, bitrix_order_id, kind, subject, detail, state, "
        "created_at, resolved_at FROM incidents"
    )
    op.drop_index("ix_incident_audit_incident", "incident_audit")
    op.drop_table("incident_audit")
    op.drop_index("ix_incidents_state", "incidents")
    op.drop_table("incidents")

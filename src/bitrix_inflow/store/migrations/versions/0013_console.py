"""The web console: its people (``console_users``, passwords as scrypt hashes), signed-in browsers
(``console_sessions``, token hashes only), what they did (``console_audit``) and the settings they changed at run
time (``runtime_settings``).

Revision ID: 0013_console
Revises: 0012_part_marking
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bitrix_inflow.store.types import UtcDateTime

revision = "0013_console"
down_revision = "0012_part_marking"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("language", sa.String(8)),
        sa.Column("failed_sign_ins", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("locked_until", UtcDateTime()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_console_users"),
        sa.UniqueConstraint("username", name="uq_console_users_username"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_console_sessions"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["console_users.id"],
            name="fk_console_sessions_user_id_console_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_console_sessions_user_id", "console_sessions", ["user_id"])
    op.create_table(
        "console_audit",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("connection_id", sa.String(64)),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("target", sa.String(200), nullable=False, server_default=sa.text("''")),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_console_audit"),
    )
    op.create_index("ix_console_audit_at", "console_audit", ["at", "id"])
    op.create_table(
        "runtime_settings",
        sa.Column("connection_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "key", name="pk_runtime_settings"),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.id"], name="fk_runtime_settings_connection_id_connections"
        ),
    )


def downgrade() -> None:
    op.drop_table("runtime_settings")
    op.drop_index("ix_console_audit_at", table_name="console_audit")
    op.drop_table("console_audit")
    op.drop_index("ix_console_sessions_user_id", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("console_users")

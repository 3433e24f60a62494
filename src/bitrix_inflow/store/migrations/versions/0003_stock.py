"""Stock sync: the products table and links (the binder), the unmatched report, the warehouse levels, the push
snapshot, the read cursors, and the exactly-once journal of stock documents.

Revision ID: 0003_stock
Revises: 0002_status_map
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bitrix_inflow.store.types import UtcDateTime

revision = "0003_stock"
down_revision = "0002_status_map"
branch_labels = None
depends_on = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


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
        "product_table",
        _connection("product_table"),
        sa.Column("sku", sa.String(100), primary_key=True),
        sa.Column("product_id", sa.BigInteger, nullable=False),
        sa.Column("imported_at", UtcDateTime(), nullable=False),
        sa.Column("imported_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "product_links",
        _connection("product_links"),
        sa.Column("sku", sa.String(100), primary_key=True),
        sa.Column("product_id", sa.BigInteger, nullable=False),
        sa.Column("parent_id", sa.BigInteger),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("barcode_multi", sa.Boolean, nullable=False),
        sa.Column("matched_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("connection_id", "product_id", name="uq_product_links_product"),
    )
    op.create_table(
        "stock_unmatched",
        _connection("stock_unmatched"),
        sa.Column("side", sa.String(12), primary_key=True),
        sa.Column("item", sa.String(100), primary_key=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "stock_levels",
        _connection("stock_levels"),
        sa.Column("sku", sa.String(100), primary_key=True),
        sa.Column("warehouse", sa.String(64), primary_key=True),
        sa.Column("available", sa.Integer, nullable=False),
        sa.Column("read_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "stock_pushed",
        _connection("stock_pushed"),
        sa.Column("product_id", sa.BigInteger, primary_key=True),
        sa.Column("store_id", sa.Integer, primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("pushed_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "stock_hints",
        _connection("stock_hints"),
        sa.Column("sku", sa.String(100), primary_key=True),
        sa.Column("warehouse", sa.String(64), primary_key=True),
        sa.Column("hinted_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "stock_cursors",
        _connection("stock_cursors"),
        sa.Column("warehouse", sa.String(64), primary_key=True),
        sa.Column("updated_since", UtcDateTime()),
        sa.Column("full_at", UtcDateTime()),
    )
    op.create_table(
        "stock_documents",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        _connection("stock_documents", primary_key=False),
        sa.Column("run", sa.String(64), nullable=False),
        sa.Column("doc_type", sa.String(1), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("bitrix_id", sa.BigInteger),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("connection_id", "run", "doc_type", name="uq_stock_documents_run"),
    )
    op.create_index(
        "ix_stock_documents_open",
        "stock_documents",
        ["connection_id"],
        unique=True,
        sqlite_where=sa.text("state IN ('planned', 'added')"),
        postgresql_where=sa.text("state IN ('planned', 'added')"),
    )


def downgrade() -> None:
    op.drop_index("ix_stock_documents_open", table_name="stock_documents")
    for table in (
        "stock_documents",
        "stock_cursors",
        "stock_hints",
        "stock_pushed",
        "stock_levels",
        "stock_unmatched",
        "product_links",
        "product_table",
    ):
        op.drop_table(table)

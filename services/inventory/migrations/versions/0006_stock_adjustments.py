"""Stock adjustments: every on-hand change an ERP count makes, for the warehouse's stock-adjustment bin.

``set_stock`` (an import page, a ``StockChanged`` event) writes one row per
SKU whose ``on_hand`` it changed, in the same statement: ``delta`` (never 0),
``on_hand`` after it, ``source`` and ``ref`` (the page or the event). A row is
``posted_at`` once the warehouse took it; the partial index serves the
pending ones, oldest first (docs/erp.md, part D).

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stock_adjustments",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("delta", sa.Integer, nullable=False),
        sa.Column("on_hand", sa.Integer, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("delta <> 0", name="adjustment_delta_not_zero"),
        sa.CheckConstraint("on_hand >= 0", name="adjustment_on_hand_not_negative"),
        sa.CheckConstraint("source IN ('erp-page', 'erp-event')", name="adjustment_source"),
    )
    op.create_index(
        "ix_stock_adjustments_pending", "stock_adjustments", ["id"], postgresql_where=sa.text("posted_at IS NULL")
    )


def downgrade() -> None:
    op.drop_index("ix_stock_adjustments_pending", table_name="stock_adjustments")
    op.drop_table("stock_adjustments")

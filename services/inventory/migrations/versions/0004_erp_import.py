"""The ERP master-data import: EAN and change times on products, and the import's watermarks.

``erp_changed_at`` is the ERP's ``LastChangedAt`` of the material data last
applied, ``stock_changed_at`` that of the on-hand count last applied (null:
never imported; the next import applies). ``erp_watermarks`` holds one row
per imported entity (``materials``, ``stock``): where the next page starts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("products", sa.Column("ean", sa.String(14), nullable=True))
    op.add_column("products", sa.Column("erp_changed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("products", sa.Column("stock_changed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "erp_watermarks",
        sa.Column("entity", sa.Text, primary_key=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rows >= 0", name="watermark_rows_not_negative"),
    )


def downgrade() -> None:
    op.drop_table("erp_watermarks")
    op.drop_column("products", "stock_changed_at")
    op.drop_column("products", "erp_changed_at")
    op.drop_column("products", "ean")

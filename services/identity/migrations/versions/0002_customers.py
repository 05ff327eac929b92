"""ERP customers (a read model the master-data import keeps) and the import's watermarks.

``changed_at`` is the ERP's ``LastChangedAt`` of the customer's data applied
last; an import applies only newer data. E-mail lookups ignore case, so
``lower(email)`` is indexed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("customer_number", sa.String(10), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("street", sa.String(200), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("postal_code", sa.String(20), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("delivery_blocked", sa.Boolean, nullable=False),
        sa.Column("credit_blocked", sa.Boolean, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("customers_email_lower", "customers", [sa.text("lower(email)")])
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
    op.drop_index("customers_email_lower", table_name="customers")
    op.drop_table("customers")

"""Pending payments (the processor is called outside any transaction) and void tombstones.

A payment is recorded ``PENDING`` before the processor is asked and counts as
the order's one open payment; its brand is known only once the processor
answers. ``voided_orders`` remembers every order whose payment was voided,
even when nothing was held yet, so a late authorize is refused.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_LIVE = "status IN ('AUTHORIZED','CAPTURED','PARTIALLY_REFUNDED','REFUNDED')"
OPEN = "status IN ('PENDING','AUTHORIZED','CAPTURED','PARTIALLY_REFUNDED','REFUNDED')"
OLD_STATUSES = "status IN ('AUTHORIZED','CAPTURED','PARTIALLY_REFUNDED','REFUNDED','DECLINED','VOIDED')"
STATUSES = "status IN ('PENDING','AUTHORIZED','CAPTURED','PARTIALLY_REFUNDED','REFUNDED','DECLINED','VOIDED')"


def upgrade() -> None:
    op.drop_constraint("payment_status", "payments", type_="check")
    op.create_check_constraint("payment_status", "payments", STATUSES)
    # One open payment per order: a pending attempt blocks a second charge as a live payment does.
    op.drop_index("uq_payments_live_per_order", table_name="payments")
    op.create_index("uq_payments_live_per_order", "payments", ["order_id"], unique=True, postgresql_where=sa.text(OPEN))
    op.alter_column("payments", "card_brand", existing_type=sa.String(16), nullable=True)
    op.create_table(
        "voided_orders",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("voided_orders")
    op.execute("DELETE FROM payments WHERE status = 'PENDING'")
    op.execute("UPDATE payments SET card_brand = '' WHERE card_brand IS NULL")
    op.alter_column("payments", "card_brand", existing_type=sa.String(16), nullable=False)
    op.drop_index("uq_payments_live_per_order", table_name="payments")
    op.create_index(
        "uq_payments_live_per_order", "payments", ["order_id"], unique=True, postgresql_where=sa.text(OLD_LIVE)
    )
    op.drop_constraint("payment_status", "payments", type_="check")
    op.create_check_constraint("payment_status", "payments", OLD_STATUSES)

"""Payments, the processor ledger, attempt counters and idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "status IN ('AUTHORIZED','CAPTURED','PARTIALLY_REFUNDED','REFUNDED')"


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("payment_id", sa.String(32), primary_key=True),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("captured_cents", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("refunded_cents", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("card_brand", sa.String(16), nullable=False),
        sa.Column("decline_reason", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('AUTHORIZED','CAPTURED','PARTIALLY_REFUNDED','REFUNDED','DECLINED','VOIDED')",
            name="payment_status",
        ),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.CheckConstraint("captured_cents BETWEEN 0 AND amount_cents", name="capture_within_amount"),
        sa.CheckConstraint("refunded_cents BETWEEN 0 AND captured_cents", name="refund_within_capture"),
    )
    op.create_index("ix_payments_order_id", "payments", ["order_id"])
    # A card is never charged twice for one order: one live payment per order.
    op.create_index("uq_payments_live_per_order", "payments", ["order_id"], unique=True, postgresql_where=sa.text(LIVE))
    op.create_table(
        "payment_operations",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("payment_id", sa.String(32), sa.ForeignKey("payments.payment_id"), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("operation IN ('authorize','capture','void','refund')", name="operation_kind"),
    )
    op.create_index("ix_payment_operations_payment_id", "payment_operations", ["payment_id"])
    op.create_index(
        "uq_payment_operations_once",
        "payment_operations",
        ["payment_id", "operation"],
        unique=True,
        postgresql_where=sa.text("operation IN ('authorize','capture','void')"),
    )
    op.create_table(
        "processor_attempts",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("response", JSONB, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("processor_attempts")
    op.drop_table("payment_operations")
    op.drop_table("payments")

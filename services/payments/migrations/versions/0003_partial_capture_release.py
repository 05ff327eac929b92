"""Partial capture: the part of an authorization not captured is released (a ``release`` ledger row, once).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("operation_kind", "payment_operations", type_="check")
    op.create_check_constraint(
        "operation_kind", "payment_operations", "operation IN ('authorize','capture','void','refund','release')"
    )
    op.drop_index("uq_payment_operations_once", table_name="payment_operations")
    op.create_index(
        "uq_payment_operations_once",
        "payment_operations",
        ["payment_id", "operation"],
        unique=True,
        postgresql_where=sa.text("operation IN ('authorize','capture','void','release')"),
    )


def downgrade() -> None:
    op.execute("DELETE FROM payment_operations WHERE operation = 'release'")
    op.drop_index("uq_payment_operations_once", table_name="payment_operations")
    op.create_index(
        "uq_payment_operations_once",
        "payment_operations",
        ["payment_id", "operation"],
        unique=True,
        postgresql_where=sa.text("operation IN ('authorize','capture','void')"),
    )
    op.drop_constraint("operation_kind", "payment_operations", type_="check")
    op.create_check_constraint(
        "operation_kind", "payment_operations", "operation IN ('authorize','capture','void','refund')"
    )

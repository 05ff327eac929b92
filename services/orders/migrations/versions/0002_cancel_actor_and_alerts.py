"""Who asked for each status change, and alerts operators must settle.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("order_status_history", sa.Column("actor", sa.String(64), nullable=True))
    op.create_table(
        "order_alerts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.order_id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("order_id", "kind", "step", name="one_alert_per_step"),
    )


def downgrade() -> None:
    op.drop_table("order_alerts")
    op.drop_column("order_status_history", "actor")

"""Restock after a failed delivery: when an order's issued units came back into their bins.

Set once, so a repeat of the restock is detected and answers the same without
putting the units back twice. Only an issued order can be restocked.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("backlog", sa.Column("restocked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        "backlog_restocked_after_issue", "backlog", "restocked_at IS NULL OR issued_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_constraint("backlog_restocked_after_issue", "backlog", type_="check")
    op.drop_column("backlog", "restocked_at")

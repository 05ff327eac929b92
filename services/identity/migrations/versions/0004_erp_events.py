"""The ERP's customer events: recorded once per event id, with what became of each.

``applied`` (newer than the stored customer's ``changed_at``, or a new customer)
or ``stale``, with the event as received.

Revision ID: 0004
Revises: 0003
Create Date: 2027-01-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erp_events",
        sa.Column("event_id", sa.String(100), primary_key=True),
        sa.Column("object_id", sa.String(100), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("body", JSONB, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('applied', 'stale', 'dead_letter')", name="erp_event_status"),
    )
    op.create_index("erp_events_by_status", "erp_events", ["status", sa.text("received_at DESC")])


def downgrade() -> None:
    op.drop_index("erp_events_by_status", table_name="erp_events")
    op.drop_table("erp_events")

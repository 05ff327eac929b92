"""The ERP's sales-order events: recorded once per event id; the order's ERP status and its time.

``erp_events`` keeps every ``SalesOrderStatusChanged`` the gateway handed
over (``applied``, ``stale`` or ``dead_letter`` for an order PakLog does not
know), with the event as received. ``forwarded_at``: when the gateway passed
an applied event on to the order's workflow (a repeat after a crash in
between is signalled again). ``orders.erp_status`` / ``erp_status_at`` are the
newest status the ERP reported and its time (newest wins).

Revision ID: 0005
Revises: 0004 (``orders.erp_document_number``, the order export)
Create Date: 2027-01-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("erp_status", sa.String(24), nullable=True))
    op.add_column("orders", sa.Column("erp_status_at", sa.DateTime(timezone=True), nullable=True))
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
        sa.Column("forwarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('applied', 'stale', 'dead_letter')", name="erp_event_status"),
    )
    op.create_index("erp_events_by_status", "erp_events", ["status", sa.text("received_at DESC")])


def downgrade() -> None:
    op.drop_index("erp_events_by_status", table_name="erp_events")
    op.drop_table("erp_events")
    op.drop_column("orders", "erp_status_at")
    op.drop_column("orders", "erp_status")

"""Tracking: the carrier's statuses on shipments, their last event and position, the event trail, subscriptions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-14
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRACKING = "'IN_TRANSIT','OUT_FOR_DELIVERY','DELIVERED','EXCEPTION'"
# Both or neither, within range; NaN is refused too (it sorts above every number).
_POSITION = (
    "(position_lat IS NULL) = (position_lon IS NULL)"
    " AND position_lat BETWEEN -90 AND 90 AND position_lon BETWEEN -180 AND 180"
)


def upgrade() -> None:
    op.drop_constraint("shipment_status", "shipments", type_="check")
    op.create_check_constraint("shipment_status", "shipments", f"status IN ('PENDING','LABELLED','VOIDED',{_TRACKING})")
    # Every status past the label has one (a void may come before it).
    op.drop_constraint("labelled_has_label", "shipments", type_="check")
    op.create_check_constraint(
        "labelled_has_label",
        "shipments",
        "status IN ('PENDING','VOIDED')"
        " OR (tracking_code IS NOT NULL AND carrier IS NOT NULL AND rate_cents IS NOT NULL)",
    )
    op.add_column("shipments", sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("shipments", sa.Column("position_lat", sa.Double(), nullable=True))
    op.add_column("shipments", sa.Column("position_lon", sa.Double(), nullable=True))
    op.create_check_constraint("shipment_position", "shipments", _POSITION)

    op.create_table(
        "tracking_events",
        # Carriers name their events; a repeat of the id is a retry (or, with other content, a mismatch).
        sa.Column("event_id", sa.String(100), primary_key=True),
        sa.Column("shipment_id", sa.String(32), sa.ForeignKey("shipments.shipment_id"), nullable=False),
        sa.Column("tracking_code", sa.String(32), nullable=False),
        sa.Column("carrier", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("position_lat", sa.Double(), nullable=True),
        sa.Column("position_lon", sa.Double(), nullable=True),
        sa.Column("location", sa.String(200), nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("status_changed", sa.Boolean(), nullable=False),
        sa.Column("forwarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.CheckConstraint(f"status IN ({_TRACKING})", name="tracking_event_status"),
        sa.CheckConstraint(_POSITION, name="tracking_event_position"),
        sa.CheckConstraint("applied OR NOT status_changed", name="stale_changes_nothing"),
    )
    # GET /tracking/{code} reads a shipment's trail oldest first.
    op.create_index(
        "ix_tracking_events_trail", "tracking_events", ["shipment_id", "occurred_at", "received_at", "event_id"]
    )

    op.create_table(
        "subscriptions",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("tracking_code", sa.String(32), sa.ForeignKey("shipments.tracking_code"), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        # One subscription per user and shipment: a second subscribe updates it.
        sa.PrimaryKeyConstraint("username", "tracking_code", name="subscriptions_pkey"),
        sa.CheckConstraint("char_length(title) >= 1", name="subscription_title"),
    )
    # GET /subscriptions?username= walks a user's newest first; the workflow notifies a code's subscribers.
    op.create_index(
        "ix_subscriptions_username_created",
        "subscriptions",
        ["username", sa.text("created_at DESC"), "tracking_code"],
    )
    op.create_index("ix_subscriptions_tracking_code", "subscriptions", ["tracking_code", "created_at"])


def downgrade() -> None:
    # The trail and the subscriptions go; a shipment the carrier moved is LABELLED again.
    op.drop_index("ix_subscriptions_tracking_code", table_name="subscriptions")
    op.drop_index("ix_subscriptions_username_created", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_index("ix_tracking_events_trail", table_name="tracking_events")
    op.drop_table("tracking_events")
    op.drop_constraint("shipment_position", "shipments", type_="check")
    op.drop_column("shipments", "position_lon")
    op.drop_column("shipments", "position_lat")
    op.drop_column("shipments", "last_event_at")
    op.execute(f"UPDATE shipments SET status = 'LABELLED' WHERE status IN ({_TRACKING})")
    op.drop_constraint("labelled_has_label", "shipments", type_="check")
    op.create_check_constraint(
        "labelled_has_label",
        "shipments",
        "status <> 'LABELLED' OR (tracking_code IS NOT NULL AND carrier IS NOT NULL AND rate_cents IS NOT NULL)",
    )
    op.drop_constraint("shipment_status", "shipments", type_="check")
    op.create_check_constraint("shipment_status", "shipments", "status IN ('PENDING','LABELLED','VOIDED')")

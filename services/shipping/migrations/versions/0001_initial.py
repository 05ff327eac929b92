"""Cartons, shipments (one per order), void tombstones and idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cartons",
        sa.Column("code", sa.String(8), primary_key=True),
        sa.Column("volume_cm3", sa.Integer, nullable=False),
        sa.Column("max_weight_grams", sa.Integer, nullable=False),
        sa.CheckConstraint("volume_cm3 > 0 AND max_weight_grams > 0", name="carton_positive"),
    )
    op.create_table(
        "shipments",
        sa.Column("shipment_id", sa.String(32), primary_key=True),
        # One shipment per order: the label is bought once, whoever asks how often.
        sa.Column("order_id", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("carton", sa.String(8), nullable=False),
        sa.Column("weight_grams", sa.Integer, nullable=False),
        sa.Column("volume_cm3", sa.Integer, nullable=False),
        sa.Column("service_level", sa.String(16), nullable=False),
        sa.Column("destination", JSONB, nullable=False),
        sa.Column("tracking_code", sa.String(32), nullable=True, unique=True),
        sa.Column("carrier", sa.String(16), nullable=True),
        sa.Column("rate_cents", sa.BigInteger, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("label", JSONB, nullable=True),
        sa.Column("attempt_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("carrier_voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('PENDING','LABELLED','VOIDED')", name="shipment_status"),
        sa.CheckConstraint("service_level IN ('STANDARD','EXPRESS')", name="shipment_service_level"),
        sa.CheckConstraint(
            "status <> 'LABELLED' OR (tracking_code IS NOT NULL AND carrier IS NOT NULL AND rate_cents IS NOT NULL)",
            name="labelled_has_label",
        ),
    )
    # GET /shipments walks (created_at DESC, shipment_id).
    op.create_index("ix_shipments_created", "shipments", [sa.text("created_at DESC"), "shipment_id"])
    op.create_table(
        "voided_shipments",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
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
    op.drop_table("voided_shipments")
    op.drop_index("ix_shipments_created", table_name="shipments")
    op.drop_table("shipments")
    op.drop_table("cartons")

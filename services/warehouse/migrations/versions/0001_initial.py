"""Locations, bin stock, the wave backlog, waves, pick tasks and idempotency keys.

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


def _at(name: str, *, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "locations",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("zone", sa.String(1), nullable=False),
        sa.Column("aisle", sa.Integer, nullable=False),
        sa.Column("rack", sa.Integer, nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("pick_seq", sa.Integer, nullable=False, unique=True),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("locked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("lock_reason", sa.String(200), nullable=True),
        _at("updated_at"),
        sa.CheckConstraint("code ~ '^[A-Z]-[0-9]{2}-[0-9]{2}-[0-9]$'", name="location_code_shape"),
        sa.CheckConstraint("type IN ('PICK', 'RESERVE')", name="location_type"),
        sa.CheckConstraint("pick_seq >= 0", name="pick_seq_not_negative"),
    )
    op.create_index("ix_locations_zone", "locations", ["zone"])
    op.create_table(
        "bin_stock",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("location", sa.String(16), sa.ForeignKey("locations.code"), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("lot", sa.String(64), nullable=True),
        sa.Column("expiry_date", sa.Date, nullable=True),
        _at("received_at"),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("allocated", sa.Integer, nullable=False, server_default="0"),
        sa.CheckConstraint("quantity >= 0", name="bin_quantity_not_negative"),
        sa.CheckConstraint("allocated >= 0", name="bin_allocated_not_negative"),
        sa.CheckConstraint("allocated <= quantity", name="bin_allocated_within_quantity"),
    )
    # One row per location, SKU and lot (no lot counts as one lot).
    op.create_index(
        "uq_bin_stock_location_sku_lot",
        "bin_stock",
        ["location", "sku", sa.text("coalesce(lot, '')")],
        unique=True,
    )
    op.create_index("ix_bin_stock_sku", "bin_stock", ["sku"])
    op.create_table(
        "backlog",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("service_level", sa.String(16), nullable=True),
        sa.Column("priority", sa.SmallInteger, nullable=False, server_default="0"),
        _at("placed_at", nullable=True),
        _at("cutoff_at", nullable=True),
        sa.Column("lines", JSONB, nullable=False),
        sa.Column("line_count", sa.Integer, nullable=False),
        sa.Column("wave_id", sa.String(64), nullable=True),
        _at("issued_at", nullable=True),
        _at("picks_returned_at", nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.CheckConstraint("status IN ('WAITING', 'PLANNED', 'RELEASED', 'WITHDRAWN')", name="backlog_status"),
        sa.CheckConstraint("service_level IN ('STANDARD', 'EXPRESS')", name="backlog_service_level"),
        sa.CheckConstraint("priority BETWEEN 0 AND 9", name="backlog_priority"),
        # Only a tombstone (withdrawn before it came) lacks the order's facts.
        sa.CheckConstraint(
            "status = 'WITHDRAWN' OR (placed_at IS NOT NULL AND cutoff_at IS NOT NULL AND service_level IS NOT NULL)",
            name="backlog_facts",
        ),
    )
    # The planner's scan: waiting orders in planning order.
    op.create_index(
        "ix_backlog_waiting",
        "backlog",
        ["cutoff_at", sa.text("priority DESC"), "placed_at", "order_id"],
        postgresql_where=sa.text("status = 'WAITING'"),
    )
    op.create_table(
        "waves",
        sa.Column("wave_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("max_orders", sa.Integer, nullable=False),
        sa.Column("max_lines", sa.Integer, nullable=False),
        sa.Column("shortages", JSONB, nullable=True),
        _at("allocated_at", nullable=True),
        _at("created_at"),
        _at("released_at", nullable=True),
        _at("done_at", nullable=True),
        _at("updated_at"),
        sa.CheckConstraint("status IN ('PLANNED', 'RELEASED', 'PICKING', 'DONE', 'CANCELLED')", name="wave_status"),
        sa.CheckConstraint("max_orders >= 1 AND max_lines >= 1", name="wave_limits"),
    )
    op.create_index("ix_waves_created_at", "waves", ["created_at"])
    op.create_table(
        "wave_orders",
        sa.Column("wave_id", sa.String(64), sa.ForeignKey("waves.wave_id"), primary_key=True),
        sa.Column("order_id", sa.String(64), sa.ForeignKey("backlog.order_id"), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_table(
        "pick_tasks",
        sa.Column("task_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column("wave_id", sa.String(64), sa.ForeignKey("waves.wave_id"), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("bin_id", sa.BigInteger, sa.ForeignKey("bin_stock.id"), nullable=False),
        sa.Column("location", sa.String(16), nullable=False),
        sa.Column("lot", sa.String(64), nullable=True),
        sa.Column("expiry_date", sa.Date, nullable=True),
        sa.Column("pick_seq", sa.Integer, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("picked_quantity", sa.Integer, nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assigned_to", sa.String(64), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.CheckConstraint("status IN ('OPEN', 'ASSIGNED', 'PICKED', 'SHORT', 'CANCELLED')", name="task_status"),
        sa.CheckConstraint("quantity > 0", name="task_quantity_positive"),
        sa.CheckConstraint("picked_quantity BETWEEN 0 AND quantity", name="task_picked_within_quantity"),
    )
    op.create_index("ix_pick_tasks_wave", "pick_tasks", ["wave_id"])
    op.create_index("ix_pick_tasks_order", "pick_tasks", ["order_id"])
    op.create_index(
        "ix_pick_tasks_open", "pick_tasks", ["pick_seq", "seq"], postgresql_where=sa.text("status = 'OPEN'")
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
    op.drop_table("pick_tasks")
    op.drop_table("wave_orders")
    op.drop_table("waves")
    op.drop_table("backlog")
    op.drop_table("bin_stock")
    op.drop_table("locations")

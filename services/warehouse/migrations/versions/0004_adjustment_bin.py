"""The stock-adjustment bin ``X-00-00-0`` and the ERP's stock adjustments applied to it (docs/erp.md, part D).

A count from the ERP says how many, never where, so its difference goes to
one bin standing for "somewhere in the building": location ``X-00-00-0``, type
``ADJUST``, locked for good and never allocated from. Its bin rows may go below
zero (units written off that a count has yet to find) and never hold an
allocation; every other bin keeps ``0 ≤ allocated ≤ quantity`` as before.
``applied_adjustments`` remembers each of inventory's adjustment ids once
applied, so a repeat (or a second carrier at once) adds nothing.

The downgrade drops the bin's rows with the location: the units they counted
leave the warehouse's totals (``paklog check stock`` shows the difference).

Revision ID: 0004
Revises: 0003
Create Date: 2027-01-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out, not imported: a migration keeps the values it was written with.
BIN = "X-00-00-0"


def upgrade() -> None:
    op.drop_constraint("location_type", "locations", type_="check")
    op.create_check_constraint("location_type", "locations", "type IN ('PICK', 'RESERVE', 'ADJUST')")
    # pick_seq 0: the floor plan numbers its bins from 10 on, so the path's first place is free.
    op.execute(
        "INSERT INTO locations (code, zone, aisle, rack, level, pick_seq, type, locked, lock_reason, updated_at)"
        f" VALUES ('{BIN}', 'X', 0, 0, 0, 0, 'ADJUST', true, 'stock-adjustment bin', now())"
    )
    op.drop_constraint("bin_quantity_not_negative", "bin_stock", type_="check")
    op.drop_constraint("bin_allocated_within_quantity", "bin_stock", type_="check")
    op.create_check_constraint("bin_quantity_not_negative", "bin_stock", f"quantity >= 0 OR location = '{BIN}'")
    op.create_check_constraint(
        "bin_allocated_within_quantity",
        "bin_stock",
        f"(location <> '{BIN}' AND allocated <= quantity) OR (location = '{BIN}' AND allocated = 0)",
    )
    op.create_table(
        "applied_adjustments",
        # Inventory's id, not one of ours: it is what makes a repeat recognisable.
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("delta", sa.Integer, nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("delta <> 0", name="stock_adjustment_delta_not_zero"),
    )


def downgrade() -> None:
    op.drop_table("applied_adjustments")
    op.execute(f"DELETE FROM bin_stock WHERE location = '{BIN}'")
    op.execute(f"DELETE FROM locations WHERE code = '{BIN}'")
    op.drop_constraint("bin_quantity_not_negative", "bin_stock", type_="check")
    op.drop_constraint("bin_allocated_within_quantity", "bin_stock", type_="check")
    op.create_check_constraint("bin_quantity_not_negative", "bin_stock", "quantity >= 0")
    op.create_check_constraint("bin_allocated_within_quantity", "bin_stock", "allocated <= quantity")
    op.drop_constraint("location_type", "locations", type_="check")
    op.create_check_constraint("location_type", "locations", "type IN ('PICK', 'RESERVE')")

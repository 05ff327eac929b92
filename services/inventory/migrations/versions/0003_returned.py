"""Returned reservations: units that came back after goods issue (a failed delivery).

``RETURNED`` joins the reservation statuses; each line counts its units that
came back (``0 ≤ returned ≤ quantity``: never more than was issued).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("reservation_status", "reservations", type_="check")
    op.create_check_constraint(
        "reservation_status", "reservations", "status IN ('ACTIVE', 'COMMITTED', 'RELEASED', 'RETURNED')"
    )
    op.add_column("reservation_lines", sa.Column("returned", sa.Integer, nullable=False, server_default="0"))
    op.create_check_constraint("line_returned_within_quantity", "reservation_lines", "returned BETWEEN 0 AND quantity")


def downgrade() -> None:
    op.drop_constraint("line_returned_within_quantity", "reservation_lines", type_="check")
    op.drop_column("reservation_lines", "returned")
    # A RETURNED reservation was committed before: that is what the older schema can say.
    op.execute("UPDATE reservations SET status = 'COMMITTED' WHERE status = 'RETURNED'")
    op.drop_constraint("reservation_status", "reservations", type_="check")
    op.create_check_constraint("reservation_status", "reservations", "status IN ('ACTIVE', 'COMMITTED', 'RELEASED')")

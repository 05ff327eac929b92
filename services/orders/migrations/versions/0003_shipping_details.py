"""What shipped: the tracking code, the carrier and the shipped quantities per SKU (null until shipped).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("tracking_code", sa.String(64), nullable=True))
    op.add_column("orders", sa.Column("carrier", sa.String(32), nullable=True))
    op.add_column("orders", sa.Column("shipped_lines", JSONB, nullable=True))


def downgrade() -> None:
    op.drop_column("orders", "shipped_lines")
    op.drop_column("orders", "carrier")
    op.drop_column("orders", "tracking_code")

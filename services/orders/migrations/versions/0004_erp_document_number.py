"""The order's sales order in the ERP (its document number), null until the order is exported.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("erp_document_number", sa.String(10), nullable=True))


def downgrade() -> None:
    op.drop_column("orders", "erp_document_number")

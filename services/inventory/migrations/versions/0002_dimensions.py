"""Product dimensions (weight, volume) for carton choice.

Existing rows get 0 (unknown); the demo seed fills the catalogue's values.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("products", sa.Column("weight_grams", sa.Integer, nullable=False, server_default="0"))
    op.add_column("products", sa.Column("volume_cm3", sa.Integer, nullable=False, server_default="0"))
    op.create_check_constraint("weight_not_negative", "products", "weight_grams >= 0")
    op.create_check_constraint("volume_not_negative", "products", "volume_cm3 >= 0")


def downgrade() -> None:
    op.drop_constraint("volume_not_negative", "products", type_="check")
    op.drop_constraint("weight_not_negative", "products", type_="check")
    op.drop_column("products", "volume_cm3")
    op.drop_column("products", "weight_grams")

"""Credit holds: a backlog order the ERP holds is ``HELD``, out of every wave plan, until it waits again.

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-12
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("backlog_status", "backlog", type_="check")
    op.create_check_constraint(
        "backlog_status", "backlog", "status IN ('WAITING', 'PLANNED', 'RELEASED', 'WITHDRAWN', 'HELD')"
    )


def downgrade() -> None:
    # A held order goes back to waiting: the older schema knows no hold.
    op.execute("UPDATE backlog SET status = 'WAITING' WHERE status = 'HELD'")
    op.drop_constraint("backlog_status", "backlog", type_="check")
    op.create_check_constraint("backlog_status", "backlog", "status IN ('WAITING', 'PLANNED', 'RELEASED', 'WITHDRAWN')")

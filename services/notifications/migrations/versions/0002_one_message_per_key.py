"""One message per Idempotency-Key, and PENDING while the mail server is asked.

Delivery happens outside the transaction that holds the key: the message is
recorded ``PENDING`` under the request's key, sent, then marked ``SENT`` or
``FAILED``. A failed delivery is retried under the same key and row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("idempotency_key", sa.String(200), nullable=True))
    op.create_unique_constraint("uq_messages_idempotency_key", "messages", ["idempotency_key"])
    op.drop_constraint("message_status", "messages", type_="check")
    op.create_check_constraint("message_status", "messages", "status IN ('PENDING', 'SENT', 'FAILED')")


def downgrade() -> None:
    op.execute("UPDATE messages SET status = 'FAILED', error = 'delivery unknown' WHERE status = 'PENDING'")
    op.drop_constraint("message_status", "messages", type_="check")
    op.create_check_constraint("message_status", "messages", "status IN ('SENT', 'FAILED')")
    op.drop_constraint("uq_messages_idempotency_key", "messages", type_="unique")
    op.drop_column("messages", "idempotency_key")

"""The central exception log: unexpected exceptions of every process (docs/errors-and-tracing.md).

Not part of the hash chain. The runtime role may insert and read, nothing else.

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

#: services.audit.settings.WRITER_ROLE (a migration never imports application code that may change).
WRITER_ROLE = "paklog_audit_writer"


def upgrade() -> None:
    op.create_table(
        "exceptions",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("logger", sa.String(255), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("message", sa.String(2000), nullable=False),
        sa.Column("stack", sa.String(8000), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("workflow_id", sa.String(200), nullable=True),
        sa.Column("activity", sa.String(200), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.CheckConstraint("count >= 1", name="exceptions_count_positive"),
    )
    op.create_index("ix_exceptions_at", "exceptions", ["at"])
    op.create_index("ix_exceptions_request_id", "exceptions", ["request_id"])
    op.create_index("ix_exceptions_service_id", "exceptions", ["service", "id"])
    op.execute("REVOKE ALL ON exceptions FROM PUBLIC")
    # Plain insert and read: no UPDATE or DELETE (no retention job deletes rows yet).
    op.execute(f"GRANT SELECT, INSERT ON exceptions TO {WRITER_ROLE}")
    op.execute(f"GRANT USAGE ON SEQUENCE exceptions_id_seq TO {WRITER_ROLE}")


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON exceptions FROM {WRITER_ROLE}")
    op.drop_table("exceptions")

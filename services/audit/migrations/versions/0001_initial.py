"""The hash-chained audit trail, insert-only for the runtime role.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: services.audit.settings.WRITER_ROLE (a migration never imports application code that may change).
WRITER_ROLE = "paklog_audit_writer"


def upgrade() -> None:
    op.create_table(
        "audit_records",
        # Assigned by the service under the chain lock: 1, 2, 3 ... without gaps (no sequence, which
        # would leave gaps on rollback and could not tell a deletion from a burnt number).
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("record_id", sa.String(64), nullable=False, unique=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(254), nullable=True),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("role", sa.String(32), nullable=True),
        sa.Column("client", sa.String(64), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("path", sa.String(2048), nullable=False),
        sa.Column("route", sa.String(512), nullable=True),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("workflow_id", sa.String(200), nullable=True),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("request_digest", sa.String(64), nullable=True),
        sa.Column("response_digest", sa.String(64), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("seq >= 1", name="audit_seq_positive"),
    )
    op.create_index("ix_audit_records_actor_seq", "audit_records", ["actor", "seq"])
    op.create_index("ix_audit_records_order_id_seq", "audit_records", ["order_id", "seq"])
    op.create_index("ix_audit_records_at", "audit_records", ["at"])
    # The runtime role: created here without a login (roles are cluster-wide, so it may exist already);
    # services.audit.roles.provision_writer gives it LOGIN and its password after migrating.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{WRITER_ROLE}') THEN
                CREATE ROLE {WRITER_ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
            END IF;
        END
        $$
        """
    )
    op.execute("REVOKE ALL ON audit_records FROM PUBLIC")
    # Insert-only: no UPDATE, DELETE, TRUNCATE or REFERENCES, and nothing on alembic_version.
    op.execute(f"GRANT SELECT, INSERT ON audit_records TO {WRITER_ROLE}")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {WRITER_ROLE}")
    # PostgreSQL < 15 lets every role create tables in public; nobody but the owner may here.
    op.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON audit_records FROM {WRITER_ROLE}")
    op.drop_index("ix_audit_records_at", table_name="audit_records")
    op.drop_index("ix_audit_records_order_id_seq", table_name="audit_records")
    op.drop_index("ix_audit_records_actor_seq", table_name="audit_records")
    op.drop_table("audit_records")

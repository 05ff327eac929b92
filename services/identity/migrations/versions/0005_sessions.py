"""Login sessions, refresh tokens, password resets; disabled accounts; one account per e-mail address.

A *session* is one login: every access token issued in it names it (``sid``)
and the gateway asks whether it is still open on each request, so revoking it
(logout, a reused refresh token, a disabled account, a new password) ends its
tokens at once. ``refresh_tokens`` are the session's refresh tokens, newest
last: only their SHA-256 is stored (they are 256-bit random, so a plain hash
cannot be guessed back); ``used_at`` marks one that was exchanged, so showing
it again is a reuse. ``password_resets`` hold single-use reset tokens the same
way. E-mail addresses are unique ignoring case (registration and resets look
users up by address); a deployment whose users share an address must settle
that before this migration.

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("users_email_lower_key", "users", [sa.text("lower(email)")], unique=True)
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(32), nullable=True),
    )
    # Revoking every open session of a user (disable, new password, role change) finds them here.
    op.create_index("sessions_open_by_user", "sessions", ["user_id"], postgresql_where=sa.text("revoked_at IS NULL"))
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("refresh_tokens_by_session", "refresh_tokens", ["session_id"])
    op.create_table(
        "password_resets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("password_resets_by_user", "password_resets", ["user_id"])


def downgrade() -> None:
    op.drop_index("password_resets_by_user", table_name="password_resets")
    op.drop_table("password_resets")
    op.drop_index("refresh_tokens_by_session", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("sessions_open_by_user", table_name="sessions")
    op.drop_table("sessions")
    op.drop_index("users_email_lower_key", table_name="users")
    op.drop_column("users", "disabled")

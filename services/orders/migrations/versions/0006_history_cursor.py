"""The history's commit-ordered cursor and its wake-up: ``order_status_history.xid`` and a NOTIFY trigger.

``xid`` is the writing transaction's id (``pg_current_xact_id()``, ``xid8``),
filled by the column's default, so the hand-tuned inserts of the hot path
(services/orders/repository.py) stay as they are. A reader hands out only
rows whose ``xid`` is below its snapshot's ``xmin`` (every transaction that
could still commit one is younger), in ``(xid, id)`` order: a transaction
that commits late can never land behind a cursor already given out
(docs/live-updates.md, "Operator stream").

Large tables: the column is added nullable without a default (no rewrite, a
brief ``ACCESS EXCLUSIVE`` lock), then the default is set (new rows only).
Rows written before this migration keep ``xid`` NULL and read as xid 0, so
they come first, in id order; they all committed before any new row. The
index is built ``CONCURRENTLY`` (outside the migration's transaction), so
writers go on while it builds.

``order_history_notify`` sends one ``NOTIFY order_history`` per inserting
transaction (PostgreSQL folds a transaction's identical notifications into
one, delivered at commit): it wakes the long-poll ``GET /history``. No extra
round trip: the trigger runs inside the insert.

Revision ID: 0006
Revises: 0005 (the ERP's sales-order events)
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The cursor's order: the writing transaction, then the row. Old rows (NULL) first.
INDEX = "order_status_history_by_xid"


def upgrade() -> None:
    # Raw DDL: SQLAlchemy has no xid8 type. Nullable, no default yet: no rewrite of existing rows.
    op.execute("ALTER TABLE order_status_history ADD COLUMN xid xid8")
    op.execute("ALTER TABLE order_status_history ALTER COLUMN xid SET DEFAULT pg_current_xact_id()")
    op.execute(
        """
        CREATE FUNCTION order_history_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('order_history', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER order_history_notify AFTER INSERT ON order_status_history"
        " FOR EACH ROW EXECUTE FUNCTION order_history_notify()"
    )
    with op.get_context().autocommit_block():
        op.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON order_status_history ((coalesce(xid, '0'::xid8)), id)"
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
    op.execute("DROP TRIGGER order_history_notify ON order_status_history")
    op.execute("DROP FUNCTION order_history_notify()")
    op.drop_column("order_status_history", "xid")

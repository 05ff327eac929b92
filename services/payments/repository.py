"""Every payments query. Repositories never commit.

The saga's calls (authorize; capture and void beside it) run plain SQL
straight through asyncpg on the session's connection (:mod:`common.sql`): the
order's advisory lock, then one statement for the rest of each transaction's
work, answering the payment row with its ledger (``op_*`` arrays), so no ORM
object is loaded or flushed (docs/performance.md). The lock is a statement of
its own on purpose: PostgreSQL takes a statement's snapshot when the
statement starts, so reads in the statement that waited for the lock would
miss what the lock's previous holder committed (a void's tombstone). Reads
for people (get, list) and refunds use the ORM models.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from asyncpg import Record
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.sql import Sql, driver_connection
from services.payments.models import LIVE_STATUSES, OPEN_STATUSES, Payment, PaymentOperation, PaymentStatus, VoidedOrder

COLUMNS = (
    "payment_id, order_id, status, amount_cents, captured_cents, refunded_cents, currency, card_brand,"
    " decline_reason, created_at, updated_at"
)
_OPEN = ", ".join(f"'{status.value}'" for status in OPEN_STATUSES)
# A payment's ledger in ledger order, as three arrays beside the payment row (asyncpg decodes them natively).
_LEDGER = (
    "(SELECT array_agg(o.operation ORDER BY o.id) AS op_names, array_agg(o.amount_cents ORDER BY o.id) AS op_amounts,"
    " array_agg(o.at ORDER BY o.id) AS op_times FROM {source} o {where})"
)

#: Serialise every money movement of one order until the transaction ends.
LOCK_SQL = Sql("SELECT pg_advisory_xact_lock(hashtextextended(:order_id, 0))")

#: Count one processor attempt for the order; answers the count so far.
ATTEMPT_SQL = Sql(
    "INSERT INTO processor_attempts (order_id, attempts, updated_at) VALUES (:order_id, 1, :at)"
    " ON CONFLICT (order_id) DO UPDATE SET attempts = processor_attempts.attempts + 1, updated_at = :at"
    " RETURNING attempts"
)

#: Authorize's first step, under the order's lock: whether the order was voided, and its open payment
#: with its ledger; a new ``PENDING`` payment is inserted (and answered) when there is neither.
#: Always one row; the payment's columns are null when the order was voided and has no open payment.
START_SQL = Sql(
    f"""
    WITH open AS (
        SELECT {COLUMNS} FROM payments WHERE order_id = :order_id AND status IN ({_OPEN})
    ), tombstone AS (
        SELECT EXISTS (SELECT FROM voided_orders WHERE order_id = :order_id) AS voided
    ), pending AS (
        INSERT INTO payments ({COLUMNS})
        SELECT CAST(:payment_id AS varchar), CAST(:order_id AS varchar), 'PENDING', CAST(:amount_cents AS bigint),
               0, 0, CAST(:currency AS varchar), NULL, NULL, CAST(:at AS timestamptz), CAST(:at AS timestamptz)
        FROM tombstone WHERE NOT tombstone.voided AND NOT EXISTS (SELECT FROM open)
        RETURNING {COLUMNS}
    )
    SELECT tombstone.voided, p.*, ledger.*
    FROM tombstone
    LEFT JOIN (SELECT * FROM open UNION ALL SELECT * FROM pending) p ON true
    LEFT JOIN LATERAL {_LEDGER.format(source="payment_operations", where="WHERE o.payment_id = p.payment_id")} ledger
        ON true
    """
)

#: Authorize's last step, under the order's lock: record the processor's answer on a ``PENDING``
#: payment (``AUTHORIZED`` adds its ``authorize`` ledger row) and answer the payment with its ledger;
#: ``moved`` is false when it was no longer pending (then it is answered as it is). No row: it is gone.
FINISH_SQL = Sql(
    f"""
    WITH moved AS (
        UPDATE payments SET status = :status, card_brand = coalesce(:card_brand, card_brand),
            decline_reason = coalesce(:decline_reason, decline_reason), updated_at = :at
        WHERE payment_id = :payment_id AND status = 'PENDING'
        RETURNING {COLUMNS}
    ), added AS (
        INSERT INTO payment_operations (payment_id, operation, amount_cents, at)
        SELECT payment_id, 'authorize', amount_cents, updated_at FROM moved WHERE status = 'AUTHORIZED'
        RETURNING id, operation, amount_cents, at
    ), ledger AS (
        SELECT id, operation, amount_cents, at FROM payment_operations WHERE payment_id = :payment_id
        UNION ALL
        SELECT id, operation, amount_cents, at FROM added
    )
    SELECT p.*, EXISTS (SELECT FROM moved) AS moved, l.*
    FROM (
        SELECT * FROM moved
        UNION ALL
        SELECT {COLUMNS} FROM payments WHERE payment_id = :payment_id AND NOT EXISTS (SELECT FROM moved)
    ) p, {_LEDGER.format(source="ledger", where="")} l
    """
)


class PaymentsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _row(self, statement: Sql, params: dict[str, Any]) -> Record | None:
        # Straight through asyncpg on the session's connection, in its transaction (common/sql.py).
        return await statement.fetchrow(await driver_connection(self.session), **params)

    async def lock_order(self, order_id: str) -> None:
        """Serialise every money movement of one order until the transaction ends."""
        await LOCK_SQL.execute(await driver_connection(self.session), order_id=order_id)

    async def count_attempt(self, order_id: str) -> int:
        """Count one processor attempt for the order and return the count so far."""
        attempts: int = await ATTEMPT_SQL.fetchval(
            await driver_connection(self.session), order_id=order_id, at=datetime.now(UTC)
        )
        return attempts

    async def start_authorization(
        self, order_id: str, payment_id: str, amount_cents: int, currency: str, at: datetime
    ) -> Record:
        """Whether the order was voided, and its open payment (new and ``PENDING`` when it had none).

        Returns:
            ``voided`` and the payment's columns with its ledger (``op_names``,
            ``op_amounts``, ``op_times``); the columns are null when the order was
            voided and has no open payment. Nothing is inserted for a voided order.
        """
        row = await self._row(
            START_SQL,
            {
                "order_id": order_id,
                "payment_id": payment_id,
                "amount_cents": amount_cents,
                "currency": currency,
                "at": at,
            },
        )
        assert row is not None  # one row by construction
        return row

    async def finish_authorization(
        self, payment_id: str, status: PaymentStatus, card_brand: str, decline_reason: str | None, at: datetime
    ) -> Record | None:
        """Move the ``PENDING`` payment to ``status`` (with its ledger row when authorized).

        Returns:
            The payment with its ledger and ``moved`` (false: it was no longer
            pending and is unchanged); None when the payment is gone.
        """
        return await self._row(
            FINISH_SQL,
            {
                "payment_id": payment_id,
                "status": status.value,
                "card_brand": card_brand,
                "decline_reason": decline_reason,
                "at": at,
            },
        )

    async def live_payment(self, order_id: str) -> Payment | None:
        result = await self.session.exec(
            select(Payment)
            .where(Payment.order_id == order_id, col(Payment.status).in_(LIVE_STATUSES))
            .execution_options(populate_existing=True)
        )
        return result.first()

    async def open_payment(self, order_id: str) -> Payment | None:
        """The order's live payment or its attempt still waiting for the processor."""
        result = await self.session.exec(
            select(Payment)
            .where(Payment.order_id == order_id, col(Payment.status).in_(OPEN_STATUSES))
            .execution_options(populate_existing=True)
        )
        return result.first()

    async def get_for_update(self, payment_id: str) -> Payment | None:
        result = await self.session.exec(
            select(Payment)
            .where(Payment.payment_id == payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return result.first()

    async def delete_pending(self, payment_id: str) -> None:
        await self.session.exec(
            delete(Payment).where(col(Payment.payment_id) == payment_id, col(Payment.status) == PaymentStatus.PENDING)
        )

    async def add_tombstone(self, order_id: str) -> None:
        """Remember that the order's payment was voided (once; repeats are no-ops)."""
        table = VoidedOrder.__table__  # type: ignore[attr-defined]
        await self.session.exec(
            insert(table).values(order_id=order_id, created_at=datetime.now(UTC)).on_conflict_do_nothing()
        )

    async def is_voided(self, order_id: str) -> bool:
        return await self.session.get(VoidedOrder, order_id) is not None

    async def newest_payment(self, order_id: str) -> Payment | None:
        result = await self.session.exec(
            select(Payment)
            .where(Payment.order_id == order_id)
            .order_by(col(Payment.created_at).desc())
            .limit(1)
            .execution_options(populate_existing=True)
        )
        return result.first()

    async def get(self, payment_id: str) -> Payment | None:
        return await self.session.get(Payment, payment_id)

    async def for_order(self, order_id: str | None, *, limit: int, offset: int) -> Sequence[Payment]:
        stmt = select(Payment)
        if order_id is not None:
            stmt = stmt.where(Payment.order_id == order_id)
        result = await self.session.exec(stmt.order_by(col(Payment.created_at)).limit(limit).offset(offset))
        return result.all()

    async def operations(self, payment_ids: Sequence[str]) -> dict[str, list[PaymentOperation]]:
        result = await self.session.exec(
            select(PaymentOperation)
            .where(col(PaymentOperation.payment_id).in_(payment_ids))
            .order_by(col(PaymentOperation.id))
        )
        grouped: dict[str, list[PaymentOperation]] = {pid: [] for pid in payment_ids}
        for op in result.all():
            grouped[op.payment_id].append(op)
        return grouped

    async def save(self, payment: Payment) -> None:
        self.session.add(payment)
        await self.session.flush()

    async def record(self, payment_id: str, operation: str, amount_cents: int) -> None:
        table = PaymentOperation.__table__  # type: ignore[attr-defined]
        await self.session.exec(
            insert(table).values(
                payment_id=payment_id, operation=operation, amount_cents=amount_cents, at=datetime.now(UTC)
            )
        )

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
_LIVE = ", ".join(f"'{status.value}'" for status in LIVE_STATUSES)
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

#: Capture, under the order's lock: an ``AUTHORIZED`` live payment becomes ``CAPTURED`` with
#: ``amount_cents`` (null: all of it) unless that exceeds the authorization, with its ``capture`` and,
#: for a partial capture, ``release`` ledger rows (in that order). Answers the live payment with its
#: ledger, captured now or not (``moved``); no row when the order holds no live payment.
CAPTURE_SQL = Sql(
    f"""
    WITH live AS (
        SELECT {COLUMNS} FROM payments WHERE order_id = :order_id AND status IN ({_LIVE})
    ), captured AS (
        UPDATE payments p SET status = 'CAPTURED', captured_cents = coalesce(:amount_cents, p.amount_cents),
            updated_at = :at
        FROM live
        WHERE p.payment_id = live.payment_id AND p.status = 'AUTHORIZED'
          AND coalesce(:amount_cents, p.amount_cents) <= p.amount_cents
        RETURNING {", ".join(f"p.{column.strip()}" for column in COLUMNS.split(","))}
    ), added AS (
        INSERT INTO payment_operations (payment_id, operation, amount_cents, at)
        SELECT c.payment_id, m.operation, m.amount_cents, c.updated_at
        FROM captured c,
            LATERAL (VALUES (1, 'capture', c.captured_cents), (2, 'release', c.amount_cents - c.captured_cents))
                AS m(n, operation, amount_cents)
        WHERE m.n = 1 OR c.captured_cents < c.amount_cents
        ORDER BY m.n
        RETURNING id, operation, amount_cents, at
    ), ledger AS (
        SELECT o.id, o.operation, o.amount_cents, o.at FROM payment_operations o JOIN live USING (payment_id)
        UNION ALL
        SELECT id, operation, amount_cents, at FROM added
    )
    SELECT p.*, EXISTS (SELECT FROM captured) AS moved, l.*
    FROM (SELECT * FROM captured UNION ALL SELECT * FROM live WHERE NOT EXISTS (SELECT FROM captured)) p,
        {_LEDGER.format(source="ledger", where="")} l
    """
)

#: Void, under the order's lock: leave the order's tombstone (once), and void its open payment (else
#: its newest) when it holds money or waits for the processor (``PENDING``, ``AUTHORIZED``: then
#: ``moved``), with a ``void`` ledger row when it was authorized. Answers that payment with its
#: ledger; no row when the order has none.
VOID_SQL = Sql(
    f"""
    WITH tombstone AS (
        INSERT INTO voided_orders (order_id, created_at) VALUES (:order_id, :at) ON CONFLICT (order_id) DO NOTHING
    ), target AS (
        SELECT {COLUMNS} FROM payments WHERE order_id = :order_id
        ORDER BY status IN ({_OPEN}) DESC, created_at DESC LIMIT 1
    ), voided AS (
        UPDATE payments p SET status = 'VOIDED', updated_at = :at
        FROM target
        WHERE p.payment_id = target.payment_id AND p.status IN ('PENDING', 'AUTHORIZED')
        RETURNING {", ".join(f"p.{column.strip()}" for column in COLUMNS.split(","))}, target.status AS was
    ), added AS (
        INSERT INTO payment_operations (payment_id, operation, amount_cents, at)
        SELECT payment_id, 'void', amount_cents, updated_at FROM voided WHERE was = 'AUTHORIZED'
        RETURNING id, operation, amount_cents, at
    ), ledger AS (
        SELECT o.id, o.operation, o.amount_cents, o.at FROM payment_operations o JOIN target USING (payment_id)
        UNION ALL
        SELECT id, operation, amount_cents, at FROM added
    )
    SELECT p.*, EXISTS (SELECT FROM voided) AS moved, l.*
    FROM (
        SELECT {COLUMNS} FROM voided UNION ALL SELECT * FROM target WHERE NOT EXISTS (SELECT FROM voided)
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

    async def capture(self, order_id: str, amount_cents: int | None, at: datetime) -> Record | None:
        """Capture the authorized live payment (see ``CAPTURE_SQL``).

        Returns:
            The live payment with its ledger and ``moved`` (false: it was not
            captured now: captured before, or ``amount_cents`` exceeds it); None
            when the order holds no live payment.
        """
        return await self._row(CAPTURE_SQL, {"order_id": order_id, "amount_cents": amount_cents, "at": at})

    async def void(self, order_id: str, at: datetime) -> Record | None:
        """Leave the tombstone and void the order's payment when it holds money (see ``VOID_SQL``).

        Returns:
            That payment with its ledger and ``moved`` (true: voided now); None
            when the order has no payment.
        """
        return await self._row(VOID_SQL, {"order_id": order_id, "at": at})

    async def live_payment(self, order_id: str) -> Payment | None:
        result = await self.session.exec(
            select(Payment)
            .where(Payment.order_id == order_id, col(Payment.status).in_(LIVE_STATUSES))
            .execution_options(populate_existing=True)
        )
        return result.first()

    async def delete_pending(self, payment_id: str) -> None:
        await self.session.exec(
            delete(Payment).where(col(Payment.payment_id) == payment_id, col(Payment.status) == PaymentStatus.PENDING)
        )

    async def is_voided(self, order_id: str) -> bool:
        return await self.session.get(VoidedOrder, order_id) is not None

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

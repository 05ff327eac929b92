"""Every payments query. Repositories never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.payments.models import LIVE_STATUSES, OPEN_STATUSES, Payment, PaymentOperation, PaymentStatus, VoidedOrder


class PaymentsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_order(self, order_id: str) -> None:
        """Serialise every money movement of one order until the transaction ends."""
        await self.session.exec(select(func.pg_advisory_xact_lock(func.hashtextextended(order_id, 0))))

    async def count_attempt(self, order_id: str) -> int:
        """Count one processor attempt for the order and return the count so far."""
        result = await self.session.exec(
            text(
                "INSERT INTO processor_attempts (order_id, attempts, updated_at) VALUES (:order_id, 1, :now) "
                "ON CONFLICT (order_id) DO UPDATE SET attempts = processor_attempts.attempts + 1, updated_at = :now "
                "RETURNING attempts"
            ).bindparams(order_id=order_id, now=datetime.now(UTC))  # type: ignore[call-overload]
        )
        attempts: int = result.scalar_one()
        return attempts

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

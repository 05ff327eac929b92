"""Every notifications query. Repositories never commit; the caller's unit of work does.

Sending (every saga step's notice) runs plain SQL straight through asyncpg on
the session's connection (:mod:`common.sql`): one statement records the
message, one records its outcome, each answering the message row, so no ORM
object is loaded or flushed (docs/performance.md). Reads for people (get,
list) use the ORM models.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from asyncpg import Record
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.sql import Sql, driver_connection
from services.notifications.models import Message, MessageStatus

COLUMNS = "id, channel, recipient, template, order_id, subject, body, status, error, created_at"

#: Record a new message, or answer the one its idempotency key already has (a retry resends that one).
#: The no-op update on a conflict is what makes PostgreSQL answer the existing row in this very
#: statement (DO NOTHING would answer nothing). A message without a key never conflicts.
RECORD_SQL = Sql(
    f"""
    INSERT INTO messages (id, idempotency_key, channel, recipient, template, order_id, subject, body, status,
                          error, created_at)
    VALUES (:id, :idempotency_key, :channel, :recipient, :template, :order_id, :subject, :body, :status,
            NULL, :created_at)
    ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = excluded.idempotency_key
    RETURNING {COLUMNS}
    """
)

#: Record how the delivery went; answers the message.
OUTCOME_SQL = Sql(f"UPDATE messages SET status = :status, error = :error WHERE id = :id RETURNING {COLUMNS}")


class NotificationsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self,
        *,
        message_id: str,
        key: str | None,
        channel: str,
        recipient: str,
        template: str,
        order_id: str | None,
        subject: str,
        body: str,
        created_at: datetime,
    ) -> Record:
        """Record the message ``PENDING``, unless ``key`` already has one: answer the key's message then."""
        row = await RECORD_SQL.fetchrow(
            await driver_connection(self.session),
            id=message_id,
            idempotency_key=key,
            channel=channel,
            recipient=recipient,
            template=template,
            order_id=order_id,
            subject=subject,
            body=body,
            status=MessageStatus.PENDING.value,
            created_at=created_at,
        )
        assert row is not None  # an insert or the conflicting row, always
        return row

    async def set_status(self, message_id: str, status: MessageStatus, error: str | None) -> Record | None:
        """Record the delivery's outcome; the message after it (None when it is gone)."""
        return await OUTCOME_SQL.fetchrow(
            await driver_connection(self.session), id=message_id, status=status.value, error=error
        )

    async def get(self, message_id: str) -> Message | None:
        result = await self.session.exec(select(Message).where(Message.id == message_id))
        return result.first()

    async def list_messages(self, *, recipient: str | None, order_id: str | None, limit: int) -> Sequence[Message]:
        stmt = select(Message)
        if recipient is not None:
            stmt = stmt.where(Message.recipient == recipient)
        if order_id is not None:
            stmt = stmt.where(Message.order_id == order_id)
        stmt = stmt.order_by(col(Message.created_at).desc(), col(Message.id).desc()).limit(limit)
        result = await self.session.exec(stmt)
        return result.all()

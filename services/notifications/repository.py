"""Every notifications query. Repositories never commit; the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.models import Message, MessageStatus


class NotificationsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, message: Message) -> None:
        self.session.add(message)
        await self.session.flush()

    async def add_for_key(self, message: Message) -> Message:
        """Insert ``message`` unless its ``idempotency_key`` already has one; answer the key's message."""
        table = Message.__table__  # type: ignore[attr-defined]
        await self.session.exec(
            insert(table).values(**message.model_dump()).on_conflict_do_nothing(index_elements=["idempotency_key"])
        )
        result = await self.session.exec(
            select(Message)
            .where(Message.idempotency_key == message.idempotency_key)
            .execution_options(populate_existing=True)
        )
        return result.one()

    async def set_outcome(self, message: Message, status: MessageStatus, error: str | None) -> None:
        message.status, message.error = status, error
        await self.add(message)

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

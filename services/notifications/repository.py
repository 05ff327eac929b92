"""Every notifications query. Repositories never commit; the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.models import Message


class NotificationsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, message: Message) -> None:
        self.session.add(message)
        await self.session.flush()

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

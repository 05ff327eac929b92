"""Every identity query. Repositories never commit; the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.models import User


class IdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: str) -> User | None:
        result = await self.session.exec(select(User).where(User.id == user_id))
        return result.first()

    async def get_by_username(self, username: str) -> User | None:
        result = await self.session.exec(select(User).where(User.username == username))
        return result.first()

    async def list_users(self, *, limit: int, offset: int) -> Sequence[User]:
        result = await self.session.exec(select(User).order_by(col(User.username)).limit(limit).offset(offset))
        return result.all()

    async def existing_usernames(self, usernames: Sequence[str]) -> set[str]:
        result = await self.session.exec(select(User.username).where(col(User.username).in_(usernames)))
        return set(result.all())

    async def insert(self, user: User) -> bool:
        """Insert ``user``; False when the username is taken (the unique constraint decides)."""
        table = User.__table__  # type: ignore[attr-defined]
        result = await self.session.exec(
            insert(table)
            .values(**user.model_dump())
            .on_conflict_do_nothing(index_elements=["username"])
            .returning(table.c.id)
        )
        return result.first() is not None

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self.session.exec(update(User).where(col(User.id) == user_id).values(password_hash=password_hash))

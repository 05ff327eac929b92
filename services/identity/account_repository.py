"""Queries of sessions, refresh tokens, password resets, account administration and partner clients.

Every state change that two requests could race on is one conditional
``UPDATE ... RETURNING``: a refresh token is exchanged by the request whose
``used_at IS NULL`` update found it, a reset token likewise. Never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select, update

from services.identity.account_models import PasswordReset, RefreshToken, Session
from services.identity.models import Client, User
from services.identity.repository import IdentityRepository


class AccountRepository(IdentityRepository):
    # -- users ------------------------------------------------------------------------------
    async def get_by_email(self, email: str) -> User | None:
        """The user with this address, ignoring case (the unique index is on ``lower(email)``)."""
        result = await self.session.exec(select(User).where(func.lower(col(User.email)) == func.lower(email)))
        return result.first()

    async def list_page(self, *, limit: int, offset: int, after: str | None = None) -> tuple[Sequence[User], int]:
        """Users by username, strictly after ``after`` when given, and how many users there are in all."""
        stmt = select(User)
        if after is not None:
            stmt = stmt.where(col(User.username) > after)
        rows = await self.session.exec(stmt.order_by(col(User.username)).limit(limit).offset(offset))
        total = await self.session.exec(select(func.count()).select_from(User))
        return rows.all(), total.one()

    async def update_user(self, user_id: str, **values: object) -> User | None:
        """Set ``values`` on the user; the updated row, or None when there is no such user."""
        await self.session.exec(update(User).where(col(User.id) == user_id).values(**values))
        result = await self.session.exec(
            select(User).where(col(User.id) == user_id).execution_options(populate_existing=True)
        )
        return result.first()

    # -- sessions -----------------------------------------------------------------------------
    async def add_session(self, session: Session) -> None:
        self.session.add(session)
        await self.session.flush()

    async def session_state(self, session_id: str) -> tuple[str, bool] | None:
        """``(user_id, active)``: open and its user enabled. One primary-key lookup joined by primary key."""
        result = await self.session.exec(
            select(Session.user_id, col(Session.revoked_at).is_(None) & ~col(User.disabled))
            .join(User, col(User.id) == col(Session.user_id))
            .where(col(Session.id) == session_id)
        )
        row = result.first()
        return (row[0], bool(row[1])) if row is not None else None

    async def revoke_session(self, session_id: str, *, at: datetime, reason: str) -> bool:
        """Revoke one open session; False when it was revoked already (or never existed)."""
        result = await self.session.exec(
            update(Session)
            .where(col(Session.id) == session_id, col(Session.revoked_at).is_(None))
            .values(revoked_at=at, revoked_reason=reason)
            .returning(col(Session.id))
        )
        return result.first() is not None

    async def revoke_user_sessions(self, user_id: str, *, at: datetime, reason: str) -> int:
        """Revoke every open session of the user; how many."""
        result = await self.session.exec(
            update(Session)
            .where(col(Session.user_id) == user_id, col(Session.revoked_at).is_(None))
            .values(revoked_at=at, revoked_reason=reason)
            .returning(col(Session.id))
        )
        return len(result.all())

    # -- refresh tokens -------------------------------------------------------------------
    async def add_refresh_token(self, token: RefreshToken) -> None:
        self.session.add(token)
        await self.session.flush()

    async def use_refresh_token(self, token_hash: str, *, at: datetime) -> str | None:
        """Mark an unused, unexpired refresh token used; its session id, or None when no such token was open."""
        result = await self.session.exec(
            update(RefreshToken)
            .where(
                col(RefreshToken.token_hash) == token_hash,
                col(RefreshToken.used_at).is_(None),
                col(RefreshToken.expires_at) > at,
            )
            .values(used_at=at)
            .returning(col(RefreshToken.session_id))
        )
        found = result.first()
        return str(found[0]) if found is not None else None

    async def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        result = await self.session.exec(select(RefreshToken).where(col(RefreshToken.token_hash) == token_hash))
        return result.first()

    async def get_session(self, session_id: str) -> Session | None:
        result = await self.session.exec(select(Session).where(col(Session.id) == session_id))
        return result.first()

    # -- password resets --------------------------------------------------------------------
    async def add_reset(self, reset: PasswordReset) -> None:
        self.session.add(reset)
        await self.session.flush()

    async def use_reset(self, token_hash: str, *, at: datetime) -> str | None:
        """Mark an unused, unexpired reset token used; its user id, or None."""
        result = await self.session.exec(
            update(PasswordReset)
            .where(
                col(PasswordReset.token_hash) == token_hash,
                col(PasswordReset.used_at).is_(None),
                col(PasswordReset.expires_at) > at,
            )
            .values(used_at=at)
            .returning(col(PasswordReset.user_id))
        )
        found = result.first()
        return str(found[0]) if found is not None else None

    async def get_reset(self, token_hash: str) -> PasswordReset | None:
        result = await self.session.exec(select(PasswordReset).where(col(PasswordReset.token_hash) == token_hash))
        return result.first()

    async def void_resets(self, user_id: str, *, at: datetime) -> None:
        """Every outstanding reset token of the user stops working (a new password was set)."""
        await self.session.exec(
            update(PasswordReset)
            .where(col(PasswordReset.user_id) == user_id, col(PasswordReset.used_at).is_(None))
            .values(used_at=at)
        )

    # -- clients ------------------------------------------------------------------------------
    async def list_clients(self, *, limit: int, offset: int, after: str | None = None) -> tuple[Sequence[Client], int]:
        """Clients by id, strictly after ``after`` when given, and how many clients there are in all."""
        stmt = select(Client)
        if after is not None:
            stmt = stmt.where(col(Client.client_id) > after)
        rows = await self.session.exec(stmt.order_by(col(Client.client_id)).limit(limit).offset(offset))
        total = await self.session.exec(select(func.count()).select_from(Client))
        return rows.all(), total.one()

    async def insert_client(self, client: Client) -> bool:
        """Insert a new client; False when its id is taken."""
        table = Client.__table__  # type: ignore[attr-defined]
        result = await self.session.exec(
            insert(table).values(**client.model_dump()).on_conflict_do_nothing().returning(table.c.client_id)
        )
        return result.first() is not None

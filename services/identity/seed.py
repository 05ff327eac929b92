"""Demo users: ``alice`` (customer), ``olivia`` (operator) and ``admin``."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity import service
from services.identity.models import Role, UserCreate
from services.identity.repository import IdentityRepository

DEMO_USERS: dict[str, UserCreate] = {
    "alice": UserCreate(
        username="alice",
        email="alice@example.com",
        full_name="Alice Customer",
        password="alice-pass",
        role=Role.CUSTOMER,
    ),
    "olivia": UserCreate(
        username="olivia",
        email="olivia@example.com",
        full_name="Olivia Operator",
        password="olivia-pass",
        role=Role.OPERATOR,
    ),
    "admin": UserCreate(
        username="admin",
        email="admin@example.com",
        full_name="PakLog Admin",
        password="admin-pass",
        role=Role.ADMIN,
    ),
}


async def seed(session: AsyncSession) -> int:
    """Create the demo users that do not exist yet; existing accounts (and passwords) are left alone."""
    repo = IdentityRepository(session)
    created = 0
    async with session.begin():
        existing = await repo.existing_usernames(list(DEMO_USERS))
        for username, user in DEMO_USERS.items():
            if username not in existing:
                await service.create_user(repo, user)
                created += 1
    return created

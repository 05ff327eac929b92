"""Demo users: ``alice`` (customer), ``olivia`` (operator) and ``admin``; the ERP's OAuth2 client ``erp``."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from common.partners import ERP_CLIENT_ID, ERP_CLIENT_NAME, ERP_SCOPE
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


async def seed(session: AsyncSession, *, erp_client_secret: str | None = None) -> int:
    """Create the demo users that do not exist yet; existing accounts (and passwords) are left alone.

    Args:
        session: A session of identity's database.
        erp_client_secret: The ERP client's secret (:func:`common.partners.erp_client_secret`): the
            client ``erp`` (scope ``erp``) is registered with it, or re-keyed when its stored hash is of
            another secret (a configured secret changed). None leaves the clients alone.

    Returns:
        The users and clients created.
    """
    repo = IdentityRepository(session)
    created = 0
    async with session.begin():
        existing = await repo.existing_usernames(list(DEMO_USERS))
        for username, user in DEMO_USERS.items():
            if username not in existing:
                await service.create_user(repo, user)
                created += 1
        if erp_client_secret is not None:
            created += await service.ensure_client(
                repo, client_id=ERP_CLIENT_ID, name=ERP_CLIENT_NAME, secret=erp_client_secret, scopes=[ERP_SCOPE]
            )
    return created

"""Accounts and logins: argon2 password hashes and signed access tokens.

Argon2 is deliberately slow (about 0.1 s of CPU), so hashing and verifying
run in a worker thread, never on the event loop. A login for an unknown
username still verifies against a dummy hash, so the answer takes as long
as a wrong password and does not reveal which usernames exist.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cache

import anyio.to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from common.errors import Conflict, Unauthorized
from common.security import TokenIssuer
from services.identity.models import TokenResponse, User, UserCreate, UserPublic
from services.identity.repository import IdentityRepository


@cache
def _hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(),))


@cache
def _dummy_hash() -> str:
    return _hasher().hash(uuid.uuid4().hex)


def _verify(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    if password_hash is None:
        _hasher().verify(password, _dummy_hash())
        return False, None
    return _hasher().verify_and_update(password, password_hash)


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher().hash, password)


def user_public(user: User) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)


async def create_user(repo: IdentityRepository, data: UserCreate) -> User:
    """Store a new user with a hashed password.

    Raises:
        Conflict: ``UsernameTaken`` when the username exists already.
    """
    user = User(
        id=uuid.uuid4().hex,
        username=data.username,
        email=data.email,
        full_name=data.full_name,
        role=data.role,
        password_hash=await hash_password(data.password),
        created_at=datetime.now(UTC),
    )
    if not await repo.insert(user):
        raise Conflict(f"username {data.username} is taken", type="UsernameTaken")
    return user


async def authenticate(repo: IdentityRepository, username: str, password: str) -> User:
    """The user these credentials belong to; a hash made with outdated parameters is upgraded.

    Raises:
        Unauthorized: ``InvalidCredentials``, the same for an unknown user and a wrong password.
    """
    user = await repo.get_by_username(username.strip().lower())
    valid, new_hash = await anyio.to_thread.run_sync(_verify, password, user.password_hash if user else None)
    if user is None or not valid:
        raise Unauthorized("incorrect username or password", type="InvalidCredentials")
    if new_hash is not None:
        await repo.set_password_hash(user.id, new_hash)
    return user


def issue_token(issuer: TokenIssuer, user: User) -> TokenResponse:
    token = issuer.issue(username=user.username, user_id=user.id, role=user.role, email=user.email, name=user.full_name)
    return TokenResponse(access_token=token, expires_in=issuer.ttl_seconds)

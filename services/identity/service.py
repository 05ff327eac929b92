"""Accounts and logins: argon2 password hashes and signed access tokens.

Argon2 is deliberately slow (about 0.1 s of CPU), so hashing and verifying
run in a worker thread, never on the event loop. A login for an unknown
username still verifies against a dummy hash, so the answer takes as long
as a wrong password and does not reveal which usernames exist.

Partner systems log in as OAuth2 clients (client credentials): their secrets
are hashed and checked the same way (an unknown client costs a dummy
verification too), and their tokens carry the role ``partner`` and the
client's scopes, never a refresh token.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cache

import anyio.to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from common.errors import Conflict, Unauthorized
from common.oauth import invalid_client
from common.security import PARTNER_ROLE, TokenIssuer
from services.identity.models import Client, TokenResponse, User, UserCreate, UserPublic
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


def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """Whether ``password`` matches the hash, and a re-hash when its parameters are outdated (CPU-bound)."""
    return _verify(password, password_hash)


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher().hash, password)


def user_public(user: User) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)


async def create_user(repo: IdentityRepository, data: UserCreate) -> User:
    """Store a new user with a hashed password.

    Raises:
        Conflict: ``UsernameTaken`` when the username exists already, ``EmailTaken`` when another
            account has the address (ignoring case).
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
        if await repo.get_by_username(data.username) is not None:
            raise Conflict(f"username {data.username} is taken", type="UsernameTaken")
        raise Conflict("another account uses this e-mail address", type="EmailTaken")
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


async def authenticate_client(repo: IdentityRepository, client_id: str, client_secret: str) -> Client:
    """The client these credentials belong to; a hash made with outdated parameters is upgraded.

    Raises:
        Unauthorized: ``InvalidClient``, the same for an unknown client and a wrong secret.
    """
    client = await repo.get_client(client_id)
    valid, new_hash = await anyio.to_thread.run_sync(_verify, client_secret, client.secret_hash if client else None)
    if client is None or not valid:
        raise invalid_client()
    if new_hash is not None:
        await repo.set_client_secret_hash(client.client_id, new_hash)
    return client


def issue_client_token(issuer: TokenIssuer, client: Client) -> TokenResponse:
    """A partner token: subject the client id, role ``partner``, the client's scopes; no refresh token."""
    token = issuer.issue(
        username=client.client_id,
        user_id=f"client:{client.client_id}",
        role=PARTNER_ROLE,
        email="",
        name=client.name,
        scopes=client.scopes,
    )
    return TokenResponse(access_token=token, expires_in=issuer.ttl_seconds, scope=" ".join(client.scopes))


async def ensure_client(repo: IdentityRepository, *, client_id: str, name: str, secret: str, scopes: list[str]) -> bool:
    """Register the client with this secret, or re-key a stored one whose hash does not match it.

    A stored client whose secret already verifies keeps its hash (no argon2 work
    is written for nothing). Call inside a transaction.

    Returns:
        True when the client is new.
    """
    stored = await repo.get_client(client_id)
    if stored is not None:
        valid, _ = await anyio.to_thread.run_sync(_verify, secret, stored.secret_hash)
        if valid and stored.name == name and stored.scopes == scopes:
            return False
    await repo.put_client(
        Client(
            client_id=client_id,
            name=name,
            secret_hash=await hash_password(secret),
            scopes=scopes,
            created_at=stored.created_at if stored is not None else datetime.now(UTC),
        )
    )
    return stored is None

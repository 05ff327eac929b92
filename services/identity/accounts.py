"""Sessions, refresh-token rotation, password resets, self-service and administration of accounts.

A password login opens a *session*. Its access tokens name it (``sid``) and
live ``access_seconds``; its refresh token is exchanged for a new pair
(rotation), once: the exchange marks it used in the same conditional
``UPDATE`` that finds it. A used refresh token shown again means two parties
hold the family (a thief, or a client that retried), so the whole session is
revoked: its refresh tokens and, through the gateway's session check, its
access tokens. Disabling a user, a new password (changed or reset) and a
role change revoke every open session of that user.

Refresh and reset tokens are 256 random bits (:func:`new_token`); only their
SHA-256 is stored (a plain hash suffices for values nobody can guess; argon2 is
for passwords people choose). Errors:

* ``401``: ``InvalidRefreshToken`` (unknown), ``RefreshTokenExpired``,
  ``RefreshTokenReused`` (the session is now revoked), ``SessionRevoked``,
  ``AccountDisabled`` (a correct password of a disabled account).
* ``400``: ``InvalidResetToken`` (unknown), ``ResetTokenUsed``, ``ResetTokenExpired``.
* ``403``: ``WrongPassword`` (the current password of a password change).
* ``404``: ``UnknownUser``; ``409``: ``UsernameTaken``, ``EmailTaken``, ``ClientIdTaken``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio.to_thread

from common.errors import Conflict, DomainError, Forbidden, NotFound, Unauthorized
from common.security import TokenIssuer
from services.identity import service
from services.identity.account_models import (
    ClientCreate,
    ClientCredentials,
    PasswordReset,
    ProfileUpdate,
    RefreshToken,
    Registration,
    ResetIssued,
    Session,
)
from services.identity.account_repository import AccountRepository
from services.identity.models import Client, Role, TokenResponse, User, UserCreate


class InvalidResetToken(DomainError):
    """400: a reset token that is unknown, used or expired (its ``type`` tells which)."""

    status_code = 400
    default_type = "InvalidResetToken"


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """How long what identity hands out lives (:class:`services.identity.settings.IdentitySettings`)."""

    access_seconds: int
    refresh_seconds: int
    reset_seconds: int


def new_token() -> str:
    """An opaque token: 256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What is stored of a refresh or reset token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


# -- logins and sessions -----------------------------------------------------------------------


async def open_session(repo: AccountRepository, issuer: TokenIssuer, policy: TokenPolicy, user: User) -> TokenResponse:
    """A new session for a user who just proved their password: an access token and a refresh token.

    Raises:
        Unauthorized: ``AccountDisabled``.
    """
    if user.disabled:
        raise Unauthorized("this account is disabled", type="AccountDisabled")
    now = _now()
    session = Session(id=uuid.uuid4().hex, user_id=user.id, created_at=now)
    await repo.add_session(session)
    return await _issue_pair(repo, issuer, policy, user, session.id, now)


async def _issue_pair(
    repo: AccountRepository, issuer: TokenIssuer, policy: TokenPolicy, user: User, session_id: str, now: datetime
) -> TokenResponse:
    refresh = new_token()
    await repo.add_refresh_token(
        RefreshToken(
            token_hash=token_hash(refresh),
            session_id=session_id,
            issued_at=now,
            expires_at=now + timedelta(seconds=policy.refresh_seconds),
        )
    )
    access = issuer.issue(
        username=user.username,
        user_id=user.id,
        role=user.role,
        email=user.email,
        name=user.full_name,
        session_id=session_id,
        ttl_seconds=policy.access_seconds,
    )
    return TokenResponse(access_token=access, expires_in=policy.access_seconds, refresh_token=refresh)


async def refresh(repo: AccountRepository, issuer: TokenIssuer, policy: TokenPolicy, token: str) -> TokenResponse:
    """Exchange a refresh token for a new pair in its session; a reused one revokes the session.

    Opens (and commits) its own transaction, so a reuse's revocation stays although the answer is a 401.

    Raises:
        Unauthorized: ``InvalidRefreshToken``, ``RefreshTokenExpired``, ``RefreshTokenReused``, ``SessionRevoked``.
    """
    digest, now = token_hash(token), _now()
    error: Unauthorized | None = None
    answer: TokenResponse | None = None
    async with repo.session.begin():
        session_id = await repo.use_refresh_token(digest, at=now)
        if session_id is None:
            stored = await repo.get_refresh_token(digest)
            if stored is None:
                error = Unauthorized("unknown refresh token", type="InvalidRefreshToken")
            elif stored.used_at is not None:
                await repo.revoke_session(stored.session_id, at=now, reason="refresh_reused")
                error = Unauthorized(
                    "this refresh token was used already; its session is revoked", type="RefreshTokenReused"
                )
            else:
                error = Unauthorized("the refresh token has expired; log in again", type="RefreshTokenExpired")
        else:
            state = await repo.session_state(session_id)
            user = await repo.get(state[0]) if state is not None and state[1] else None
            if user is None:
                error = Unauthorized("the session was ended; log in again", type="SessionRevoked")
            else:
                answer = await _issue_pair(repo, issuer, policy, user, session_id, now)
    if error is not None:
        raise error
    assert answer is not None
    return answer


async def revoke_session(repo: AccountRepository, session_id: str, *, reason: str = "logout") -> bool:
    """End a session (logout): its refresh token and access tokens stop working. False: it was ended already."""
    return await repo.revoke_session(session_id, at=_now(), reason=reason)


# -- accounts ---------------------------------------------------------------------------------


async def register(repo: AccountRepository, data: Registration) -> User:
    """A new customer.

    Raises:
        Conflict: ``UsernameTaken`` or ``EmailTaken``.
    """
    return await service.create_user(
        repo,
        UserCreate(
            username=data.username,
            email=data.email,
            full_name=data.name or data.username,
            password=data.password,
            role=Role.CUSTOMER,
        ),
    )


async def get_user(repo: AccountRepository, user_id: str) -> User:
    """The user; 404 ``UnknownUser`` when there is none."""
    user = await repo.get(user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", type="UnknownUser")
    return user


async def update_profile(repo: AccountRepository, user_id: str, change: ProfileUpdate) -> User:
    """Set the user's name and/or e-mail address.

    Raises:
        NotFound: ``UnknownUser``.
        Conflict: ``EmailTaken`` (by another user).
    """
    await get_user(repo, user_id)
    values: dict[str, object] = {}
    if change.name is not None:
        values["full_name"] = change.name
    if change.email is not None:
        holder = await repo.get_by_email(change.email)
        if holder is not None and holder.id != user_id:
            raise Conflict("another account uses this e-mail address", type="EmailTaken")
        values["email"] = change.email
    updated = await repo.update_user(user_id, **values)
    assert updated is not None
    return updated


async def _set_password(repo: AccountRepository, user_id: str, password: str, *, reason: str) -> None:
    now = _now()
    await repo.update_user(user_id, password_hash=await service.hash_password(password))
    await repo.revoke_user_sessions(user_id, at=now, reason=reason)
    await repo.void_resets(user_id, at=now)


async def change_password(repo: AccountRepository, user_id: str, current: str, new: str) -> None:
    """Set a new password after checking the current one; every session of the user is revoked.

    Raises:
        NotFound: ``UnknownUser``.
        Forbidden: ``WrongPassword``.
    """
    user = await get_user(repo, user_id)
    valid, _ = await anyio.to_thread.run_sync(service.verify_password, current, user.password_hash)
    if not valid:
        raise Forbidden("the current password is wrong", type="WrongPassword")
    await _set_password(repo, user_id, new, reason="password_changed")


async def issue_reset(repo: AccountRepository, policy: TokenPolicy, email: str) -> ResetIssued | None:
    """A reset token for the enabled account with this address; None when there is none (the caller says nothing)."""
    user = await repo.get_by_email(email)
    if user is None or user.disabled:
        return None
    token, now = new_token(), _now()
    reset = PasswordReset(
        id=uuid.uuid4().hex,
        token_hash=token_hash(token),
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(seconds=policy.reset_seconds),
    )
    await repo.add_reset(reset)
    return ResetIssued(
        reset_id=reset.id,
        token=token,
        user_id=user.id,
        username=user.username,
        email=user.email,
        name=user.full_name,
        expires_at=reset.expires_at,
    )


async def confirm_reset(repo: AccountRepository, token: str, new_password: str) -> None:
    """Set the password a reset token was issued for; the token is spent and every session revoked.

    Raises:
        InvalidResetToken: ``InvalidResetToken``, ``ResetTokenUsed`` or ``ResetTokenExpired``.
    """
    digest = token_hash(token)
    user_id = await repo.use_reset(digest, at=_now())
    if user_id is None:
        stored = await repo.get_reset(digest)
        if stored is None:
            raise InvalidResetToken("unknown reset token")
        if stored.used_at is not None:
            raise InvalidResetToken("this reset token was used already", type="ResetTokenUsed")
        raise InvalidResetToken("the reset token has expired; ask for a new one", type="ResetTokenExpired")
    await _set_password(repo, user_id, new_password, reason="password_reset")


# -- administration ----------------------------------------------------------------------------


async def set_disabled(repo: AccountRepository, user_id: str, *, disabled: bool) -> User:
    """Disable (every session revoked at once) or enable a user.

    Raises:
        NotFound: ``UnknownUser``.
    """
    user = await repo.update_user(user_id, disabled=disabled)
    if user is None:
        raise NotFound(f"no user {user_id}", type="UnknownUser")
    if disabled:
        await repo.revoke_user_sessions(user_id, at=_now(), reason="disabled")
    return user


async def set_role(repo: AccountRepository, user_id: str, role: Role) -> User:
    """Give the user another role; their sessions are revoked (tokens carry the role), unless it is unchanged.

    Raises:
        NotFound: ``UnknownUser``.
    """
    before = await get_user(repo, user_id)
    if before.role == role:
        return before
    user = await repo.update_user(user_id, role=role)
    assert user is not None
    await repo.revoke_user_sessions(user_id, at=_now(), reason="role_changed")
    return user


def _client_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "client"
    return f"{slug}-{secrets.token_hex(3)}"


async def create_client(repo: AccountRepository, data: ClientCreate) -> ClientCredentials:
    """A new partner client with a fresh secret (answered once, stored as an argon2 hash).

    Raises:
        Conflict: ``ClientIdTaken``.
    """
    client_id = data.client_id or _client_id(data.name)
    secret = new_token()
    client = Client(
        client_id=client_id,
        name=data.name,
        secret_hash=await service.hash_password(secret),
        scopes=list(data.scopes),
        created_at=_now(),
    )
    if not await repo.insert_client(client):
        raise Conflict(f"client {client_id} exists", type="ClientIdTaken")
    return ClientCredentials(client_id=client_id, client_secret=secret, name=data.name, scopes=client.scopes)


async def rotate_client(repo: AccountRepository, client_id: str) -> ClientCredentials:
    """A new secret for the client; the old one stops working at once (tokens already issued run out).

    Raises:
        NotFound: ``UnknownClient``.
    """
    client = await repo.get_client(client_id)
    if client is None:
        raise NotFound(f"no client {client_id}", type="UnknownClient")
    secret = new_token()
    await repo.set_client_secret_hash(client_id, await service.hash_password(secret))
    return ClientCredentials(client_id=client_id, client_secret=secret, name=client.name, scopes=client.scopes)

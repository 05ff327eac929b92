"""Accounts beyond the login: sessions and their refresh tokens, password resets, self-service, administration,
and partner clients as admins manage them.

Only hashes of tokens are stored (:func:`services.identity.sessions.token_hash`).
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import Column, DateTime, String
from sqlmodel import Field, SQLModel

from common.accounts import EMAIL_PATTERN, MAX_PASSWORD, USERNAME_PATTERN, strong_password
from services.identity.models import Role, UserPublic

#: Opaque tokens we hand out are 43 URL-safe characters; anything longer is no token of ours.
MAX_TOKEN = 128
#: A scope: a lower-case word (``erp``, ``carrier.swift``).
SCOPE_PATTERN = r"^[a-z][a-z0-9._-]{0,31}$"
CLIENT_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}$"


class Session(SQLModel, table=True):
    """One login; every access token and refresh token issued in it names it. Revoked once, for good."""

    __tablename__ = "sessions"

    id: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(max_length=64, foreign_key="users.id")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    revoked_reason: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))


class RefreshToken(SQLModel, table=True):
    """A session's refresh token, by its SHA-256; ``used_at``: exchanged already (showing it again is a reuse)."""

    __tablename__ = "refresh_tokens"

    token_hash: str = Field(primary_key=True, max_length=64)
    session_id: str = Field(max_length=64, foreign_key="sessions.id")
    issued_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class PasswordReset(SQLModel, table=True):
    """A single-use password-reset token, by its SHA-256."""

    __tablename__ = "password_resets"

    id: str = Field(primary_key=True, max_length=64)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: str = Field(max_length=64, foreign_key="users.id")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=False)


class Registration(_In):
    """A new customer signing up; ``name`` defaults to the username."""

    username: str = PydanticField(pattern=USERNAME_PATTERN, examples=["bob-buyer"])
    email: str = PydanticField(max_length=254, pattern=EMAIL_PATTERN, examples=["bob@example.com"])
    password: str = PydanticField(min_length=8, max_length=MAX_PASSWORD)
    name: str | None = PydanticField(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _strong_password(self) -> Registration:
        strong_password(self.password, username=self.username, email=self.email)
        return self


class RefreshRequest(_In):
    refresh_token: str = PydanticField(min_length=1, max_length=MAX_TOKEN)


class SessionState(BaseModel):
    """Whether a session's tokens still work: open, and its user not disabled."""

    session_id: str
    user_id: str
    active: bool


class ProfileUpdate(_In):
    """The caller's own profile; give at least one field."""

    name: str | None = PydanticField(default=None, min_length=1, max_length=200)
    email: str | None = PydanticField(default=None, max_length=254, pattern=EMAIL_PATTERN)

    @model_validator(mode="after")
    def _something(self) -> ProfileUpdate:
        if self.name is None and self.email is None:
            raise ValueError("give name, email or both")
        return self


class PasswordChange(_In):
    current_password: str = PydanticField(min_length=1, max_length=MAX_PASSWORD)
    new_password: str = PydanticField(min_length=8, max_length=MAX_PASSWORD)

    @model_validator(mode="after")
    def _strong_password(self) -> PasswordChange:
        strong_password(self.new_password)
        return self


class ResetRequest(_In):
    email: str = PydanticField(max_length=254, pattern=EMAIL_PATTERN)


class ResetIssued(BaseModel):
    """A reset token for the gateway to send (the only place it is ever seen in clear, besides the message)."""

    reset_id: str
    token: str
    user_id: str
    username: str
    email: str
    name: str
    expires_at: datetime


class ResetConfirm(_In):
    token: str = PydanticField(min_length=1, max_length=MAX_TOKEN)
    new_password: str = PydanticField(min_length=8, max_length=MAX_PASSWORD)

    @model_validator(mode="after")
    def _strong_password(self) -> ResetConfirm:
        strong_password(self.new_password)
        return self


class RoleChange(_In):
    role: Role = PydanticField(strict=False)


class UserPage(BaseModel):
    items: list[UserPublic]
    total: int
    limit: int
    offset: int
    #: The cursor of the next page; ``None`` on the last one.
    next_cursor: str | None = None


class ClientCreate(_In):
    name: str = PydanticField(min_length=1, max_length=200)
    scopes: list[str] = PydanticField(min_length=1, max_length=20)
    #: Chosen by the admin, or derived from the name.
    client_id: str | None = PydanticField(default=None, pattern=CLIENT_ID_PATTERN)

    @model_validator(mode="after")
    def _scope_words(self) -> ClientCreate:
        if any(not re.fullmatch(SCOPE_PATTERN, scope) for scope in self.scopes):
            raise ValueError(f"every scope must match {SCOPE_PATTERN}")
        return self


class ClientPublic(BaseModel):
    client_id: str
    name: str
    scopes: list[str]
    created_at: datetime


class ClientPage(BaseModel):
    """A page of partner clients by id (without their secrets)."""

    items: list[ClientPublic]
    total: int
    limit: int
    offset: int
    #: The cursor of the next page; ``None`` on the last one.
    next_cursor: str | None = None


class ClientCredentials(BaseModel):
    """A client's id and its new secret: shown once, stored only as a hash."""

    client_id: str
    client_secret: str
    name: str
    scopes: list[str]

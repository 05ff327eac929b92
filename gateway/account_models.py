"""The public models of the identity doors: registration, refresh, profile, password, resets, administration.

Requests are strict (unknown fields are refused); what identity answers is
read through the ``*Record`` models, anything else is a 502.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.accounts import EMAIL_PATTERN, MAX_PASSWORD, USERNAME_PATTERN, strong_password

PersonRole = Literal["customer", "operator", "admin"]
MAX_TOKEN = 128


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RegisterRequest(_Strict):
    username: str = Field(pattern=USERNAME_PATTERN, examples=["bob-buyer"])
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN, examples=["bob@example.com"])
    password: str = Field(
        min_length=8,
        max_length=MAX_PASSWORD,
        description="At least 8 characters, four different ones, not only lower-case letters or digits",
        json_schema_extra={"format": "password"},
    )
    name: str | None = Field(default=None, min_length=1, max_length=200, description="Defaults to the username")

    @model_validator(mode="after")
    def _strong(self) -> RegisterRequest:
        strong_password(self.password, username=self.username, email=self.email)
        return self


class RefreshRequest(_Strict):
    refresh_token: str = Field(min_length=1, max_length=MAX_TOKEN)


class ProfileView(BaseModel):
    """A person's account as identity keeps it now (``GET /api/auth/me`` shows the token's claims instead)."""

    user_id: str
    username: str
    email: str
    name: str
    role: PersonRole
    disabled: bool = False


class ProfileUpdateRequest(_Strict):
    """Give at least one."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=EMAIL_PATTERN)


class PasswordChangeRequest(_Strict):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD, json_schema_extra={"format": "password"})
    new_password: str = Field(min_length=8, max_length=MAX_PASSWORD, json_schema_extra={"format": "password"})

    @model_validator(mode="after")
    def _strong(self) -> PasswordChangeRequest:
        strong_password(self.new_password)
        return self


class ResetRequest(_Strict):
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)


class ResetConfirmRequest(_Strict):
    token: str = Field(min_length=1, max_length=MAX_TOKEN)
    new_password: str = Field(min_length=8, max_length=MAX_PASSWORD, json_schema_extra={"format": "password"})

    @model_validator(mode="after")
    def _strong(self) -> ResetConfirmRequest:
        strong_password(self.new_password)
        return self


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    detail: str


class UserPage(BaseModel):
    """A page of users by username (DESIGN.md's list shape); walk with ``?cursor=<next_cursor>``."""

    items: list[ProfileView]
    total: int
    limit: int
    offset: int
    next_cursor: str | None = Field(
        default=None, description="Opaque; continue with ?cursor=, null when there is no next page"
    )


class RoleRequest(_Strict):
    role: PersonRole


class ClientCreateRequest(_Strict):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=20, examples=[["erp"]])
    client_id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")


class ClientView(BaseModel):
    client_id: str
    name: str
    scopes: list[str]
    created_at: datetime


class ClientPage(BaseModel):
    """A page of partner clients by id, without their secrets; walk with ``?cursor=<next_cursor>``."""

    items: list[ClientView]
    total: int
    limit: int
    offset: int
    next_cursor: str | None = Field(
        default=None, description="Opaque; continue with ?cursor=, null when there is no next page"
    )


class ClientSecretView(BaseModel):
    """Shown once: identity keeps only a hash of the secret."""

    client_id: str
    client_secret: str
    name: str
    scopes: list[str]


# -- what identity answers ---------------------------------------------------------------------------


class UserRecord(BaseModel):
    id: str
    username: str
    email: str
    full_name: str
    role: PersonRole
    disabled: bool = False

    def view(self) -> ProfileView:
        return ProfileView(
            user_id=self.id,
            username=self.username,
            email=self.email,
            name=self.full_name,
            role=self.role,
            disabled=self.disabled,
        )


class UserPageRecord(BaseModel):
    items: list[UserRecord]
    total: int
    limit: int
    offset: int
    next_cursor: str | None = None


class SessionRecord(BaseModel):
    session_id: str
    user_id: str
    active: bool


class ResetRecord(BaseModel):
    reset_id: str
    token: str
    user_id: str
    username: str
    email: str
    name: str
    expires_at: datetime

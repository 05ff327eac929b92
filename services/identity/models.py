"""Identity models: users with a role and an argon2 password hash."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint, Column, DateTime, String
from sqlmodel import Field, SQLModel

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"
# Deliberately loose: deliverability is the mail server's business, not ours.
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"


class Role(StrEnum):
    """The roles of :data:`common.security.ROLES`, which tokens carry."""

    CUSTOMER = "customer"
    OPERATOR = "operator"
    ADMIN = "admin"


class UserBase(SQLModel):
    username: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    email: str = Field(max_length=254)
    full_name: str = Field(max_length=200)
    role: Role = Field(sa_column=Column(String(16), nullable=False))


class User(UserBase, table=True):
    """A person who can log in. The password is only ever stored as an argon2 hash."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('customer', 'operator', 'admin')", name="user_role"),)

    id: str = Field(primary_key=True, max_length=64)
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class UserCreate(BaseModel):
    """A new user; ``username`` is lower-case and unique."""

    model_config = ConfigDict(extra="forbid", strict=True)

    username: str = PydanticField(pattern=USERNAME_PATTERN)
    email: str = PydanticField(max_length=254, pattern=EMAIL_PATTERN)
    full_name: str = PydanticField(min_length=1, max_length=200)
    # The upper bound keeps one request from buying minutes of argon2 time.
    password: str = PydanticField(min_length=8, max_length=128)
    role: Role = PydanticField(strict=False)


class UserPublic(BaseModel):
    id: str
    username: str
    email: str
    full_name: str
    role: Role


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int

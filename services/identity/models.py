"""Identity models: users with a role and an argon2 password hash; partner systems' OAuth2 clients;
the ERP's customers (a read model)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint, Column, DateTime, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from common.accounts import EMAIL_PATTERN as EMAIL_PATTERN
from common.accounts import USERNAME_PATTERN as USERNAME_PATTERN
from common.erp_events import ErpEventIn
from common.erp_import import MAX_PAGE_ITEMS, ChangeTime, WatermarkIn, WatermarkPublic

#: The ERP's customer numbers: ten digits, ``0000100001``.
CUSTOMER_NUMBER_PATTERN = r"^[0-9]{10}$"


class Role(StrEnum):
    """A person's role, as tokens carry it (:data:`common.security.ROLES`; ``partner`` is a client's, never a user's)."""

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
    #: A disabled user cannot log in, and their open sessions were revoked when they were disabled.
    disabled: bool = False


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
    disabled: bool = False


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    #: A person's refresh token (opaque, single use: each refresh answers a new one); absent for clients.
    refresh_token: str | None = None
    #: A client's granted scopes (space-separated); absent for people.
    scope: str | None = None


class Client(SQLModel, table=True):
    """A partner system that logs in with the client-credentials grant; its secret is kept as an argon2 hash."""

    __tablename__ = "clients"

    client_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    secret_hash: str = Field(max_length=255)
    scopes: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


# -- ERP customers (docs/erp.md, part B) -----------------------------------------------------


class Customer(SQLModel, table=True):
    """A customer as the ERP last told it; ``changed_at`` is that data's ``LastChangedAt``."""

    __tablename__ = "customers"

    customer_number: str = Field(primary_key=True, max_length=10)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    street: str = Field(max_length=200)
    city: str = Field(max_length=100)
    postal_code: str = Field(max_length=20)
    country: str = Field(max_length=2)
    delivery_blocked: bool
    credit_blocked: bool
    changed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class CustomerIn(BaseModel):
    """One customer as the importer sends it (the ERP's fields, renamed)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    customer_number: str = PydanticField(pattern=CUSTOMER_NUMBER_PATTERN, examples=["0000100001"])
    name: str = PydanticField(min_length=1, max_length=200)
    email: str | None = PydanticField(default=None, max_length=254, pattern=EMAIL_PATTERN)
    street: str = PydanticField(max_length=200)
    city: str = PydanticField(max_length=100)
    postal_code: str = PydanticField(max_length=20)
    country: str = PydanticField(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    delivery_blocked: bool
    credit_blocked: bool
    changed_at: ChangeTime = PydanticField(strict=False, examples=["2026-05-04T10:15:00.000001Z"])


class CustomersPage(BaseModel):
    """A page of customers and where the next page starts (stored with the rows, ``entity = "customers"``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[CustomerIn] = PydanticField(min_length=1, max_length=MAX_PAGE_ITEMS)
    watermark: WatermarkIn


class CustomersResult(BaseModel):
    """What the page did: ``unchanged`` rows were not newer than what is stored (or repeated in the page)."""

    inserted: int
    updated: int
    unchanged: int
    watermark: WatermarkPublic


class CustomerPublic(BaseModel):
    customer_number: str
    name: str
    email: str | None
    street: str
    city: str
    postal_code: str
    country: str
    delivery_blocked: bool
    credit_blocked: bool
    changed_at: datetime


class CustomerListPage(BaseModel):
    """A page of customers by number; ``total``: customers matching the filter, on every page."""

    items: list[CustomerPublic]
    total: int
    limit: int
    offset: int


class IdentityWatermarks(BaseModel):
    """Where the customers import stands (``null``: no page committed yet)."""

    customers: WatermarkPublic | None


class CustomerErpEventIn(ErpEventIn):
    """A ``CustomerChanged``, converted by the gateway as the import converts its pages; ``object_id`` is the
    customer number."""

    type: Literal["CustomerChanged"]
    customer: CustomerIn

    @model_validator(mode="after")
    def _about_its_customer(self) -> CustomerErpEventIn:
        if self.customer.customer_number != self.object_id:
            raise ValueError(f"the event is about {self.object_id}, its data about {self.customer.customer_number}")
        return self

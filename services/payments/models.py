"""Payments: one live payment per order, and the processor ledger."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, Column, DateTime, String
from sqlmodel import Field, SQLModel


class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    CAPTURED = "CAPTURED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    DECLINED = "DECLINED"
    VOIDED = "VOIDED"


#: Payments that hold (or held) the customer's money; at most one per order.
LIVE_STATUSES = (
    PaymentStatus.AUTHORIZED,
    PaymentStatus.CAPTURED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
)
#: Payments that block a second charge: the live ones and an attempt still waiting for the processor.
OPEN_STATUSES = (PaymentStatus.PENDING, *LIVE_STATUSES)


class Payment(SQLModel, table=True):
    """One authorization attempt; ``PENDING`` (no brand yet) until the processor answers."""

    __tablename__ = "payments"

    payment_id: str = Field(primary_key=True, max_length=32)
    order_id: str = Field(max_length=64, index=True)
    status: PaymentStatus = Field(sa_column=Column(String(24), nullable=False))
    amount_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    captured_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    refunded_cents: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    card_brand: str | None = Field(default=None, max_length=16)
    decline_reason: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class VoidedOrder(SQLModel, table=True):
    """A tombstone: this order's payment was voided (perhaps before it existed); authorize is refused."""

    __tablename__ = "voided_orders"

    order_id: str = Field(primary_key=True, max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class PaymentOperation(SQLModel, table=True):
    """The processor ledger: every call that moved (or held) money."""

    __tablename__ = "payment_operations"

    id: int | None = Field(default=None, primary_key=True)
    payment_id: str = Field(max_length=32, index=True)
    operation: str = Field(max_length=16)
    amount_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class _Strict(BaseModel):
    # strict: a wrong JSON type is refused, not coerced; enum fields say strict=False so their strings validate.
    model_config = ConfigDict(extra="forbid", strict=True)


class AuthorizeIn(_Strict):
    order_id: str = PydanticField(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    amount_cents: int = PydanticField(gt=0, le=100_000_000_000)
    currency: str = PydanticField(pattern=r"^[A-Z]{3}$")
    card_token: str = PydanticField(min_length=1, max_length=64)


class OrderRef(_Strict):
    order_id: str = PydanticField(pattern=r"^[a-zA-Z0-9_-]{1,64}$")


class CaptureIn(_Strict):
    """Capture ``amount_cents`` of the authorization (default: all of it); the rest is released."""

    order_id: str = PydanticField(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    amount_cents: int | None = PydanticField(default=None, gt=0, le=100_000_000_000)


class RefundIn(_Strict):
    order_id: str = PydanticField(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    amount_cents: int = PydanticField(gt=0, le=100_000_000_000)


class OperationPublic(BaseModel):
    operation: str
    amount_cents: int
    at: datetime


class PaymentPublic(BaseModel):
    payment_id: str
    order_id: str
    status: PaymentStatus
    amount_cents: int
    captured_cents: int
    refunded_cents: int
    currency: str
    card_brand: str | None
    decline_reason: str | None
    created_at: datetime
    updated_at: datetime
    operations: list[OperationPublic]


class PaymentDeclinedBody(BaseModel):
    """The 402 answer: the decline, with the recorded declined payment."""

    type: str
    detail: str
    payment: PaymentPublic


class NothingToUndo(BaseModel):
    """A compensation that found nothing to undo."""

    order_id: str
    status: None = None

"""Shipping: cartons, shipments (one per order) and void tombstones."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, Column, DateTime, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

ORDER_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
#: Share of a carton's volume goods may fill (padding, odd shapes).
FILL_FACTOR = 0.8


class ShipmentStatus(StrEnum):
    PENDING = "PENDING"
    LABELLED = "LABELLED"
    VOIDED = "VOIDED"


class ServiceLevel(StrEnum):
    STANDARD = "STANDARD"
    EXPRESS = "EXPRESS"


class Carton(SQLModel, table=True):
    __tablename__ = "cartons"

    code: str = Field(primary_key=True, max_length=8)
    volume_cm3: int = Field(sa_column=Column(Integer, nullable=False))
    max_weight_grams: int = Field(sa_column=Column(Integer, nullable=False))


class Shipment(SQLModel, table=True):
    """The order's shipment: ``PENDING`` while a carrier is asked, then ``LABELLED`` or ``VOIDED``.

    ``attempt_started_at`` is set while one request is asking the carriers (a lease), so a
    concurrent request never buys a second label; ``carrier_voided_at`` records that the
    carrier was told about a void.
    """

    __tablename__ = "shipments"

    shipment_id: str = Field(primary_key=True, max_length=32)
    order_id: str = Field(max_length=64, unique=True)
    status: ShipmentStatus = Field(sa_column=Column(String(16), nullable=False))
    carton: str = Field(max_length=8)
    weight_grams: int = Field(sa_column=Column(Integer, nullable=False))
    volume_cm3: int = Field(sa_column=Column(Integer, nullable=False))
    service_level: ServiceLevel = Field(sa_column=Column(String(16), nullable=False))
    destination: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    tracking_code: str | None = Field(default=None, max_length=32, unique=True)
    carrier: str | None = Field(default=None, max_length=16)
    rate_cents: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    currency: str | None = Field(default=None, max_length=3)
    label: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    attempt_started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    carrier_voided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class VoidedShipment(SQLModel, table=True):
    """A tombstone: this order's shipment was voided (perhaps before it existed); a new one is refused."""

    __tablename__ = "voided_shipments"

    order_id: str = Field(primary_key=True, max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class _Strict(BaseModel):
    # strict: a wrong JSON type is refused, not coerced; enum fields say strict=False so their strings validate.
    model_config = ConfigDict(extra="forbid", strict=True)


class CartonPublic(BaseModel):
    code: str
    volume_cm3: int
    max_weight_grams: int


class ChooseCartonIn(_Strict):
    weight_grams: int = PydanticField(gt=0, le=1_000_000)
    volume_cm3: int = PydanticField(gt=0, le=10_000_000)


class AddressIn(_Strict):
    name: str = PydanticField(min_length=1, max_length=120)
    line1: str = PydanticField(min_length=1, max_length=200)
    city: str = PydanticField(min_length=1, max_length=100)
    postal_code: str = PydanticField(min_length=1, max_length=20)
    country: str = PydanticField(pattern=r"^[A-Z]{2}$")


class ShipmentCreate(_Strict):
    order_id: str = PydanticField(pattern=ORDER_ID_PATTERN)
    carton: str = PydanticField(pattern=r"^[A-Z]{1,8}$")
    weight_grams: int = PydanticField(gt=0, le=1_000_000)
    volume_cm3: int = PydanticField(gt=0, le=10_000_000)
    service_level: ServiceLevel = PydanticField(strict=False)
    destination: AddressIn


class OrderRef(_Strict):
    order_id: str = PydanticField(pattern=ORDER_ID_PATTERN)


class ShipmentPublic(BaseModel):
    shipment_id: str
    order_id: str
    tracking_code: str | None
    carrier: str | None
    service_level: ServiceLevel
    carton: str
    weight_grams: int
    volume_cm3: int
    destination: dict[str, Any]
    rate_cents: int | None
    currency: str | None
    status: ShipmentStatus
    created_at: datetime
    updated_at: datetime


class ShipmentState(BaseModel):
    """A void's answer: ``status`` is ``VOIDED``, or null when there was nothing to void (a tombstone)."""

    order_id: str
    status: ShipmentStatus | None = None


class ShipmentPage(BaseModel):
    """One page of ``GET /shipments``: ``next_cursor`` continues after its last shipment (``None``: no more)."""

    items: list[ShipmentPublic]
    total: int
    limit: int
    offset: int
    next_cursor: str | None


class BreakerPublic(BaseModel):
    carrier: str
    state: str = PydanticField(description="closed | open | half-open")
    failures: int
    opened_at: datetime | None

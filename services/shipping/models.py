"""Shipping: cartons, shipments (one per order), void tombstones, tracking events and subscriptions."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, Boolean, Column, DateTime, Double, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

ORDER_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
TRACKING_CODE_PATTERN = r"^[A-Za-z0-9]{1,32}$"
EVENT_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,100}$"
CARRIER_PATTERN = r"^[A-Z][A-Z0-9_]{0,15}$"
#: As the identity service spells its usernames and e-mail addresses.
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
#: Share of a carton's volume goods may fill (padding, odd shapes).
FILL_FACTOR = 0.8


class ShipmentStatus(StrEnum):
    """``PENDING → LABELLED`` (or ``VOIDED``), then what the carrier reports; ``DELIVERED`` is final."""

    PENDING = "PENDING"
    LABELLED = "LABELLED"
    VOIDED = "VOIDED"
    IN_TRANSIT = "IN_TRANSIT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    EXCEPTION = "EXCEPTION"


#: A label was bought for the shipment (and not voided): it is ``LABELLED`` or the carrier has moved it since.
LABELLED_STATUSES = frozenset(
    {
        ShipmentStatus.LABELLED,
        ShipmentStatus.IN_TRANSIT,
        ShipmentStatus.OUT_FOR_DELIVERY,
        ShipmentStatus.DELIVERED,
        ShipmentStatus.EXCEPTION,
    }
)


class TrackingStatus(StrEnum):
    """The statuses a carrier's tracking event may report (each is also a shipment status)."""

    IN_TRANSIT = "IN_TRANSIT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    EXCEPTION = "EXCEPTION"


class EventResult(StrEnum):
    """What a tracking event did: moved the shipment, only joined the trail, or was seen before."""

    APPLIED = "applied"
    STALE = "stale"
    DUPLICATE = "duplicate"


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
    #: When the last applied tracking event happened (at the carrier); older events are stale.
    last_event_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    position_lat: float | None = Field(default=None, sa_column=Column(Double, nullable=True))
    position_lon: float | None = Field(default=None, sa_column=Column(Double, nullable=True))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class TrackingEvent(SQLModel, table=True):
    """One carrier event, kept in the shipment's trail whether it moved the shipment (``applied``) or not.

    ``fingerprint`` hashes the event's content, so a repeat of its id with
    other content is told apart from a retry; ``status_changed`` is kept so a
    repeat answers what the first delivery answered; ``forwarded_at`` is set
    once the gateway has passed the event on to the order's workflow.
    """

    __tablename__ = "tracking_events"

    event_id: str = Field(primary_key=True, max_length=100)
    shipment_id: str = Field(max_length=32)
    tracking_code: str = Field(max_length=32)
    carrier: str = Field(max_length=16)
    status: TrackingStatus = Field(sa_column=Column(String(16), nullable=False))
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    position_lat: float | None = Field(default=None, sa_column=Column(Double, nullable=True))
    position_lon: float | None = Field(default=None, sa_column=Column(Double, nullable=True))
    location: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=200)
    applied: bool = Field(sa_column=Column(Boolean, nullable=False))
    status_changed: bool = Field(sa_column=Column(Boolean, nullable=False))
    forwarded_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    fingerprint: str = Field(max_length=64)


class Subscription(SQLModel, table=True):
    """A user follows a shipment (one row per ``(username, tracking_code)``), under a title of their own."""

    __tablename__ = "subscriptions"

    username: str = Field(primary_key=True, max_length=64)
    tracking_code: str = Field(primary_key=True, max_length=32)
    email: str = Field(max_length=254)
    title: str = Field(max_length=120)
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


class Position(_Strict):
    """Where the parcel was last seen (WGS 84 degrees)."""

    lat: float = PydanticField(ge=-90, le=90, allow_inf_nan=False)
    lon: float = PydanticField(ge=-180, le=180, allow_inf_nan=False)

    @classmethod
    def of(cls, lat: float | None, lon: float | None) -> Position | None:
        """The stored pair (both or neither are set) as a position."""
        return cls(lat=lat, lon=lon) if lat is not None and lon is not None else None


def _iso_text(value: Any) -> Any:
    # ISO 8601 text only: a bare number would otherwise be read as a Unix timestamp.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time with an offset")
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 and the like
        raise ValueError("out of range") from None


#: A time stamp with its offset (a naive one is refused), kept in UTC.
EventTime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_utc)]


class TrackingEventIn(_Strict):
    """A carrier's event, as the gateway forwards it from the carrier's signed webhook."""

    event_id: str = PydanticField(pattern=EVENT_ID_PATTERN, examples=["SWIFT-SW0000000001-1"])
    carrier: str = PydanticField(pattern=CARRIER_PATTERN, examples=["SWIFT"])
    tracking_code: str = PydanticField(pattern=TRACKING_CODE_PATTERN, examples=["SW0000000001"])
    status: TrackingStatus = PydanticField(strict=False)
    occurred_at: EventTime = PydanticField(strict=False, examples=["2026-05-04T10:15:00+02:00"])
    position: Position | None = None
    location: str | None = PydanticField(default=None, max_length=200)
    reason: str | None = PydanticField(default=None, max_length=200)


class TrackingEventResult(BaseModel):
    """What ``POST /tracking/events`` did; ``status`` is the shipment's status now."""

    event_id: str
    order_id: str
    tracking_code: str
    result: EventResult
    status_changed: bool = PydanticField(description="For a duplicate: what its first delivery answered")
    status: ShipmentStatus
    forwarded: bool


class EventForwarded(BaseModel):
    event_id: str
    forwarded: bool


class TrailEntry(BaseModel):
    event_id: str
    status: TrackingStatus
    occurred_at: datetime
    received_at: datetime
    position: Position | None
    location: str | None
    reason: str | None
    applied: bool = PydanticField(description="False: stale (older than the last applied event, or after DELIVERED)")


class TrackingPublic(BaseModel):
    """A shipment's tracking: its status now and every event received, oldest first (by ``occurred_at``)."""

    tracking_code: str
    carrier: str
    order_id: str
    status: ShipmentStatus
    last_event_at: datetime | None
    position: Position | None
    trail: list[TrailEntry]


class SubscriptionIn(_Strict):
    username: str = PydanticField(pattern=USERNAME_PATTERN)
    email: str = PydanticField(max_length=254, pattern=EMAIL_PATTERN)
    title: str = PydanticField(min_length=1, max_length=120)


class SubscriptionPublic(BaseModel):
    tracking_code: str
    username: str
    email: str
    title: str
    created_at: datetime
    updated_at: datetime


class SubscribedShipment(BaseModel):
    """One of a user's subscriptions, with the shipment's live status."""

    tracking_code: str
    title: str
    carrier: str | None
    status: ShipmentStatus
    last_event_at: datetime | None
    created_at: datetime


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
    last_event_at: datetime | None = PydanticField(description="When the last applied tracking event happened")
    position: Position | None
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

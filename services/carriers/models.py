"""Wire models of the carrier stand-in (the TMS's API, not PakLog's)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField

from services.carriers.pricing import Carrier, ServiceLevel


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RateRequest(_Strict):
    weight_grams: int = PydanticField(gt=0, le=1_000_000)
    volume_cm3: int = PydanticField(gt=0, le=10_000_000)
    country: str = PydanticField(pattern=r"^[A-Z]{2}$")
    postal_code: str = PydanticField(min_length=1, max_length=20)
    service_level: ServiceLevel = PydanticField(strict=False)


class RateQuote(BaseModel):
    carrier: Carrier
    service_level: ServiceLevel
    rate_cents: int
    currency: str
    transit_days: int


class Address(_Strict):
    name: str = PydanticField(min_length=1, max_length=120)
    line1: str = PydanticField(min_length=1, max_length=200)
    city: str = PydanticField(min_length=1, max_length=100)
    postal_code: str = PydanticField(min_length=1, max_length=20)
    country: str = PydanticField(pattern=r"^[A-Z]{2}$")


class LabelRequest(_Strict):
    reference: str = PydanticField(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    weight_grams: int = PydanticField(gt=0, le=1_000_000)
    volume_cm3: int = PydanticField(gt=0, le=10_000_000)
    service_level: ServiceLevel = PydanticField(strict=False)
    destination: Address
    carton: str = PydanticField(min_length=1, max_length=16)


class LabelOut(BaseModel):
    """A sold label: ``label`` holds what is printed on it (``status`` ``ACTIVE`` or ``VOIDED``)."""

    tracking_code: str
    carrier: Carrier
    status: str
    label: dict[str, Any]


class Fault(BaseModel):
    """Faults injected into one carrier: ``outage`` answers every call 503, ``fail_rate`` that share of them."""

    outage: bool = False
    fail_rate: float = PydanticField(default=0.0, ge=0.0, le=1.0)
    latency_ms: int = PydanticField(default=0, ge=0, le=60_000)


class TrackingKnobs(BaseModel):
    """How one carrier's journeys go: the pace of their steps and the share of exceptions and duplicates."""

    step_seconds: float = PydanticField(default=2.0, ge=0.05, le=3600)
    exception_rate: float = PydanticField(default=0.0, ge=0.0, le=1.0)
    recovery_rate: float = PydanticField(default=0.5, ge=0.0, le=1.0)
    duplicate_rate: float = PydanticField(default=0.0, ge=0.0, le=1.0)


class ControlIn(_Strict):
    """Change one carrier's faults and journeys (every carrier's when ``carrier`` is left out).

    Fields left out keep their value.
    """

    carrier: Carrier | None = PydanticField(default=None, strict=False)
    outage: bool | None = None
    fail_rate: float | None = PydanticField(default=None, ge=0.0, le=1.0, strict=False)
    latency_ms: int | None = PydanticField(default=None, ge=0, le=60_000)
    step_seconds: float | None = PydanticField(default=None, ge=0.05, le=3600)
    exception_rate: float | None = PydanticField(default=None, ge=0.0, le=1.0)
    recovery_rate: float | None = PydanticField(default=None, ge=0.0, le=1.0)
    duplicate_rate: float | None = PydanticField(default=None, ge=0.0, le=1.0)


class Calls(BaseModel):
    rates: int = 0
    labels: int = 0
    voids: int = 0


class OutboxCounts(BaseModel):
    """A carrier's webhook events by state."""

    pending: int = 0
    delivered: int = 0
    rejected: int = 0


class CarrierControl(BaseModel):
    """One carrier's injected faults, its journeys' settings, the calls it received and its outbox."""

    carrier: Carrier
    outage: bool
    fail_rate: float
    latency_ms: int
    step_seconds: float
    exception_rate: float
    recovery_rate: float
    duplicate_rate: float
    calls: Calls
    #: Where its events are posted (None: nowhere, they stay pending).
    webhook_url: str | None
    outbox: OutboxCounts


class EventState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    REJECTED = "rejected"


class OutboxEvent(BaseModel):
    """One delivery event in the outbox: what was (or will be) posted and how the webhook answered.

    ``answer_status``/``answer`` are the last answer's HTTP status and text (truncated), or the
    connection error's text (status None); ``next_attempt_at`` is set while the event is pending.
    """

    id: int
    event_id: str
    carrier: Carrier
    tracking_code: str
    status: str
    occurred_at: datetime
    state: EventState
    attempts: int
    #: Posted twice, the same bytes (``duplicate_rate``).
    duplicated: bool
    answer_status: int | None
    answer: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    #: The event exactly as posted (the body the signature covers), parsed.
    body: dict[str, Any]

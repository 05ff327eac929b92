"""The gateway's tracking shapes: carrier webhook events, a shipment's trail, subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gateway.warehouse_models import TRACKING_PATTERN

#: The statuses a carrier reports.
DeliveryStatus = Literal["IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED", "EXCEPTION"]
EVENT_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,100}$"
CARRIER_PATTERN = r"^[A-Z][A-Z0-9]{1,15}$"
#: A carrier's webhook body is small; anything larger is refused before it is parsed.
MAX_WEBHOOK_BYTES = 16 * 1024


class Position(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class CarrierEvent(BaseModel):
    """One event a carrier posts to ``/api/webhooks/carriers/{carrier}`` (signed, see ``common.webhooks``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    event_id: str = Field(pattern=EVENT_ID_PATTERN)
    tracking_code: str = Field(pattern=TRACKING_PATTERN)
    carrier: str = Field(pattern=CARRIER_PATTERN)
    status: DeliveryStatus
    occurred_at: AwareDatetime = Field(strict=False)
    position: Position | None = None
    location: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=200)


class EventApplied(BaseModel):
    """The shipping service's answer to an event."""

    event_id: str
    order_id: str
    tracking_code: str
    result: Literal["applied", "stale", "duplicate"]
    status_changed: bool
    status: str
    forwarded: bool


class WebhookAck(BaseModel):
    """What the carrier gets back: ``duplicate`` and ``stale`` changed nothing."""

    event_id: str
    result: Literal["applied", "stale", "duplicate"]
    status: str


class TrailEntry(BaseModel):
    event_id: str
    status: str
    occurred_at: datetime
    received_at: datetime | None = None
    position: Position | None = None
    location: str | None = None
    reason: str | None = None
    applied: bool


class TrackingView(BaseModel):
    """A shipment's status and its trail of positions and statuses, oldest first."""

    tracking_code: str
    carrier: str | None
    status: str
    last_event_at: datetime | None = None
    position: Position | None = None
    trail: list[TrailEntry]


class TrackingRecord(TrackingView):
    """The shipping service's view (it also names the order, which the gateway does not show)."""

    order_id: str


class SubscribeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    title: str = Field(min_length=1, max_length=120)


class SubscriptionView(BaseModel):
    tracking_code: str
    title: str
    carrier: str | None = None
    status: str
    last_event_at: datetime | None = None
    created_at: datetime | None = None


class SubscriptionPage(BaseModel):
    """The caller's subscriptions, newest first, each with its shipment's live status."""

    items: list[SubscriptionView]
    limit: int
    offset: int
    next_cursor: str | None = Field(default=None, description="Always null: walk with offset")
    total: int | None = None

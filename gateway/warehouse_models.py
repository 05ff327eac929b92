"""The ``/api`` models of the warehouse floor: waves, pick tasks, packing, shipments, carriers.

Request bodies are strict (no coercion, no unknown fields, bounded). The
views are what the gateway answers; the ``*Record`` models are what the
warehouse and shipping services answer, as far as the gateway reads them
(their other fields are ignored; a body outside them is a 502).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from gateway.models import SKU_PATTERN, AddressRequest, _Strict
from workflows.warehouse_types import DEFAULT_MAX_LINES, DEFAULT_MAX_ORDERS

#: Location codes like ``A-03-02-1`` (zone, aisle, rack, level).
LOCATION_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,31}$"
LOT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$"
STATION_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,31}$"
#: Wave, task and order ids in paths: what the gateway and the services give out.
ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
TRACKING_PATTERN = r"^[A-Za-z0-9]{1,32}$"  # as the shipping service takes them
MAX_UNITS = 1000


# -- requests ---------------------------------------------------------------------------
class PlanWaveRequest(_Strict):
    max_orders: int = Field(default=DEFAULT_MAX_ORDERS, ge=1, le=500, description="At most this many orders")
    max_lines: int = Field(default=DEFAULT_MAX_LINES, ge=1, le=5000, description="At most this many order lines")


class PickScanRequest(_Strict):
    """What the scanner read at the bin: it must match the task; a smaller quantity is a short pick."""

    location: str = Field(pattern=LOCATION_PATTERN, examples=["A-03-02-1"])
    sku: str = Field(pattern=SKU_PATTERN, examples=["MUG-RED"])
    lot: str | None = Field(
        default=None,
        pattern=LOT_PATTERN,
        examples=["L2024-07"],
        description="The lot on the label; null for SKUs without lots",
    )
    quantity: int = Field(ge=0, le=MAX_UNITS, description="Units taken from the bin (0 ≤ quantity ≤ the task's)")


class PackItemRequest(_Strict):
    sku: str = Field(pattern=SKU_PATTERN, examples=["MUG-RED"])
    quantity: int = Field(gt=0, le=MAX_UNITS, examples=[2])


class PackRequest(_Strict):
    station: str = Field(pattern=STATION_PATTERN, examples=["PACK-1"])
    items: list[PackItemRequest] = Field(min_length=1, max_length=100, description="Every item scanned into the carton")


class ChangeAddressBody(_Strict):
    shipping_address: AddressRequest


# -- views ------------------------------------------------------------------------------
class TaskView(BaseModel):
    """A pick task: go to ``location``, take ``quantity`` of ``sku`` from ``lot``."""

    task_id: str
    wave_id: str
    order_id: str
    sku: str
    location: str
    lot: str | None = Field(description="Null for SKUs kept without lots")
    quantity: int
    status: str = Field(description="OPEN, ASSIGNED, PICKED, SHORT or CANCELLED")
    picked_quantity: int | None = None
    assigned_to: str | None = None
    expiry_date: str | None = None
    pick_seq: int | None = None


class WaveCounts(BaseModel):
    open: int = 0
    assigned: int = 0
    picked: int = 0
    short: int = 0
    cancelled: int = 0


class WaveView(BaseModel):
    wave_id: str
    status: str = Field(description="PLANNING (not planned yet), PLANNED, RELEASED, PICKING, DONE or CANCELLED")
    order_ids: list[str]
    tasks: list[TaskView] = Field(default_factory=list)
    counts: WaveCounts = Field(default_factory=WaveCounts)
    created_at: str | None = None
    released_at: str | None = None
    done_at: str | None = None


class WaveSummary(BaseModel):
    wave_id: str
    status: str
    order_ids: list[str] = Field(default_factory=list)
    counts: WaveCounts = Field(default_factory=WaveCounts)
    created_at: str | None = None
    released_at: str | None = None
    done_at: str | None = None


class WavePage(BaseModel):
    """A page of waves, newest first (the warehouse pages by offset)."""

    items: list[WaveSummary]
    total: int | None = Field(description="Waves matching the filter; null when the warehouse does not count them")
    limit: int
    offset: int
    next_cursor: str | None = Field(default=None, description="Always null: waves page by offset")


class PickConfirmedView(BaseModel):
    """The answer to a pick scan; with 202 ``status`` is ``PENDING`` (accepted, still being recorded)."""

    task_id: str
    status: Literal["PICKED", "SHORT", "PENDING"]
    picked_quantity: int | None
    short_quantity: int | None
    new_task_ids: list[str] = Field(default_factory=list, description="Tasks made to find the missing units elsewhere")


class PackItemView(BaseModel):
    sku: str
    quantity: int


class PackResultView(BaseModel):
    """The carton closed (``PACKED``); with 202 ``PACKING`` (accepted, still running)."""

    order_id: str
    status: Literal["PACKED", "PACKING"]
    carton: str | None = None


class OperatorRetryView(BaseModel):
    """A PickPackShip that was waiting for an operator after goods issue, told to try its step again."""

    order_id: str
    status: str = Field(description="The floor's stage: SHIPPING while it finishes, SHIPPED once done")
    needs_operator: str | None = Field(description="The step still waiting, if the retry failed again at once")


class ShipmentView(BaseModel):
    shipment_id: str
    order_id: str
    tracking_code: str
    carrier: str
    service_level: str
    carton: str
    rate_cents: int
    currency: str
    status: str
    created_at: str | None = None
    #: The carrier's last event (null until the parcel moves).
    last_event_at: str | None = None


class ShipmentPage(BaseModel):
    """A page of shipments; continue with ``?cursor=next_cursor``."""

    items: list[ShipmentView]
    total: int | None = Field(default=None, description="Null when the shipping service does not count them")
    limit: int
    offset: int = 0
    next_cursor: str | None = Field(default=None, description="Opaque; null when there is no next page")


class CarrierView(BaseModel):
    """A carrier's circuit breaker at the shipping service."""

    carrier: str
    state: Literal["closed", "open", "half-open"]
    failures: int
    opened_at: str | None = None


# -- what the services answer -----------------------------------------------------------
class WaveListRecord(BaseModel):
    """The warehouse's ``GET /waves``: a page, or (older contract reading) a bare list."""

    items: list[WaveSummary]
    total: int | None = None
    limit: int | None = None
    offset: int | None = None
    next_cursor: str | None = None


class ShipmentPageRecord(BaseModel):
    """The shipping service's ``GET /shipments`` page."""

    items: list[ShipmentView]
    total: int | None = None
    limit: int | None = None
    offset: int | None = None
    next_cursor: str | None = None

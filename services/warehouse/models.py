"""Warehouse models: locations, bin stock, the wave backlog, waves and pick tasks.

Table models stay inside the service; the ``*In`` models are the strict
request bodies (unknown fields refused, strings bounded) and the ``*Public``
models what the routes answer.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, Column, Date, DateTime, ForeignKey, Identity, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from services.inventory.models import SKU_PATTERN

#: ``A-03-02-1``: zone ``A``, aisle ``03``, rack ``02``, level ``1``.
LOCATION_PATTERN = r"^[A-Z]-[0-9]{2}-[0-9]{2}-[0-9]$"
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
LOT_PATTERN = r"^[A-Za-z0-9_./-]{1,64}$"
MAX_QUANTITY = 100_000
#: Pack stations of the floor (``GET /stations``).
STATIONS = ("PACK-1", "PACK-2")


class LocationType(StrEnum):
    """``ADJUST`` is the stock-adjustment bin's alone (:data:`ADJUSTMENT_BIN`)."""

    PICK = "PICK"
    RESERVE = "RESERVE"
    ADJUST = "ADJUST"


#: The stock-adjustment bin (migration 0004): "somewhere in the building" for the ERP's count differences.
#: Locked for good and never allocated from; its bin rows may go below zero and never hold an allocation.
ADJUSTMENT_BIN = "X-00-00-0"
#: Largest change one ERP adjustment may carry (either sign).
MAX_ADJUSTMENT = 10_000_000
#: Adjustments per ``POST /stock/adjustments``.
MAX_ADJUSTMENTS = 1000


class ServiceLevel(StrEnum):
    STANDARD = "STANDARD"
    EXPRESS = "EXPRESS"


class BacklogStatus(StrEnum):
    """``WAITING`` for a wave, ``PLANNED`` into one, ``RELEASED`` to the floor, or ``WITHDRAWN``;
    ``HELD`` out of every wave while the ERP holds the order (credit hold), then ``WAITING`` again."""

    WAITING = "WAITING"
    PLANNED = "PLANNED"
    RELEASED = "RELEASED"
    WITHDRAWN = "WITHDRAWN"
    HELD = "HELD"


class WaveStatus(StrEnum):
    PLANNED = "PLANNED"
    RELEASED = "RELEASED"
    PICKING = "PICKING"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


class TaskStatus(StrEnum):
    OPEN = "OPEN"
    ASSIGNED = "ASSIGNED"
    PICKED = "PICKED"
    SHORT = "SHORT"
    CANCELLED = "CANCELLED"


#: Tasks still waiting for a picker: their whole ``quantity`` is allocated.
LIVE_TASKS = (TaskStatus.OPEN, TaskStatus.ASSIGNED)
#: Settled tasks holding what was picked: their ``picked_quantity`` is allocated until goods issue.
PICKED_TASKS = (TaskStatus.PICKED, TaskStatus.SHORT)


# --- tables -----------------------------------------------------------------------------------------------------


class Location(SQLModel, table=True):
    """A bin on the floor; ``pick_seq`` is its place on the pick path (unique)."""

    __tablename__ = "locations"

    code: str = Field(primary_key=True, max_length=16)
    zone: str = Field(max_length=1)
    aisle: int
    rack: int
    level: int
    pick_seq: int = Field(unique=True)
    type: LocationType = Field(sa_column=Column(String(8), nullable=False))
    locked: bool = False
    lock_reason: str | None = Field(default=None, max_length=200)
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class BinStock(SQLModel, table=True):
    """Units of one SKU and lot in one location.

    Table constraints: ``0 ≤ allocated ≤ quantity``, except in the adjustment
    bin, whose rows may go below zero and always have ``allocated = 0``.
    """

    __tablename__ = "bin_stock"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    location: str = Field(sa_column=Column(String(16), ForeignKey("locations.code"), nullable=False))
    sku: str = Field(max_length=64)
    lot: str | None = Field(default=None, max_length=64)
    expiry_date: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    quantity: int = 0
    allocated: int = 0


class AppliedAdjustment(SQLModel, table=True):
    """An ERP stock adjustment (inventory's id) applied once to the adjustment bin."""

    __tablename__ = "applied_adjustments"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    sku: str = Field(max_length=64)
    delta: int
    applied_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class BacklogOrder(SQLModel, table=True):
    """An order handed to the warehouse, waiting for (or in) a wave.

    A ``WITHDRAWN`` row without ``placed_at`` is a tombstone: withdrawn before it came.
    """

    __tablename__ = "backlog"

    order_id: str = Field(primary_key=True, max_length=64)
    status: BacklogStatus = Field(sa_column=Column(String(16), nullable=False))
    service_level: ServiceLevel | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    priority: int = 0
    placed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    cutoff_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    line_count: int = 0
    wave_id: str | None = Field(default=None, max_length=64)
    issued_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    #: When the issued units came back into their bins (a failed delivery); set once.
    restocked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    picks_returned_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class Wave(SQLModel, table=True):
    __tablename__ = "waves"

    wave_id: str = Field(primary_key=True, max_length=64)
    status: WaveStatus = Field(sa_column=Column(String(16), nullable=False))
    max_orders: int
    max_lines: int
    shortages: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    allocated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    released_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    done_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class WaveOrder(SQLModel, table=True):
    """An order of a wave, in planning order (``position``)."""

    __tablename__ = "wave_orders"

    wave_id: str = Field(sa_column=Column(String(64), ForeignKey("waves.wave_id"), primary_key=True))
    order_id: str = Field(sa_column=Column(String(64), ForeignKey("backlog.order_id"), primary_key=True))
    position: int


class PickTask(SQLModel, table=True):
    """Pick ``quantity`` units of one bin row for one order.

    The bin's ``allocated`` counts ``quantity`` while the task is OPEN/ASSIGNED
    and ``picked_quantity`` once it is PICKED/SHORT, until goods issue.
    """

    __tablename__ = "pick_tasks"

    task_id: str = Field(primary_key=True, max_length=32)
    seq: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), nullable=False, unique=True))
    wave_id: str = Field(sa_column=Column(String(64), ForeignKey("waves.wave_id"), nullable=False))
    order_id: str = Field(max_length=64)
    sku: str = Field(max_length=64)
    bin_id: int = Field(sa_column=Column(BigInteger, ForeignKey("bin_stock.id"), nullable=False))
    location: str = Field(max_length=16)
    lot: str | None = Field(default=None, max_length=64)
    expiry_date: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    pick_seq: int
    quantity: int
    picked_quantity: int = 0
    status: TaskStatus = Field(sa_column=Column(String(16), nullable=False))
    assigned_to: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


# --- requests ---------------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    # strict: a wrong JSON type is refused, not coerced; enum and time fields say strict=False so strings validate.
    model_config = ConfigDict(extra="forbid", strict=True)


class LockIn(_Strict):
    reason: str = PydanticField(min_length=1, max_length=200)


class LineIn(_Strict):
    sku: str = PydanticField(pattern=SKU_PATTERN)
    quantity: int = PydanticField(gt=0, le=1000)


class BacklogIn(_Strict):
    """An accepted order waiting for a wave; ``priority`` 0..9, higher first."""

    order_id: str = PydanticField(pattern=ID_PATTERN)
    lines: list[LineIn] = PydanticField(min_length=1, max_length=100)
    service_level: ServiceLevel = PydanticField(default=ServiceLevel.STANDARD, strict=False)
    priority: int = PydanticField(default=0, ge=0, le=9)
    placed_at: AwareDatetime = PydanticField(strict=False)


class WaveCreate(_Strict):
    """Plan wave ``wave_id`` now from the waiting orders, within the limits."""

    wave_id: str = PydanticField(pattern=ID_PATTERN)
    max_orders: int = PydanticField(default=50, ge=1, le=1000)
    max_lines: int = PydanticField(default=500, ge=1, le=10_000)


class OrderRefIn(_Strict):
    order_id: str = PydanticField(pattern=ID_PATTERN)


class ConfirmIn(_Strict):
    """What the scanner read at the bin; ``quantity`` below the task's is a short pick."""

    location: str = PydanticField(pattern=LOCATION_PATTERN)
    sku: str = PydanticField(pattern=SKU_PATTERN)
    lot: str | None = PydanticField(default=None, pattern=LOT_PATTERN)
    quantity: int = PydanticField(ge=0, le=MAX_QUANTITY)
    picker: str = PydanticField(pattern=ID_PATTERN)


class SkuQuantityIn(_Strict):
    sku: str = PydanticField(pattern=SKU_PATTERN)
    quantity: int = PydanticField(gt=0, le=MAX_QUANTITY)


class AdjustmentIn(_Strict):
    """One of inventory's stock adjustments: ``delta`` units of ``sku`` into (or out of) the adjustment bin."""

    id: int = PydanticField(ge=1, le=2**63 - 1)
    sku: str = PydanticField(pattern=SKU_PATTERN)
    delta: int = PydanticField(ge=-MAX_ADJUSTMENT, le=MAX_ADJUSTMENT)

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, delta: int) -> int:
        if delta == 0:
            raise ValueError("an adjustment changes stock: delta must not be 0")
        return delta


class AdjustmentsIn(_Strict):
    """Adjustments to apply, each id once; one id given twice must carry the same SKU and delta."""

    items: list[AdjustmentIn] = PydanticField(min_length=1, max_length=MAX_ADJUSTMENTS)

    @model_validator(mode="after")
    def _one_content_per_id(self) -> AdjustmentsIn:
        seen: dict[int, AdjustmentIn] = {}
        for item in self.items:
            if seen.setdefault(item.id, item) != item:
                raise ValueError(f"adjustment {item.id} is given twice with different content")
        return self


class MoveIn(_Strict):
    """Move ``quantity`` free units of one SKU and lot from bin ``from`` to bin ``to``."""

    sku: str = PydanticField(pattern=SKU_PATTERN)
    source: str = PydanticField(alias="from", pattern=LOCATION_PATTERN)
    destination: str = PydanticField(alias="to", pattern=LOCATION_PATTERN)
    quantity: int = PydanticField(gt=0, le=MAX_QUANTITY)
    lot: str | None = PydanticField(default=None, pattern=LOT_PATTERN)

    @model_validator(mode="after")
    def _two_bins(self) -> MoveIn:
        if self.source == self.destination:
            raise ValueError("from and to are the same location")
        return self


# --- answers ----------------------------------------------------------------------------------------------------


class LocationPublic(BaseModel):
    code: str
    zone: str
    aisle: int
    rack: int
    level: int
    pick_seq: int
    type: LocationType
    locked: bool
    lock_reason: str | None


class BinStockPublic(BaseModel):
    location: str
    sku: str
    lot: str | None
    expiry_date: date | None
    received_at: datetime
    quantity: int
    allocated: int


class AdjustmentsApplied(BaseModel):
    """``applied``: ids applied now; ``duplicate``: items whose id was applied before (or earlier in the body)."""

    applied: int
    duplicate: int


class StockMoved(BaseModel):
    """A move's answer: both bin rows of the SKU and lot as they stand after it."""

    # Stored answers are dumped by field name and read back for a replay: both names validate.
    model_config = ConfigDict(populate_by_name=True)

    sku: str
    lot: str | None
    quantity: int
    source: BinStockPublic = PydanticField(alias="from")
    destination: BinStockPublic = PydanticField(alias="to")


class StockTotalPublic(BaseModel):
    sku: str
    quantity: int
    allocated: int


class StationPublic(BaseModel):
    code: str


class LinePublic(BaseModel):
    sku: str
    quantity: int


class BacklogPublic(BaseModel):
    order_id: str
    status: BacklogStatus
    service_level: ServiceLevel
    priority: int
    placed_at: datetime
    cutoff_at: datetime
    wave_id: str | None
    lines: list[LinePublic]


class BacklogState(BaseModel):
    """An order's warehouse state after an undo; ``status`` null when there was nothing (a tombstone stands)."""

    order_id: str
    status: str | None


class TaskPublic(BaseModel):
    task_id: str
    wave_id: str
    order_id: str
    sku: str
    location: str
    lot: str | None
    expiry_date: date | None
    quantity: int
    picked_quantity: int
    status: TaskStatus
    assigned_to: str | None
    pick_seq: int


class TaskCounts(BaseModel):
    open: int = 0
    assigned: int = 0
    picked: int = 0
    short: int = 0
    cancelled: int = 0


class WavePublic(BaseModel):
    wave_id: str
    status: WaveStatus
    order_ids: list[str]
    tasks: list[TaskPublic]
    counts: TaskCounts
    max_orders: int
    max_lines: int
    created_at: datetime
    released_at: datetime | None
    done_at: datetime | None


class Shortage(BaseModel):
    """Units of an order's line that no unlocked bin had."""

    order_id: str
    sku: str
    quantity: int


class WaveAllocation(WavePublic):
    shortages: list[Shortage]


class NextTask(BaseModel):
    """``/tasks/next``'s answer inside the unit of work (``task`` null becomes a 204)."""

    task: TaskPublic | None


class TaskConfirmed(BaseModel):
    task: TaskPublic
    short_quantity: int


class Reallocated(BaseModel):
    """New OPEN tasks; ``unallocated`` units could not be placed (always 0 for a repick)."""

    tasks: list[TaskPublic]
    unallocated: int


class IssueState(BaseModel):
    order_id: str
    status: str
    lines: list[LinePublic]


class RestockLine(BaseModel):
    """Units put back into one bin (location and lot) they were picked from."""

    sku: str
    location: str
    lot: str | None
    quantity: int


class RestockState(BaseModel):
    """``status`` is always ``RESTOCKED``; ``lines`` by SKU, then pick path."""

    order_id: str
    status: str
    lines: list[RestockLine]

"""Inventory models: products with stock, reservations per order, the ERP import's pages and its events,
and the stock adjustments the ERP's counts make."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, ForeignKey, Identity, Index, String, text
from sqlmodel import Field, SQLModel

from common.erp_events import ErpEventIn
from common.erp_import import MAX_PAGE_ITEMS, ChangeTime, WatermarkIn, WatermarkPublic

SKU_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,63}$"
MAX_LINE_QUANTITY = 1000
#: Bounds of an adjustment of one SKU of a reservation (lines of one SKU add up).
MAX_ADJUST_QUANTITY = 100_000
MAX_WEIGHT_GRAMS = 1_000_000
MAX_VOLUME_CM3 = 10_000_000
MAX_PRICE_CENTS = 100_000_000
#: Counted stock of one SKU (``on_hand`` is an ``integer`` column).
MAX_ON_HAND = 10_000_000
#: A GTIN (EAN-8, UPC-A, EAN-13, GTIN-14): digits only; the check digit is the ERP's business.
EAN_PATTERN = r"^[0-9]{8,14}$"
#: Longest ``?q=`` of the product search: no name is longer, so a longer one matches nothing.
MAX_QUERY_LENGTH = 200
#: The largest page of ``GET /stock/adjustments`` and the most ids one ``POST /stock/adjustments/posted`` takes.
MAX_ADJUSTMENTS_PAGE = 1000
#: ``stock_adjustments.id`` is a ``bigint``: a larger id is refused as input, not by the database.
MAX_ADJUSTMENT_ID = 2**63 - 1


class ProductBase(SQLModel):
    sku: str = Field(primary_key=True, max_length=64, regex=SKU_PATTERN)
    name: str = Field(max_length=200, min_length=1)
    price_cents: int = Field(ge=0)
    currency: str = Field(default="EUR", min_length=3, max_length=3)


class Product(ProductBase, table=True):
    """A SKU and its stock. ``on_hand = available + reserved`` is a table constraint."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("available >= 0", name="available_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("on_hand = available + reserved", name="stock_balances"),
    )

    on_hand: int = 0
    available: int = 0
    reserved: int = 0
    weight_grams: int = 0
    volume_cm3: int = 0
    ean: str | None = Field(default=None, sa_column=Column(String(14), nullable=True))
    #: The ERP's ``LastChangedAt`` of the material data last applied (null: never imported).
    erp_changed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    #: The ERP's ``LastChangedAt`` of the on-hand count last applied (null: never imported).
    stock_changed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ProductUpsert(BaseModel):
    """Create or update a SKU; ``on_hand`` sets the physical stock count.

    ``weight_grams`` / ``volume_cm3`` left out keep the stored values (0 for a new SKU).
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = PydanticField(min_length=1, max_length=200)
    price_cents: int = PydanticField(ge=0, le=MAX_PRICE_CENTS)
    currency: str = PydanticField(default="EUR", pattern=r"^[A-Z]{3}$")
    on_hand: int = PydanticField(ge=0, le=MAX_ON_HAND)
    weight_grams: int | None = PydanticField(default=None, ge=0, le=MAX_WEIGHT_GRAMS)
    volume_cm3: int | None = PydanticField(default=None, ge=0, le=MAX_VOLUME_CM3)


class ProductPublic(BaseModel):
    sku: str
    name: str
    price_cents: int
    currency: str
    on_hand: int
    available: int
    reserved: int
    weight_grams: int
    volume_cm3: int
    ean: str | None = None


class ProductPage(BaseModel):
    """A page of the catalogue in SKU order; ``total``: products matching ``q`` on every page."""

    items: list[ProductPublic]
    total: int
    limit: int
    offset: int


class StockTotal(BaseModel):
    """One SKU's totals, for the stock check across services."""

    sku: str
    on_hand: int
    available: int
    reserved: int


class ReservationStatus(StrEnum):
    """``ACTIVE → COMMITTED`` (goods issue) ``→ RETURNED`` (a failed delivery came back), or ``RELEASED``."""

    ACTIVE = "ACTIVE"
    COMMITTED = "COMMITTED"
    RELEASED = "RELEASED"
    RETURNED = "RETURNED"


class Reservation(SQLModel, table=True):
    """All stock held for one order; at most one reservation per order.

    A RELEASED header without lines is a tombstone: released before anything was held.
    """

    __tablename__ = "reservations"

    order_id: str = Field(primary_key=True, max_length=64)
    status: ReservationStatus = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ReservationLine(SQLModel, table=True):
    __tablename__ = "reservation_lines"

    order_id: str = Field(
        sa_column=Column(String(64), ForeignKey("reservations.order_id", ondelete="CASCADE"), primary_key=True)
    )
    sku: str = Field(sa_column=Column(String(64), ForeignKey("products.sku"), primary_key=True))
    quantity: int = Field(gt=0)
    #: Units of ``quantity`` that came back after goods issue (``0 ≤ returned ≤ quantity``).
    returned: int = 0


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = PydanticField(pattern=SKU_PATTERN)
    quantity: int = PydanticField(gt=0, le=MAX_LINE_QUANTITY)


class ReservationCreate(BaseModel):
    """Hold ``lines`` for ``order_id``: all of them, or none."""

    model_config = ConfigDict(extra="forbid", strict=True)

    order_id: str = PydanticField(min_length=1, max_length=64)
    lines: list[LineIn] = PydanticField(min_length=1, max_length=100)


class ReservationLinePublic(BaseModel):
    sku: str
    quantity: int


class ReservationPublic(BaseModel):
    """A reservation; ``status`` is null when a release found nothing held (a tombstone now stands).

    ``lines`` are the units held; once ``COMMITTED`` (or ``RETURNED``) the units issued.
    """

    order_id: str
    status: ReservationStatus | None
    lines: list[ReservationLinePublic]


class AdjustIn(BaseModel):
    """Move ``quantity`` units of ``sku`` into or out of a reservation (top-up, release-units)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = PydanticField(pattern=SKU_PATTERN)
    quantity: int = PydanticField(gt=0, le=MAX_ADJUST_QUANTITY)


class ReturnIn(BaseModel):
    """Units of a committed reservation that came back (a failed delivery); lines of one SKU add up."""

    model_config = ConfigDict(extra="forbid", strict=True)

    lines: list[AdjustIn] = PydanticField(min_length=1, max_length=100)


class WriteOffIn(AdjustIn):
    """Reserved units that vanished (a short pick): they leave ``on_hand`` and the reservation."""

    reason: str = PydanticField(min_length=1, max_length=200)


# -- the ERP import (docs/erp.md, part B) ---------------------------------------------------


class MaterialIn(BaseModel):
    """One material as the importer converts it (grams, cubic centimetres, cents)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = PydanticField(pattern=SKU_PATTERN)
    name: str = PydanticField(min_length=1, max_length=200)
    price_cents: int = PydanticField(ge=0, le=MAX_PRICE_CENTS)
    currency: str = PydanticField(pattern=r"^[A-Z]{3}$")
    weight_grams: int = PydanticField(ge=0, le=MAX_WEIGHT_GRAMS)
    volume_cm3: int = PydanticField(ge=0, le=MAX_VOLUME_CM3)
    ean: str | None = PydanticField(default=None, pattern=EAN_PATTERN)
    changed_at: ChangeTime = PydanticField(strict=False, examples=["2026-05-04T10:15:00.000001Z"])


class MaterialsPage(BaseModel):
    """A page of materials and where the next page starts (stored with the rows, ``entity = "materials"``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[MaterialIn] = PydanticField(min_length=1, max_length=MAX_PAGE_ITEMS)
    watermark: WatermarkIn


class MaterialsResult(BaseModel):
    """What the page did: ``unchanged`` rows were not newer than what is stored (or repeated in the page)."""

    inserted: int
    updated: int
    unchanged: int
    watermark: WatermarkPublic


class StockIn(BaseModel):
    """One SKU's on-hand count as the ERP knows it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = PydanticField(pattern=SKU_PATTERN)
    on_hand: int = PydanticField(ge=0, le=MAX_ON_HAND)
    changed_at: ChangeTime = PydanticField(strict=False, examples=["2026-05-04T10:15:00.000001Z"])


class StockPage(BaseModel):
    """A page of stock counts and where the next page starts (``entity = "stock"``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[StockIn] = PydanticField(min_length=1, max_length=MAX_PAGE_ITEMS)
    watermark: WatermarkIn


class StockRejection(BaseModel):
    sku: str
    reason: str = PydanticField(examples=["StockBelowReserved"])


class StockResult(BaseModel):
    """What the page did; ``unknown`` SKUs and ``rejected`` counts changed nothing, the rest applied."""

    updated: int
    unchanged: int
    unknown: list[str]
    rejected: list[StockRejection]
    watermark: WatermarkPublic


class InventoryWatermarks(BaseModel):
    """Where each entity's import stands (``null``: no page committed yet)."""

    materials: WatermarkPublic | None
    stock: WatermarkPublic | None


# -- the ERP's events (docs/erp.md, part C) ---------------------------------------------------


class InventoryErpEventIn(ErpEventIn):
    """A ``MaterialChanged`` (with ``material``) or ``StockChanged`` (with ``stock``), converted by the gateway
    as the import converts its pages; ``object_id`` is the SKU."""

    type: Literal["MaterialChanged", "StockChanged"]
    material: MaterialIn | None = None
    stock: StockIn | None = None

    @model_validator(mode="after")
    def _one_object_of_its_type(self) -> InventoryErpEventIn:
        item = self.material if self.type == "MaterialChanged" else self.stock
        other = self.stock if self.type == "MaterialChanged" else self.material
        if item is None or other is not None:
            wanted = "material" if self.type == "MaterialChanged" else "stock"
            raise ValueError(f"a {self.type} carries {wanted!r} and nothing else")
        if item.sku != self.object_id:
            raise ValueError(f"the event is about {self.object_id}, its data about {item.sku}")
        return self


# -- stock adjustments (docs/erp.md, part D) ---------------------------------------------------


class AdjustmentSource(StrEnum):
    """What changed the count: an import page or a ``StockChanged`` event."""

    ERP_PAGE = "erp-page"
    ERP_EVENT = "erp-event"


class StockAdjustment(SQLModel, table=True):
    """One on-hand change an ERP count made (``delta`` never 0, ``on_hand`` after it), written by ``set_stock``.

    ``ref`` names what carried the count: the page (its watermark) or the event id. ``posted_at`` is set
    once the warehouse has taken the delta into its stock-adjustment bin; until then the row is pending.
    """

    __tablename__ = "stock_adjustments"
    __table_args__ = (
        CheckConstraint("delta <> 0", name="adjustment_delta_not_zero"),
        CheckConstraint("on_hand >= 0", name="adjustment_on_hand_not_negative"),
        CheckConstraint("source IN ('erp-page', 'erp-event')", name="adjustment_source"),
        Index("ix_stock_adjustments_pending", "id", postgresql_where=text("posted_at IS NULL")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    sku: str = Field(sa_column=Column(String(64), nullable=False))
    delta: int
    on_hand: int
    source: AdjustmentSource = Field(sa_column=Column(String(16), nullable=False))
    ref: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    posted_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class StockAdjustmentPublic(BaseModel):
    """One adjustment; ``posted_at`` null: not yet taken by the warehouse."""

    id: int
    sku: str
    delta: int
    on_hand: int
    source: AdjustmentSource
    ref: str = PydanticField(examples=["MAT-00001@2026-05-04T10:15:00.000001Z"])
    created_at: datetime
    posted_at: datetime | None


class StockAdjustmentPage(BaseModel):
    """Adjustments, oldest first; ``total``: adjustments matching the filters, on every page."""

    items: list[StockAdjustmentPublic]
    total: int
    limit: int
    offset: int


class AdjustmentsPostedIn(BaseModel):
    """Adjustments the warehouse has taken into its stock-adjustment bin."""

    model_config = ConfigDict(extra="forbid", strict=True)

    ids: list[Annotated[int, PydanticField(ge=1, le=MAX_ADJUSTMENT_ID)]] = PydanticField(
        min_length=1, max_length=MAX_ADJUSTMENTS_PAGE
    )


class AdjustmentsPosted(BaseModel):
    """How many of the ids were marked posted now (those already posted, and unknown ids, are not counted)."""

    posted: int

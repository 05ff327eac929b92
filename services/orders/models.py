"""Orders: the order, its lines and its status history."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from common.erp_events import ErpEventIn, ErpEventRecorded
from common.vocabulary import CancelReason as CancelReason  # re-exported: the wire vocabulary
from common.vocabulary import OrderStatus as OrderStatus

SKU_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,63}$"
#: The ERP's sales order number (SAP's ``VBELN``: up to 10 characters; the stand-in's are 10 digits).
ERP_DOCUMENT_PATTERN = r"^[0-9A-Z]{1,10}$"
ORDER_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
#: A sales order's ``OverallStatus`` as the ERP names it (``OPEN``, ``CREDIT_HOLD``, ``CANCELLED``, ...).
ERP_STATUS_PATTERN = r"^[A-Z][A-Z_]{0,23}$"


class Order(SQLModel, table=True):
    __tablename__ = "orders"

    order_id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(max_length=64, index=True)
    customer_email: str = Field(max_length=254)
    status: OrderStatus = Field(sa_column=Column(String(24), nullable=False))
    cancel_reason: CancelReason | None = Field(default=None, sa_column=Column(String(24), nullable=True))
    total_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    shipping_address: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    tracking_code: str | None = Field(default=None, max_length=64)
    carrier: str | None = Field(default=None, max_length=32)
    shipped_lines: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    #: The order's sales order in the ERP; set once, with the move to ``AWAITING_WAVE``.
    erp_document_number: str | None = Field(default=None, max_length=10)


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_lines"

    order_id: str = Field(
        sa_column=Column(String(64), ForeignKey("orders.order_id", ondelete="CASCADE"), primary_key=True)
    )
    line_no: int = Field(sa_column=Column(Integer, primary_key=True))
    sku: str = Field(max_length=64)
    quantity: int
    unit_price_cents: int = Field(sa_column=Column(BigInteger, nullable=False))


class StatusChange(SQLModel, table=True):
    """One status change. The table also has ``xid`` (the writing transaction, ``xid8``, filled by its
    default; migration 0006), read only by the history feed's plain SQL, so it is not mapped here."""

    __tablename__ = "order_status_history"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(sa_column=Column(String(64), ForeignKey("orders.order_id", ondelete="CASCADE"), index=True))
    from_status: str | None = Field(default=None, max_length=24)
    to_status: str = Field(max_length=24)
    reason: str | None = Field(default=None, max_length=64)
    actor: str | None = Field(default=None, max_length=64)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class OrderAlert(SQLModel, table=True):
    """Something operators must settle by hand, e.g. an undo that could never succeed."""

    __tablename__ = "order_alerts"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(sa_column=Column(String(64), ForeignKey("orders.order_id", ondelete="CASCADE")))
    kind: str = Field(max_length=32)
    step: str = Field(max_length=64)
    detail: str = Field(max_length=500)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class _Strict(BaseModel):
    # strict: a wrong JSON type is refused, not coerced; enum fields say strict=False so their strings validate.
    model_config = ConfigDict(extra="forbid", strict=True)


class LineIn(_Strict):
    sku: str = PydanticField(pattern=SKU_PATTERN)
    quantity: int = PydanticField(gt=0, le=1000)
    unit_price_cents: int = PydanticField(ge=0, le=100_000_000)


class AddressIn(_Strict):
    name: str = PydanticField(min_length=1, max_length=120)
    line1: str = PydanticField(min_length=1, max_length=200)
    city: str = PydanticField(min_length=1, max_length=100)
    postal_code: str = PydanticField(min_length=1, max_length=20)
    country: str = PydanticField(pattern=r"^[A-Z]{2}$")


class OrderCreate(_Strict):
    order_id: str = PydanticField(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    customer_id: str = PydanticField(min_length=1, max_length=64)
    customer_email: str = PydanticField(min_length=3, max_length=254)
    currency: str = PydanticField(pattern=r"^[A-Z]{3}$")
    lines: list[LineIn] = PydanticField(min_length=1, max_length=100)
    shipping_address: AddressIn


class ShippedLineIn(_Strict):
    sku: str = PydanticField(pattern=SKU_PATTERN)
    quantity: int = PydanticField(ge=0, le=100_000)


class TransitionIn(_Strict):
    """A move to ``status``; the shipping details are taken only with ``SHIPPED``, the ERP's
    document number only with ``AWAITING_WAVE``."""

    status: OrderStatus = PydanticField(strict=False)
    tracking_code: str | None = PydanticField(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    carrier: str | None = PydanticField(default=None, pattern=r"^[A-Z0-9_-]{1,32}$")
    shipped_lines: list[ShippedLineIn] | None = PydanticField(default=None, max_length=100)
    erp_document_number: str | None = PydanticField(default=None, pattern=ERP_DOCUMENT_PATTERN)

    @model_validator(mode="after")
    def _details_only_when_shipped(self) -> TransitionIn:
        has_details = self.tracking_code is not None or self.carrier is not None or self.shipped_lines is not None
        if has_details and self.status != OrderStatus.SHIPPED:
            raise ValueError("tracking_code, carrier and shipped_lines go only with status SHIPPED")
        if self.erp_document_number is not None and self.status != OrderStatus.AWAITING_WAVE:
            raise ValueError("erp_document_number goes only with status AWAITING_WAVE")
        if self.shipped_lines is not None and len({line.sku for line in self.shipped_lines}) != len(self.shipped_lines):
            raise ValueError("shipped_lines names a SKU twice")
        return self


class AddressChangeIn(_Strict):
    shipping_address: AddressIn


class CancelIn(_Strict):
    reason: CancelReason = PydanticField(strict=False)
    requested_by: str | None = PydanticField(default=None, min_length=1, max_length=64)


class AlertIn(_Strict):
    kind: str = PydanticField(pattern=r"^[A-Z][A-Z_]{0,31}$")
    step: str = PydanticField(min_length=1, max_length=64)
    detail: str = PydanticField(min_length=1, max_length=500)


class AlertPublic(BaseModel):
    kind: str
    step: str
    detail: str
    at: datetime


class ShippedLine(BaseModel):
    sku: str
    quantity: int


class LinePublic(BaseModel):
    sku: str
    quantity: int
    unit_price_cents: int


class StatusChangePublic(BaseModel):
    from_status: str | None
    to_status: str
    reason: str | None
    actor: str | None = None
    at: datetime


class OrderPublic(BaseModel):
    order_id: str
    customer_id: str
    customer_email: str
    status: OrderStatus
    cancel_reason: CancelReason | None
    lines: list[LinePublic]
    total_cents: int
    currency: str
    shipping_address: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    history: list[StatusChangePublic] | None = None
    alerts: list[AlertPublic] = PydanticField(default_factory=list)
    tracking_code: str | None = None
    carrier: str | None = None
    shipped_lines: list[ShippedLine] | None = None
    #: The order's sales order in the ERP; null until the order was exported (``AWAITING_WAVE``).
    erp_document_number: str | None = None


class OrderPage(BaseModel):
    """One page of ``GET /orders``: ``next_cursor`` continues after its last order (``None``: no more)."""

    items: list[OrderPublic]
    total: int
    limit: int
    offset: int
    next_cursor: str | None


class HistoryEntry(BaseModel):
    """One status change of any order, as ``GET /history`` hands it out, in commit order."""

    cursor: str = PydanticField(description="``<xid>.<id>``: ask ``after`` it for the changes that follow")
    seq: int = PydanticField(description="The change's 1-based position in its order's history")
    order_id: str
    customer_id: str
    from_status: OrderStatus | None
    to_status: OrderStatus
    reason: str | None
    actor: str | None
    at: datetime


class HistoryPage(BaseModel):
    """The changes after a cursor; ``next`` is the cursor to ask after next (the last item's, or the same)."""

    items: list[HistoryEntry]
    next: str


# -- the ERP's sales-order events (docs/erp.md, part C) ---------------------------------------


class SalesOrderEventIn(ErpEventIn):
    """A ``SalesOrderStatusChanged`` as the gateway hands it over: ``object_id`` is the ERP's sales order.

    ``order_id`` is the sales order's ``PurchaseOrderByCustomer`` (the PakLog order
    it was exported from); anything that is no order id here is a dead letter, not an error.
    """

    type: Literal["SalesOrderStatusChanged"] = "SalesOrderStatusChanged"
    order_id: str = PydanticField(min_length=1, max_length=100)
    status: str = PydanticField(pattern=ERP_STATUS_PATTERN, examples=["CREDIT_HOLD"])


class SalesOrderEventRecorded(ErpEventRecorded):
    """What the delivery did; ``signal``: the event changed the order's ERP status (its first delivery did),
    so its workflow is to hear of it, and ``forwarded``: it has (the gateway said so)."""

    order_id: str
    erp_status: str | None = PydanticField(description="The order's ERP status now (null: unknown order)")
    signal: bool
    forwarded: bool


class EventForwarded(BaseModel):
    event_id: str
    forwarded: bool

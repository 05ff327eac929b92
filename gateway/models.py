"""The public ``/api`` request and response models (the contract of DESIGN.md).

Order statuses and cancel reasons are the workflow's own vocabulary
(:mod:`workflows.order_fulfillment`), imported rather than copied.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from common.vocabulary import CancelReason, OrderStatus

__all__ = ["CancelReason", "OrderStatus"]

SKU_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,63}$"


class _Strict(BaseModel):
    # strict: "quantity": true or "2" is refused, not coerced. Enum fields say strict=False, so their
    # JSON strings still validate (FastAPI validates the parsed JSON as Python objects).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


class LineRequest(_Strict):
    sku: str = Field(pattern=SKU_PATTERN, examples=["MUG-RED"])
    quantity: int = Field(gt=0, le=1000, examples=[2])


class AddressRequest(_Strict):
    name: str = Field(min_length=1, max_length=120)
    line1: str = Field(min_length=1, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2", examples=["DE"])


class PaymentRequest(_Strict):
    card_token: str = Field(pattern=r"^tok_[a-z0-9_]{1,40}$", examples=["tok_visa"])


class PlaceOrderRequest(_Strict):
    lines: list[LineRequest] = Field(min_length=1, max_length=50)
    shipping_address: AddressRequest
    payment: PaymentRequest


class CancelOrderRequest(_Strict):
    reason: CancelReason | None = Field(
        default=None,
        strict=False,
        description="Customers may only give CUSTOMER_CANCELLED (the default for them); "
        "operators default to OPERATOR_CANCELLED and may give any reason.",
    )


class CompensationFailureView(BaseModel):
    step: str
    error_type: str
    detail: str


class CancelView(BaseModel):
    """The order after (or, with 202, while) its compensations run."""

    order_id: str
    status: str
    cancel_reason: str | None
    cancel_requested_by: str | None
    compensations: list[str]
    compensation_failures: list[CompensationFailureView]


class OrderAccepted(BaseModel):
    order_id: str
    workflow_id: str
    status: OrderStatus = Field(description="The order's status now; a repeated request answers the current one")


class OrderDecision(OrderAccepted):
    """Checkout's answer (``?wait=accepted``): accepted, or rejected with the reason."""

    cancel_reason: CancelReason | None = Field(
        default=None, description="Why the order was rejected (``OUT_OF_STOCK``, ``PAYMENT_DECLINED`` ...)"
    )


class OrderEvent(BaseModel):
    """One status change of an order, as ``GET /api/orders/{order_id}/events`` streams it.

    ``seq`` (also the SSE ``id``) is the change's 1-based position in the order's history.
    """

    seq: int
    order_id: str
    status: OrderStatus
    from_status: OrderStatus | None = None
    reason: str | None = Field(default=None, description="The cancel reason, on the change to CANCELLED")
    at: str


#: A history cursor, ``<xid>.<id>`` (the operator stream's event ids, the orders service's ``GET /history``).
CURSOR_PATTERN = r"^\d{1,20}\.\d{1,19}$"


class OrderChange(OrderEvent):
    """One status change of any order, as the operator stream ``GET /api/orders/events`` sends it.

    The per-order event plus whose order it is and ``cursor`` (also the SSE
    ``id``): the change's place in commit order, to resume after.
    """

    cursor: str = Field(pattern=CURSOR_PATTERN, examples=["1234.567"])
    customer_id: str
    actor: str | None = Field(default=None, description="Who asked for the change (a cancel's requester)")


class OrderLineView(BaseModel):
    sku: str
    quantity: int
    unit_price_cents: int


class AlertView(BaseModel):
    """Something operators must settle by hand, e.g. an undo that failed for good."""

    kind: str
    step: str
    detail: str
    at: str


class ShippedLineView(BaseModel):
    sku: str
    quantity: int


class OrderView(BaseModel):
    order_id: str
    status: OrderStatus
    cancel_reason: CancelReason | None
    lines: list[OrderLineView]
    total_cents: int
    currency: str
    payment_status: str | None
    history: list[dict[str, Any]]
    customer_id: str
    workflow_id: str
    created_at: str | None = None
    alerts: list[AlertView] = Field(default_factory=list)
    tracking_code: str | None = Field(default=None, description="The carrier's tracking code; null until shipped")
    carrier: str | None = Field(default=None, description="null until shipped")
    shipped_lines: list[ShippedLineView] | None = Field(
        default=None, description="What shipped per SKU (less than ordered after a short-ship); null until shipped"
    )
    erp_document_number: str | None = Field(
        default=None, description="The order's sales order number in the ERP; null until the order is exported"
    )
    compensations: list[str] | None = Field(
        default=None,
        description="A cancelled order's undone steps, newest first (as the cancel answer lists them), from its "
        "workflow; null when the order is not cancelled or its workflow did not answer in time",
    )
    compensation_failures: list[CompensationFailureView] | None = Field(
        default=None,
        description="A cancelled order's undos that failed (operators settle them by hand); null as compensations",
    )


class OrderSummary(BaseModel):
    order_id: str
    status: OrderStatus
    cancel_reason: CancelReason | None
    total_cents: int
    currency: str
    customer_id: str
    created_at: str | None = None


class OrderPage(BaseModel):
    """A page of orders (DESIGN.md's list shape), newest first.

    Pass ``next_cursor`` back as ``?cursor=`` for the next page; it is ``null``
    on the last page. Walking by cursor sees every order once, however many are
    placed meanwhile (they are newer, so they sort before the walk's position).
    """

    items: list[OrderSummary]
    total: int = Field(description="Orders matching the filters, on every page")
    limit: int
    offset: int
    next_cursor: str | None = Field(description="Opaque; continue with ?cursor=, null when there is no next page")


class ProductView(BaseModel):
    sku: str
    name: str
    price_cents: int
    currency: str
    on_hand: int
    available: int
    reserved: int


class ProductPage(BaseModel):
    """A page of the catalogue in SKU order (DESIGN.md's list shape; walked by ``offset``, no cursor)."""

    items: list[ProductView]
    total: int = Field(description="Products matching q, on every page")
    limit: int
    offset: int


class Health(BaseModel):
    status: str
    temporal_namespace: str


class TokenResponse(BaseModel):
    access_token: str
    token_type: str
    expires_in: int | None = None
    #: A partner client's scopes (space-separated, ``erp``); absent for people.
    scope: str | None = None
    #: A person's refresh token (``POST /api/auth/refresh``; single use); absent for partner clients.
    refresh_token: str | None = None


class MeView(BaseModel):
    username: str
    user_id: str
    role: str
    email: str
    name: str


# What the services answer, as far as the gateway reads it; anything else is a 502.


class OrderRecord(BaseModel):
    """The orders service's ``OrderPublic``."""

    order_id: str
    customer_id: str
    status: OrderStatus
    cancel_reason: CancelReason | None = None
    lines: list[OrderLineView]
    total_cents: int
    currency: str
    history: list[dict[str, Any]] | None = None
    created_at: str | None = None
    alerts: list[AlertView] = Field(default_factory=list)
    tracking_code: str | None = None
    carrier: str | None = None
    shipped_lines: list[ShippedLineView] | None = None
    erp_document_number: str | None = None


class OrderPageRecord(BaseModel):
    """The orders service's ``OrderPage``, the fields the gateway shows."""

    items: list[OrderSummary]
    total: int
    limit: int
    offset: int
    next_cursor: str | None = None


class HistoryEntryRecord(BaseModel):
    """One item of the orders service's ``GET /history`` (``HistoryEntry``)."""

    cursor: str = Field(pattern=CURSOR_PATTERN)
    seq: int
    order_id: str
    customer_id: str
    from_status: OrderStatus | None
    to_status: OrderStatus
    reason: str | None
    actor: str | None
    at: str


class HistoryPageRecord(BaseModel):
    """The orders service's ``HistoryPage``: changes in commit order, ``next`` the cursor to ask after."""

    items: list[HistoryEntryRecord]
    next: str = Field(pattern=CURSOR_PATTERN)


class PaymentRecord(BaseModel):
    """The payments service's ``PaymentPublic``, the fields the gateway shows."""

    status: str
    created_at: str = ""

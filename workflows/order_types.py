"""OrderFulfillment's contract: its input, result, update and query types, and step options.

Kept apart from the workflow class so the worker imports it once (it is
passed through the sandbox) instead of once per workflow run; everything
here is immutable or per-instance data, and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.common import RetryPolicy

from activities.delivery import DeliveryEvent as DeliveryEvent  # the signal ``delivery_event``
from activities.orders import OrderLine, ShippingAddress
from common.vocabulary import CancelReason, OrderStatus

WORKFLOW_NAME = "OrderFulfillment"


def workflow_id(order_id: str) -> str:
    """The business key: starting the same order twice is harmless."""
    return f"order-{order_id}"


NOT_CANCELLABLE = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.CANCELLED})
#: The order is accepted (checkout's answer, ``POST /api/orders?wait=accepted``): its stock is reserved
#: and its payment authorized. ``PAYMENT_AUTHORIZED`` or any later status; ``CANCELLED`` is the rejection
#: (``wait_for_status`` always answers it). The ERP export comes after: its "no" can still cancel the
#: order ``ERP_REJECTED`` later, which the order's event stream shows.
ACCEPTED_STATUSES = (
    OrderStatus.PAYMENT_AUTHORIZED,
    OrderStatus.AWAITING_WAVE,
    OrderStatus.PICKING,
    OrderStatus.PACKED,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
)
#: Who a Temporal cancel (Web UI, ``temporal workflow cancel``, a parent) is recorded as.
TEMPORAL_CANCEL_REQUESTER = "temporal-cancel"
#: Who a ``DELIVERY_FAILED`` cancel is recorded as.
CARRIER_REQUESTER = "carrier"
#: How long an ``EXCEPTION`` may stand without progress before the delivery fails (the default: 2 days).
DEFAULT_DELIVERY_GRACE_SECONDS = 172_800
#: Shipment statuses the carrier reports; the order follows them after ``SHIPPED``.
DELIVERY_STATUSES = frozenset({"IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED", "EXCEPTION"})

# Business rejections: retrying cannot change the answer.
REJECTIONS = [
    "OutOfStock",
    "UnknownSku",
    "PaymentDeclined",
    "UnknownCardToken",
    "IllegalTransition",
    "ValidationError",
    "OrderExists",
    "ReservationMismatch",
    "ReservationReleased",
    "PaymentVoided",
    "PaymentExists",
    "IdempotencyKeyReused",
]
#: The ERP's business "no" to the order's export (``erp.create_sales_order``).
ERP_REJECTIONS = ["CustomerBlocked", "UnknownMaterial"]
REASON_BY_ERROR_TYPE = {
    "OutOfStock": CancelReason.OUT_OF_STOCK,
    "UnknownSku": CancelReason.OUT_OF_STOCK,
    "PaymentDeclined": CancelReason.PAYMENT_DECLINED,
    "UnknownCardToken": CancelReason.PAYMENT_DECLINED,
    **dict.fromkeys(ERP_REJECTIONS, CancelReason.ERP_REJECTED),
}
# An undo that fails with one of these can never succeed: it is recorded and
# operators are alerted; the remaining undos still run.
UNDO_IMPOSSIBLE = [
    "PaymentCaptured",
    "ReservationCommitted",
    "IllegalTransition",
    "ValidationError",
    "IdempotencyKeyReused",
    # A failed delivery's undo (refund, return, restock) that the services refuse for good.
    "RefundExceedsCapture",
    "PaymentNotFound",
    "ReservationNotCommitted",
    "ReturnExceedsIssued",
    "NotIssued",
    "OrderNotFound",
]

STEP_TIMEOUT = timedelta(seconds=10)
AUTHORIZE_TIMEOUT = timedelta(seconds=15)  # tok_slow answers after 3 s
# Forward steps: exponential backoff (1 s, 2 s, 4 s ... 30 s); about 2.5 minutes in all before giving up.
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=REJECTIONS,
)
# Compensations must eventually succeed: retry until the service is back, unless
# the answer says the undo is impossible. Undo activities leave this decision to
# the policy (they never mark their own errors non-retryable).
COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=UNDO_IMPOSSIBLE,
)
# The order's export: the ERP being down (5xx, timeouts, refused connections) keeps the order
# waiting, never cancels it, so there is no attempt limit; a cancel interrupts the wait. Only the
# ERP's "no" (and a purchase order number it holds with other content) ends the step.
ERP_EXPORT_TIMEOUT = timedelta(seconds=30)
ERP_EXPORT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=[*ERP_REJECTIONS, "DuplicatePurchaseOrder", "UnknownCustomer", "ValidationError"],
)
# Undoing the export (``erp.cancel_sales_order``): answers that can never turn into a cancelled sales order.
ERP_UNDO_IMPOSSIBLE = [
    "SalesOrderCompleted",  # the ERP completed (billed) it: operators settle it there
    "DuplicatePurchaseOrder",  # the order id is a sales order made with other content: not ours to cancel
    "UnknownCustomer",
    "ValidationError",
    "UnknownField",
    "PreconditionRequired",
]
# The undo is retried like the export (1 s doubling to 60 s) but not for ever: 8 attempts, about 2 minutes
# of backoff (an ERP answering 503 or refusing connections: about 2 minutes in all; one whose every call
# hangs until the worker's 10 s HTTP timeout, two calls an attempt: about 5), so an ERP outage holds back
# the payment's void and the stock's release behind it only that long. Then it is a compensation failure:
# recorded, alerted on the order, and the remaining undos run.
ERP_UNDO_TIMEOUT = timedelta(seconds=30)
ERP_UNDO_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=8,
    non_retryable_error_types=ERP_UNDO_IMPOSSIBLE,
)
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=["UnknownTemplate", "ValidationError", "IdempotencyKeyReused"],
)


@dataclass(frozen=True)
class OrderFulfillmentInput:
    order_id: str
    customer_id: str
    customer_email: str
    currency: str
    lines: list[OrderLine]
    shipping_address: ShippingAddress
    card_token: str
    #: Carrier service level (``STANDARD`` or ``EXPRESS``) and wave priority (0..9, higher first).
    service_level: str = "STANDARD"
    priority: int = 0
    #: An ``EXCEPTION`` without progress for this long cancels the shipped order ``DELIVERY_FAILED``.
    delivery_grace_seconds: int = DEFAULT_DELIVERY_GRACE_SECONDS


@dataclass(frozen=True)
class CompensationFailure:
    """An undo that could not be done; operators must settle it by hand."""

    step: str
    error_type: str
    detail: str


@dataclass
class OrderSnapshot:
    """What the ``status`` query (and the updates) answer."""

    order_id: str
    customer_id: str
    status: str
    cancel_reason: str | None
    payment_status: str | None
    total_cents: int
    currency: str
    compensations: list[str] = field(default_factory=list)
    cancel_requested_by: str | None = None
    compensation_failures: list[CompensationFailure] = field(default_factory=list)
    #: After ``SHIPPED``: the shipment's last status the order learned, and its tracking code.
    delivery_status: str | None = None
    tracking_code: str | None = None
    #: The order's sales order number in the ERP, once exported.
    erp_document_number: str | None = None


@dataclass(frozen=True)
class CancelRequest:
    reason: str = CancelReason.CUSTOMER_CANCELLED.value
    requested_by: str | None = None


@dataclass(frozen=True)
class WaitForStatus:
    """Answer once the order is in one of ``statuses``, or ``CANCELLED``."""

    statuses: list[str]

    @classmethod
    def accepted(cls) -> WaitForStatus:
        """Checkout's wait: accepted (:data:`ACCEPTED_STATUSES`) or rejected (``CANCELLED``, with its reason)."""
        return cls(statuses=[status.value for status in ACCEPTED_STATUSES])


@dataclass(frozen=True)
class WaitForChange:
    """Answer once the order's status is no longer ``status`` (or its workflow is about to end)."""

    status: str


@dataclass(frozen=True)
class OrderFulfillmentResult:
    order_id: str
    status: str
    cancel_reason: str | None

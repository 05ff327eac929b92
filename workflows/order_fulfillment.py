"""OrderFulfillment: one order from placement to the warehouse hand-over, as a saga."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.inventory import InventoryActivities, ReleaseStock, ReserveLine, ReserveStock
    from activities.notifications import NotificationsActivities, SendMessage
    from activities.orders import (
        CancelOrder,
        CreateOrder,
        OrderLine,
        OrdersActivities,
        ShippingAddress,
        TransitionOrder,
    )
    from activities.payments import AuthorizePayment, PaymentsActivities, VoidPayment

WORKFLOW_NAME = "OrderFulfillment"
__all__ = [
    "WORKFLOW_NAME",
    "CancelRequest",
    "OrderFulfillment",
    "OrderFulfillmentInput",
    "OrderFulfillmentResult",
    "OrderLine",
    "OrderSnapshot",
    "ShippingAddress",
    "WaitForStatus",
    "workflow_id",
]


def workflow_id(order_id: str) -> str:
    """The business key: starting the same order twice is harmless."""
    return f"order-{order_id}"


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    RESERVED = "RESERVED"
    PAYMENT_AUTHORIZED = "PAYMENT_AUTHORIZED"
    AWAITING_WAVE = "AWAITING_WAVE"
    PICKING = "PICKING"
    PACKED = "PACKED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


class CancelReason(StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    CUSTOMER_CANCELLED = "CUSTOMER_CANCELLED"
    ERP_REJECTED = "ERP_REJECTED"
    DELIVERY_FAILED = "DELIVERY_FAILED"
    FULFILMENT_FAILED = "FULFILMENT_FAILED"


NOT_CANCELLABLE = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.CANCELLED})

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
    "IdempotencyKeyReused",
]
REASON_BY_ERROR_TYPE = {
    "OutOfStock": CancelReason.OUT_OF_STOCK,
    "UnknownSku": CancelReason.OUT_OF_STOCK,
    "PaymentDeclined": CancelReason.PAYMENT_DECLINED,
    "UnknownCardToken": CancelReason.PAYMENT_DECLINED,
}

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
# Compensations must eventually succeed: retry until the service is back.
COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=["IdempotencyKeyReused", "ValidationError"],
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


@dataclass(frozen=True)
class CancelRequest:
    reason: str = CancelReason.CUSTOMER_CANCELLED.value
    requested_by: str | None = None


@dataclass(frozen=True)
class WaitForStatus:
    statuses: list[str]


@dataclass(frozen=True)
class OrderFulfillmentResult:
    order_id: str
    status: str
    cancel_reason: str | None


class _CancelRequested(Exception):
    """Raised between steps once a cancel update was accepted."""


Compensation = tuple[str, Callable[[], Awaitable[object]]]


@workflow.defn(name=WORKFLOW_NAME)
class OrderFulfillment:
    """Place an order and hold it until the warehouse takes over.

    Steps:
        1. ``orders.create`` — the order is recorded ``PENDING``.
        2. ``inventory.reserve`` — every line or none; ``OutOfStock`` cancels
           before any payment call. Order → ``RESERVED``.
        3. ``payments.authorize`` — transient processor failures are retried
           with exponential backoff; a decline is not. Order → ``PAYMENT_AUTHORIZED``.
        4. Order → ``AWAITING_WAVE``; ``notifications.send(order_confirmed)``.
        5. Hand-over to the warehouse (the PickPackShip child; a later slice):
           until then the workflow waits here, cancellable.

    Compensations (each registered just before its step runs, run newest-first
    on a rejection, a step failing past its retries, or a customer cancel):
        ``payments.void`` → ``inventory.release`` → ``orders.cancel(reason)``,
        then ``notifications.send(order_cancelled)``. A cancelled order returns
        a result with status ``CANCELLED`` and its ``cancel_reason``.

    Update ``cancel`` (refused once shipped or already cancelled): if a step
    is in flight it completes first, then compensation runs; the update
    answers when it has finished. Query ``status``; update ``wait_for_status``.
    """

    @workflow.init
    def __init__(self, params: OrderFulfillmentInput) -> None:
        self._params = params
        self._status = OrderStatus.PENDING
        self._cancel_reason: CancelReason | None = None
        self._payment_status: str | None = None
        self._compensations: list[Compensation] = []
        self._compensated: list[str] = []
        self._cancel_request: CancelRequest | None = None
        self._total_cents = sum(line.quantity * line.unit_price_cents for line in params.lines)

    # -- the process -----------------------------------------------------------------
    @workflow.run
    async def run(self, params: OrderFulfillmentInput) -> OrderFulfillmentResult:
        try:
            await self._accept(params)
            await self._hand_over_to_warehouse()
        except _CancelRequested:
            await self._compensate(CancelReason.CUSTOMER_CANCELLED)
        except ActivityError as err:
            reason = self._reason_for(err)
            workflow.logger.warning("order step failed, compensating", extra={"reason": reason.value})
            await self._compensate(reason)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return OrderFulfillmentResult(
            order_id=params.order_id,
            status=self._status.value,
            cancel_reason=self._cancel_reason.value if self._cancel_reason else None,
        )

    async def _accept(self, params: OrderFulfillmentInput) -> None:
        order_id = params.order_id
        self._register("orders.cancel", self._cancel_order)
        await self._step(
            OrdersActivities.create,
            CreateOrder(
                order_id=order_id,
                customer_id=params.customer_id,
                customer_email=params.customer_email,
                currency=params.currency,
                lines=params.lines,
                shipping_address=params.shipping_address,
            ),
        )

        self._register("inventory.release", self._release_stock)
        await self._step(
            InventoryActivities.reserve,
            ReserveStock(order_id=order_id, lines=[ReserveLine(line.sku, line.quantity) for line in params.lines]),
        )
        await self._transition(OrderStatus.RESERVED)

        self._register("payments.void", self._void_payment)
        payment = await self._step(
            PaymentsActivities.authorize,
            AuthorizePayment(
                order_id=order_id,
                amount_cents=self._total_cents,
                currency=params.currency,
                card_token=params.card_token,
            ),
            start_to_close=AUTHORIZE_TIMEOUT,
        )
        self._payment_status = payment.status
        await self._transition(OrderStatus.PAYMENT_AUTHORIZED)
        await self._transition(OrderStatus.AWAITING_WAVE)
        await self._notify("order_confirmed")

    async def _hand_over_to_warehouse(self) -> None:
        """The seam for the warehouse: the PickPackShip child (``pps-<order_id>``) starts here.

        Until the warehouse slice lands, an accepted order waits in
        ``AWAITING_WAVE``; the only way on is a customer cancel.
        """
        await workflow.wait_condition(lambda: self._cancel_request is not None)
        raise _CancelRequested

    # -- steps and compensation --------------------------------------------------------
    async def _step(
        self, activity: Callable[..., Awaitable[Any]], arg: Any, *, start_to_close: timedelta = STEP_TIMEOUT
    ) -> Any:
        if self._cancel_request is not None:
            raise _CancelRequested
        result = await workflow.execute_activity_method(
            activity, arg, start_to_close_timeout=start_to_close, retry_policy=STEP_RETRY
        )
        if self._cancel_request is not None:
            raise _CancelRequested
        return result

    async def _transition(self, status: OrderStatus) -> None:
        await self._step(
            OrdersActivities.transition, TransitionOrder(order_id=self._params.order_id, status=status.value)
        )
        self._status = status

    def _register(self, name: str, undo: Callable[[], Awaitable[object]]) -> None:
        self._compensations.append((name, undo))

    async def _compensate(self, reason: CancelReason) -> None:
        self._cancel_reason = reason
        for name, undo in reversed(self._compensations):
            await undo()
            self._compensated.append(name)
        self._compensations.clear()
        self._status = OrderStatus.CANCELLED
        await self._notify("order_cancelled")

    async def _compensation(self, activity: Callable[..., Awaitable[Any]], arg: Any) -> Any:
        return await workflow.execute_activity_method(
            activity, arg, start_to_close_timeout=STEP_TIMEOUT, retry_policy=COMPENSATION_RETRY
        )

    async def _void_payment(self) -> None:
        state = await self._compensation(PaymentsActivities.void, VoidPayment(order_id=self._params.order_id))
        self._payment_status = state.status or self._payment_status

    async def _release_stock(self) -> None:
        await self._compensation(InventoryActivities.release, ReleaseStock(order_id=self._params.order_id))

    async def _cancel_order(self) -> None:
        assert self._cancel_reason is not None
        await self._compensation(
            OrdersActivities.cancel, CancelOrder(order_id=self._params.order_id, reason=self._cancel_reason.value)
        )

    async def _notify(self, template: str) -> None:
        params = self._params
        context: dict[str, Any] = {
            "order_id": params.order_id,
            "name": params.shipping_address.name,
            "total_cents": self._total_cents,
            "currency": params.currency,
            "lines": [{"sku": line.sku, "quantity": line.quantity} for line in params.lines],
        }
        if self._cancel_reason is not None:
            context["reason"] = self._cancel_reason.value
        try:
            await workflow.execute_activity_method(
                NotificationsActivities.send,
                SendMessage(
                    template=template, recipient=params.customer_email, order_id=params.order_id, context=context
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=NOTIFY_RETRY,
            )
        except ActivityError:
            # A lost e-mail must not undo (or block) the order itself; the failure is in the history.
            workflow.logger.warning("notification failed", extra={"template": template})

    @staticmethod
    def _reason_for(err: ActivityError) -> CancelReason:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in REASON_BY_ERROR_TYPE:
            return REASON_BY_ERROR_TYPE[cause.type]
        return CancelReason.FULFILMENT_FAILED

    # -- handlers ------------------------------------------------------------------------
    def _snapshot(self) -> OrderSnapshot:
        return OrderSnapshot(
            order_id=self._params.order_id,
            customer_id=self._params.customer_id,
            status=self._status.value,
            cancel_reason=self._cancel_reason.value if self._cancel_reason else None,
            payment_status=self._payment_status,
            total_cents=self._total_cents,
            currency=self._params.currency,
            compensations=list(self._compensated),
        )

    @workflow.query
    def status(self) -> OrderSnapshot:
        return self._snapshot()

    @workflow.update
    async def cancel(self, request: CancelRequest) -> OrderSnapshot:
        self._cancel_request = request
        await workflow.wait_condition(lambda: self._status == OrderStatus.CANCELLED)
        return self._snapshot()

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        if self._status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
            raise ValueError(f"order {self._params.order_id} has shipped and can no longer be cancelled")
        if self._status == OrderStatus.CANCELLED or self._cancel_request is not None:
            raise ValueError(f"order {self._params.order_id} is already cancelled")
        if self._cancel_reason is not None:
            raise ValueError(f"order {self._params.order_id} is being cancelled ({self._cancel_reason.value})")
        if request.reason not in CancelReason.__members__:
            raise ValueError(f"unknown cancel reason {request.reason!r}")

    @workflow.update
    async def wait_for_status(self, request: WaitForStatus) -> OrderSnapshot:
        await workflow.wait_condition(
            lambda: self._status.value in request.statuses or self._status == OrderStatus.CANCELLED
        )
        return self._snapshot()

    @wait_for_status.validator
    def _validate_wait(self, request: WaitForStatus) -> None:
        unknown = set(request.statuses) - set(OrderStatus.__members__)
        if not request.statuses or unknown:
            raise ValueError(f"statuses must be order statuses, got {request.statuses!r}")

"""OrderFulfillment: one order from placement to the warehouse hand-over, as a saga."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    FailureError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from activities.delivery import (
        RefundPayment,
        ReturnActivities,
        ReturnStock,
        Subscribe,
        TrackingActivities,
    )
    from activities.erp_orders import CreateSalesOrder, ErpOrdersActivities, SalesOrderCreated
    from activities.inventory import InventoryActivities, ReleaseStock, ReserveLine, ReserveStock
    from activities.notifications import MessageSent, NotificationsActivities, SendMessage
    from activities.orders import (
        CancelOrder,
        ChangeAddress,
        CreateOrder,
        FulfilmentActivities,
        OrderLine,
        OrdersActivities,
        RecordAlert,
        ShippingAddress,
        TransitionOrder,
    )
    from activities.payments import AuthorizePayment, PaymentsActivities, VoidPayment
    from activities.warehouse import BacklogState, EnqueueOrder, HoldOrder, OrderRef, PickLine, WarehouseActivities
    from common.vocabulary import CancelReason, OrderStatus
    from workflows.erp_status import (
        CANCELLED,
        CREDIT_HOLD,
        ERP_REQUESTER,
        ERP_STATE_QUERY,
        ERP_STATUS_SIGNAL,
        HELD,
        HOLD_RETRY,
        HOLD_TIMEOUT,
        PATCH_ERP_STATUS,
        ErpOrderState,
        ErpStatusEvent,
    )
    from workflows.order_types import (
        AUTHORIZE_TIMEOUT,
        CARRIER_REQUESTER,
        COMPENSATION_RETRY,
        DELIVERY_STATUSES,
        ERP_EXPORT_RETRY,
        ERP_EXPORT_TIMEOUT,
        ERP_UNDO_RETRY,
        ERP_UNDO_TIMEOUT,
        NOTIFY_RETRY,
        REASON_BY_ERROR_TYPE,
        STEP_RETRY,
        STEP_TIMEOUT,
        TEMPORAL_CANCEL_REQUESTER,
        WORKFLOW_NAME,
        CancelRequest,
        CompensationFailure,
        DeliveryEvent,
        OrderFulfillmentInput,
        OrderFulfillmentResult,
        OrderSnapshot,
        WaitForChange,
        WaitForStatus,
        workflow_id,
    )
    from workflows.pick_pack_ship import PickPackShip
    from workflows.shielding import run_to_end
    from workflows.warehouse_types import (
        ADDRESS_LOCKED,
        ChangeAddressRequest,
        OrderProgress,
        PickPackShipInput,
        PickPackShipResult,
        WaveReleased,
        pps_workflow_id,
    )

__all__ = [
    "WORKFLOW_NAME",
    "CancelReason",
    "CancelRequest",
    "CompensationFailure",
    "OrderFulfillment",
    "OrderFulfillmentInput",
    "OrderFulfillmentResult",
    "OrderLine",
    "OrderSnapshot",
    "OrderStatus",
    "ShippingAddress",
    "WaitForChange",
    "WaitForStatus",
    "workflow_id",
]

#: Every way a saga ends compensates to the end (Temporal cancel, failed undos,
#: cancel interrupting a retrying step). Histories recorded before it replay the old paths.
PATCH_SAGA_ENDINGS = "saga-every-ending-compensates"
#: The accepted order goes to the wave backlog and, once waved, to its PickPackShip child.
PATCH_WAREHOUSE = "warehouse-hand-over"
#: The order enters the wave backlog before it is shown ``AWAITING_WAVE`` (before this,
#: an operator planning a wave at once could miss an order already shown waiting).
PATCH_BACKLOG_FIRST = "backlog-before-awaiting-wave"
#: After ``SHIPPED`` the order follows its delivery to ``DELIVERED``, or to ``CANCELLED``
#: (``DELIVERY_FAILED``: refund, restock) when an exception outlives its grace period.
PATCH_DELIVERY = "delivery-tracking"
#: After ``PAYMENT_AUTHORIZED`` the order is exported to the ERP (its sales order); the document
#: number rides on the ``AWAITING_WAVE`` transition. The ERP's "no" cancels it ``ERP_REJECTED``.
PATCH_ERP_EXPORT = "erp-export"
#: The export has an undo (``erp.cancel_sales_order``), registered as the export starts: an order
#: cancelled later (or while the export is in flight) gets its sales order ``CANCELLED`` in the ERP.
PATCH_ERP_EXPORT_UNDO = "erp-export-undo"
#: The accept path's five steps (create, reserve, ``RESERVED``, authorize, ``PAYMENT_AUTHORIZED``) run as
#: local activities, in the workflow task that started the order: the checkout's answer costs one workflow
#: task instead of about ten server round trips. A run that began with it takes every patch above as given
#: and asks none of them (one marker per saga instead of five); older histories replay their own paths.
PATCH_LOCAL_ACCEPT = "accept-in-one-task"
#: Statuses in which the ERP's ``CANCELLED`` still cancels the order (later it is recorded and ignored).
BEFORE_PICKING = frozenset(
    {OrderStatus.PENDING, OrderStatus.RESERVED, OrderStatus.PAYMENT_AUTHORIZED, OrderStatus.AWAITING_WAVE}
)
#: Statuses from which the address can no longer change.
ADDRESS_FINAL = frozenset({OrderStatus.PACKED, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.CANCELLED})

T = TypeVar("T")


class _CancelRequested(Exception):
    """Raised between (or instead of finishing) steps once a cancel update was accepted."""


class _ChildShipped(Exception):
    """The PickPackShip child passed goods issue before the cancel reached it: nothing is undone."""


class _ErpStatus:
    """What the workflow knows of the ERP's status of the order (the ``erp_status`` signal)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.state = ErpOrderState()
        self.status_at: datetime | None = None
        #: A hold keeper is running (one at a time: it follows ``state.on_hold`` until it settles).
        self.keeping = False


Compensation = tuple[str, Callable[[], Awaitable[object]]]


def _parse_time(value: str) -> datetime | None:
    """An event's ISO 8601 time with its offset; None when it has none or is not a time."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _starter(*, local: bool) -> Callable[..., workflow.ActivityHandle[Any]]:
    """``workflow.start_local_activity_method`` when ``local``, else ``workflow.start_activity_method``."""
    if local:
        return workflow.start_local_activity_method
    return workflow.start_activity_method


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned step's outcome so it is never reported as unhandled."""
    if not task.cancelled():
        task.exception()


@workflow.defn(name=WORKFLOW_NAME)
class OrderFulfillment:
    """Place an order and hold it until the warehouse takes over.

    Steps:
        1. ``orders.create`` — the order is recorded ``PENDING``.
        2. ``inventory.reserve`` — every line or none; ``OutOfStock`` cancels
           before any payment call. Order → ``RESERVED``.
        3. ``payments.authorize`` — transient processor failures are retried
           with exponential backoff; a decline is not. Order → ``PAYMENT_AUTHORIZED``.
        4. ``erp.create_sales_order`` — the order's sales order in the ERP (once per
           order id); the ERP down is retried without an attempt limit (the order
           waits, cancellable), ``CustomerBlocked`` / ``UnknownMaterial`` cancel it
           ``ERP_REJECTED``. Histories without ``erp-export`` never call the ERP.
           Its undo (``erp-export-undo``) is registered as it starts.
        5. ``warehouse.enqueue`` — the wave backlog; then order → ``AWAITING_WAVE``
           with the ERP document number (so an order shown waiting can be waved
           at once); ``notifications.send(order_confirmed)``.
        6. Hand-over to the warehouse: the PickPackShip child once a wave takes
           the order; until then the workflow waits here, cancellable.

    Compensations (each registered just before its step runs) run newest-first,
    to the end, however the saga ends: a business rejection, a step failing
    past its retries, the ``cancel`` update, or a Temporal cancel (Web UI,
    ``temporal workflow cancel``, a parent):
        ``pickpackship.cancel`` → ``warehouse.withdraw`` → ``erp.cancel_sales_order``
        → ``payments.void`` → ``inventory.release`` → ``orders.cancel(reason, by)``,
        then ``notifications.send(order_cancelled)``. An undo that can never
        succeed (``UNDO_IMPOSSIBLE``; for the ERP's, ``ERP_UNDO_IMPOSSIBLE`` or its
        8 attempts spent) is recorded in the status query, the workflow memo and
        on the order (``orders.record_alert``), and the remaining undos still run.
        A Temporal cancel cannot interrupt them. A delivery that fails after
        ``SHIPPED`` undoes ``payments.refund`` → ``inventory.return`` →
        ``warehouse.restock`` → ``erp.cancel_sales_order`` → ``orders.cancel``.

    Update ``cancel`` (refused once shipped or already cancelled) takes a
    reason and the requester; a step in flight (even one waiting out a retry
    backoff) is abandoned at once — the services' tombstones refuse it if it
    commits late — and compensation runs; the update answers when it has
    finished. A Temporal cancel ends the order ``OPERATOR_CANCELLED`` and the
    workflow as cancelled. Query ``status``; updates ``wait_for_status`` (checkout's
    ``?wait=accepted``) and ``wait_for_change`` (the gateway's live event stream: it
    answers on the next status change, or as the run ends, so a waiting stream never
    holds the workflow open).

    Signal ``erp_status`` (query ``erp``): the ERP's status of the order's sales
    order, once per event id, newest wins. ``CANCELLED`` before ``PICKING``
    cancels the order ``ERP_REJECTED`` (compensations as above); ``CREDIT_HOLD``
    before a wave takes the order holds it out of the backlog
    (``warehouse.hold``) until the ERP lifts the hold (``warehouse.requeue``);
    see ``workflows/erp_status.py``.
    """

    @workflow.init
    def __init__(self, params: OrderFulfillmentInput) -> None:
        self._params = params
        self._status = OrderStatus.PENDING
        self._cancel_reason: CancelReason | None = None
        self._payment_status: str | None = None
        self._compensations: list[Compensation] = []
        self._compensated: list[str] = []
        self._failures: list[CompensationFailure] = []
        self._cancel_request: CancelRequest | None = None
        self._total_cents = sum(line.quantity * line.unit_price_cents for line in params.lines)
        self._hardened = False
        #: Begun with the current code (:data:`PATCH_LOCAL_ACCEPT`): local accept steps, earlier patches given.
        self._current = False
        self._address: ShippingAddress = params.shipping_address
        self._wave_id: str | None = None
        self._wave_workflow_id = ""
        self._child: workflow.ChildWorkflowHandle[PickPackShip, PickPackShipResult] | None = None
        self._goods_issued = False
        self._enqueued = False
        self._erp = _ErpStatus()
        self._shipped: PickPackShipResult | None = None
        self._inbox: list[DeliveryEvent] = []
        self._seen_events: set[str] = set()
        self._delivery_status: str | None = None
        self._last_event_at: datetime | None = None
        self._exception_deadline: datetime | None = None
        self._erp_document_number: str | None = None
        #: The export runs with its undo (``PATCH_ERP_EXPORT_UNDO``, asked once, when the export starts).
        self._erp_undo = False
        #: The run is over but for its handlers: ``wait_for_change`` answers now (state only, no command).
        self._ending = False

    # -- the process -----------------------------------------------------------------
    @workflow.run
    async def run(self, params: OrderFulfillmentInput) -> OrderFulfillmentResult:
        self._current = workflow.patched(PATCH_LOCAL_ACCEPT)
        self._hardened = self._patched(PATCH_SAGA_ENDINGS)
        temporal_cancel = False
        try:
            await self._accept(params)
            await self._hand_over_to_warehouse()
        except _CancelRequested:
            temporal_cancel = await self._compensate_shielded(self._requested_reason())
        except ChildWorkflowError as err:
            # PickPackShip failed (nothing could be found) or was cancelled on its own; it undid its steps.
            reason = CancelReason.OPERATOR_CANCELLED if is_cancelled_exception(err) else self._reason_for(err)
            workflow.logger.warning(
                "pick-pack-ship ended without shipping, compensating", extra={"reason": reason.value}
            )
            temporal_cancel = await self._compensate_shielded(reason)
        except ActivityError as err:
            if self._hardened and is_cancelled_exception(err):
                temporal_cancel = await self._on_temporal_cancel()
            else:
                reason = self._reason_for(err)
                workflow.logger.warning("order step failed, compensating", extra={"reason": reason.value})
                temporal_cancel = await self._compensate_shielded(reason)
        except asyncio.CancelledError:
            if not self._hardened:
                raise
            if self._goods_issued:
                # The goods have left: nothing is undone; the order finishes shipping.
                await self._finish_shipping_shielded()
                temporal_cancel = True
            else:
                temporal_cancel = await self._on_temporal_cancel()
        stopped_following = False
        if (
            self._status == OrderStatus.SHIPPED
            and self._shipped is not None
            and not temporal_cancel
            and self._hardened
            and self._patched(PATCH_DELIVERY)
        ):
            temporal_cancel, stopped_following = await self._follow_delivery(self._shipped)
        self._ending = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        if stopped_following:
            raise asyncio.CancelledError(
                "cancelled through Temporal while following the delivery; the order is SHIPPED"
            )
        if temporal_cancel and self._status == OrderStatus.CANCELLED:
            # The order is settled; the workflow itself ends as the operator asked: cancelled.
            raise asyncio.CancelledError("cancelled through Temporal; compensation completed")
        return OrderFulfillmentResult(
            order_id=params.order_id,
            status=self._status.value,
            cancel_reason=self._cancel_reason.value if self._cancel_reason else None,
        )

    async def _accept(self, params: OrderFulfillmentInput) -> None:
        order_id = params.order_id
        self._register("orders.cancel", self._cancel_order)
        start = _starter(local=self._current)
        await self._step(
            lambda: start(
                OrdersActivities.create,
                CreateOrder(
                    order_id=order_id,
                    customer_id=params.customer_id,
                    customer_email=params.customer_email,
                    currency=params.currency,
                    lines=params.lines,
                    shipping_address=params.shipping_address,
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=STEP_RETRY,
            )
        )

        self._register("inventory.release", self._release_stock)
        reserve = ReserveStock(order_id=order_id, lines=[ReserveLine(line.sku, line.quantity) for line in params.lines])
        await self._step(
            lambda: start(
                InventoryActivities.reserve, reserve, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY
            )
        )
        await self._transition(OrderStatus.RESERVED, local=self._current)

        self._register("payments.void", self._void_payment)
        authorize = AuthorizePayment(
            order_id=order_id, amount_cents=self._total_cents, currency=params.currency, card_token=params.card_token
        )
        payment = await self._step(
            lambda: start(
                PaymentsActivities.authorize,
                authorize,
                start_to_close_timeout=AUTHORIZE_TIMEOUT,
                retry_policy=STEP_RETRY,
            )
        )
        self._payment_status = payment.status
        await self._transition(OrderStatus.PAYMENT_AUTHORIZED, local=self._current)
        if self._hardened and self._patched(PATCH_ERP_EXPORT):
            await self._export()
        if self._hardened and self._patched(PATCH_BACKLOG_FIRST):
            await self._enqueue()
        await self._transition(OrderStatus.AWAITING_WAVE, erp_document_number=self._erp_document_number)
        await self._notify("order_confirmed", interruptible=True)

    async def _on_temporal_cancel(self) -> bool:
        workflow.logger.warning("workflow cancelled through Temporal, compensating")
        if self._cancel_request is None:
            self._cancel_request = CancelRequest(
                reason=CancelReason.OPERATOR_CANCELLED.value, requested_by=TEMPORAL_CANCEL_REQUESTER
            )
        await self._compensate_shielded(self._requested_reason())
        return True

    async def _export(self) -> None:
        """The order's sales order in the ERP; its number goes on the ``AWAITING_WAVE`` transition.

        The ERP's own key (the order id) makes a repeat harmless. Its undo,
        ``erp.cancel_sales_order``, is registered in the same breath as the step is
        scheduled, not once it answers: a cancel while the export is in flight or
        waiting out a backoff abandons the step, whose request may still reach the
        ERP, and the undo (which posts the same order first) cancels whatever it
        made. A cancel before the step starts registers nothing. Histories recorded
        before ``erp-export-undo`` have no undo: their sales orders stay open.
        """
        self._erp_undo = self._patched(PATCH_ERP_EXPORT_UNDO)
        export = self._sales_order()

        def start() -> workflow.ActivityHandle[SalesOrderCreated]:
            if self._erp_undo:
                self._register("erp.cancel_sales_order", self._cancel_sales_order)
            return workflow.start_activity_method(
                ErpOrdersActivities.create_sales_order,
                export,
                start_to_close_timeout=ERP_EXPORT_TIMEOUT,
                retry_policy=ERP_EXPORT_RETRY,
            )

        created = await self._step(start)
        self._erp_document_number = created.document_number

    def _sales_order(self) -> CreateSalesOrder:
        """The export's request; its undo sends the very same one (the ERP's key finds the sales order)."""
        params = self._params
        return CreateSalesOrder(
            order_id=params.order_id,
            customer_email=params.customer_email,
            currency=params.currency,
            lines=params.lines,
        )

    async def _cancel_sales_order(self) -> None:
        """Undo the export (``ERP_UNDO_RETRY``: bounded, so the undos behind it are not held back for long)."""
        undone = await workflow.execute_activity_method(
            ErpOrdersActivities.cancel_sales_order,
            self._sales_order(),
            start_to_close_timeout=ERP_UNDO_TIMEOUT,
            retry_policy=ERP_UNDO_RETRY,
        )
        workflow.logger.info(
            "sales order undone", extra={"outcome": undone.outcome, "document_number": undone.document_number}
        )

    async def _enqueue(self) -> None:
        """Put the accepted order in the wave backlog (undo: ``warehouse.withdraw``)."""
        params = self._params
        self._register("warehouse.withdraw", self._withdraw_from_warehouse)
        enqueue = EnqueueOrder(
            order_id=params.order_id,
            lines=[PickLine(sku=line.sku, quantity=line.quantity) for line in params.lines],
            service_level=params.service_level,
            priority=params.priority,
            placed_at=workflow.info().start_time.isoformat(),
        )
        await self._step(
            lambda: workflow.start_activity_method(
                WarehouseActivities.enqueue, enqueue, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY
            )
        )
        self._enqueued = True

    async def _hand_over_to_warehouse(self) -> None:
        """The warehouse takes over: the wave backlog, then the PickPackShip child (``pps-<order_id>``).

        Histories recorded before the warehouse landed (no ``warehouse-hand-over``
        marker) keep waiting in ``AWAITING_WAVE`` until cancelled.
        """
        if not (self._hardened and self._patched(PATCH_WAREHOUSE)):
            await workflow.wait_condition(lambda: self._cancel_request is not None)
            raise _CancelRequested
        params = self._params
        if not self._enqueued:
            await self._enqueue()
        await workflow.wait_condition(lambda: self._wave_id is not None or self._cancel_request is not None)
        if self._cancel_request is not None or self._wave_id is None:
            raise _CancelRequested
        self._register("pickpackship.cancel", self._cancel_child)
        child = await workflow.start_child_workflow(
            PickPackShip.run,
            PickPackShipInput(
                order_id=params.order_id,
                wave_id=self._wave_id,
                customer_email=params.customer_email,
                currency=params.currency,
                lines=params.lines,
                shipping_address=self._address,
                service_level=params.service_level,
                wave_workflow_id=self._wave_workflow_id,
            ),
            id=pps_workflow_id(params.order_id),
            cancellation_type=workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        self._child = child
        await workflow.wait_condition(
            lambda: child.done() or (self._cancel_request is not None and not self._goods_issued)
        )
        if not child.done():
            raise _CancelRequested  # the child is cancelled first: its undo is the newest
        self._shipped = child.result()  # raises ChildWorkflowError when it failed
        self._compensations.clear()
        self._status = OrderStatus.SHIPPED

    async def _finish_shipping_shielded(self) -> None:
        """A Temporal cancel after goods issue: let the child finish, undo nothing."""
        child = self._child
        if child is not None:
            workflow.logger.warning("cancel ignored: the goods are issued")
            await run_to_end(workflow.wait_condition(child.done))
        self._compensations.clear()
        if child is not None and child.exception() is None:
            self._status = OrderStatus.SHIPPED

    # -- after the dock ----------------------------------------------------------------------
    async def _follow_delivery(self, shipped: PickPackShipResult) -> tuple[bool, bool]:
        """Follow the carrier's events to ``DELIVERED``, or fail the delivery after an exception.

        The customer is subscribed to the tracking code; every status change is told
        to each subscriber. An ``EXCEPTION`` starts a durable timer
        (``delivery_grace_seconds``): progress first keeps the delivery going, the
        timer firing ends it ``DELIVERY_FAILED`` (refund, stock back, cancelled).

        Returns:
            (a Temporal cancel arrived, it stopped the following while the order is ``SHIPPED``).
        """
        params = self._params
        try:
            if shipped.tracking_code:
                subscribe = Subscribe(
                    tracking_code=shipped.tracking_code,
                    username=params.customer_id,
                    email=params.customer_email,
                    title=f"Order {params.order_id}",
                )
                await self._best_effort(
                    "tracking.subscribe",
                    workflow.start_activity_method(
                        TrackingActivities.subscribe,
                        subscribe,
                        start_to_close_timeout=STEP_TIMEOUT,
                        retry_policy=NOTIFY_RETRY,
                    ),
                )
            while True:
                event = await self._next_delivery_event()
                if event is None:
                    return await self._fail_delivery(shipped), False
                await self._apply_delivery_event(event, shipped)
                if self._status == OrderStatus.DELIVERED:
                    return False, False
        except asyncio.CancelledError:
            workflow.logger.warning("cancelled through Temporal while following the delivery; the order stays SHIPPED")
            return True, True

    async def _next_delivery_event(self) -> DeliveryEvent | None:
        """The next event that moves the delivery on; None when an exception outlived its grace period."""
        while True:
            deadline = self._exception_deadline
            if deadline is None:
                await workflow.wait_condition(lambda: bool(self._inbox))
            else:
                remaining = (deadline - workflow.now()).total_seconds()
                if remaining <= 0:
                    return None
                try:
                    await workflow.wait_condition(lambda: bool(self._inbox), timeout=timedelta(seconds=remaining))
                except TimeoutError:
                    return None
            event = self._inbox.pop(0)
            occurred = _parse_time(event.occurred_at)
            if event.status not in DELIVERY_STATUSES or occurred is None:
                continue
            if self._last_event_at is not None and occurred < self._last_event_at:
                continue  # older than what the order already knows
            if event.status == self._delivery_status:
                self._last_event_at = occurred
                continue  # no change (a new position, a second exception)
            self._last_event_at = occurred
            return event

    async def _apply_delivery_event(self, event: DeliveryEvent, shipped: PickPackShipResult) -> None:
        self._delivery_status = event.status
        if event.status == "EXCEPTION":
            self._exception_deadline = workflow.now() + timedelta(seconds=self._params.delivery_grace_seconds)
        else:
            self._exception_deadline = None
        if event.status == "DELIVERED":
            try:
                await workflow.execute_activity_method(
                    OrdersActivities.transition,
                    TransitionOrder(order_id=self._params.order_id, status=OrderStatus.DELIVERED.value),
                    start_to_close_timeout=STEP_TIMEOUT,
                    retry_policy=COMPENSATION_RETRY,
                )
            except ActivityError as err:
                if is_cancelled_exception(err):
                    raise asyncio.CancelledError("orders.transition") from err
                self._failures.append(self._failure("orders.transition:DELIVERED", err))
                await self._raise_alert()
            self._status = OrderStatus.DELIVERED
        notice = dataclasses.replace(event, carrier=event.carrier or shipped.carrier)
        await self._best_effort(
            "tracking.notify_subscribers",
            workflow.start_activity_method(
                TrackingActivities.notify_subscribers,
                notice,
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=NOTIFY_RETRY,
            ),
        )

    async def _fail_delivery(self, shipped: PickPackShipResult) -> bool:
        """The parcel never arrived: refund what was captured, put the goods back, cancel the order.

        Returns:
            True when a Temporal cancel arrived while these undos ran (they ran to the end anyway).
        """
        workflow.logger.warning("delivery failed: no progress after the exception", extra={"order": shipped.order_id})
        self._cancel_request = CancelRequest(reason=CancelReason.DELIVERY_FAILED.value, requested_by=CARRIER_REQUESTER)
        order = OrderRef(order_id=self._params.order_id)
        lines = [PickLine(sku=line.sku, quantity=line.quantity) for line in shipped.shipped_lines if line.quantity > 0]

        async def refund() -> None:
            state = await workflow.execute_activity_method(
                ReturnActivities.refund,
                RefundPayment(order_id=order.order_id, amount_cents=shipped.captured_cents),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=COMPENSATION_RETRY,
            )
            self._payment_status = state.status or self._payment_status

        async def return_stock() -> None:
            await workflow.execute_activity_method(
                ReturnActivities.return_stock,
                ReturnStock(order_id=order.order_id, lines=lines),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=COMPENSATION_RETRY,
            )

        async def restock() -> None:
            await workflow.execute_activity_method(
                ReturnActivities.restock, order, start_to_close_timeout=STEP_TIMEOUT, retry_policy=COMPENSATION_RETRY
            )

        # Registered oldest-first; they run newest-first: refund, inventory, bins, the ERP, then the order.
        self._register("orders.cancel", self._cancel_order)
        if self._erp_undo:
            # The order is refunded: its sales order must not stay open to be billed.
            self._register("erp.cancel_sales_order", self._cancel_sales_order)
        self._register("warehouse.restock", restock)
        if lines:
            self._register("inventory.return", return_stock)
        if shipped.captured_cents > 0:
            self._register("payments.refund", refund)
        return await self._compensate_shielded(CancelReason.DELIVERY_FAILED)

    async def _best_effort(self, name: str, handle: workflow.ActivityHandle[Any]) -> None:
        """A subscription or a notice that fails for good is logged; the delivery goes on."""
        try:
            await handle
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise asyncio.CancelledError(name) from err
            workflow.logger.warning("tracking step failed", extra={"step": name})

    async def _withdraw_from_warehouse(self) -> None:
        state = await workflow.execute_activity_method(
            WarehouseActivities.withdraw,
            OrderRef(order_id=self._params.order_id),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=COMPENSATION_RETRY,
        )
        if state.status == "RELEASED":
            # Its wave reached the floor before the child could start: give its picks back here.
            await workflow.execute_activity_method(
                WarehouseActivities.return_picks,
                OrderRef(order_id=self._params.order_id),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=COMPENSATION_RETRY,
            )

    async def _cancel_child(self) -> None:
        child = self._child
        if child is None or child.done():
            return
        child.cancel()
        try:
            self._shipped = await child
        except (ChildWorkflowError, asyncio.CancelledError):
            return  # cancelled, after undoing its own steps
        raise _ChildShipped

    # -- steps and compensation --------------------------------------------------------
    async def _step(self, start: Callable[[], workflow.ActivityHandle[T]]) -> T:
        """Run one forward step; a cancel request abandons it, even mid-retry.

        Raises:
            _CancelRequested: a cancel update was accepted before or during the step.
            ActivityError: the step was rejected or ran out of retries.
        """
        if self._cancel_request is not None:
            raise _CancelRequested
        handle = start()
        if not self._hardened:
            result = await handle
        else:
            try:
                await workflow.wait_condition(lambda: handle.done() or self._cancel_request is not None)
            finally:
                if not handle.done():
                    # TRY_CANCEL resolves at once; a late commit at the service meets its tombstone.
                    handle.cancel()
                    handle.add_done_callback(_consume_outcome)
            if not handle.done() or handle.cancelled():
                raise _CancelRequested
            try:
                result = handle.result()
            except ActivityError:
                raise
            except FailureError as err:
                # A local activity's failure arrives bare (its ApplicationError, TimeoutError ...), not inside an
                # ActivityError as a scheduled activity's does: wrap it, so both take the same paths.
                raise ActivityError(
                    "local activity failed",
                    scheduled_event_id=0,
                    started_event_id=0,
                    identity="",
                    activity_type="",
                    activity_id="",
                    retry_state=None,
                ) from err
        if self._cancel_request is not None:
            raise _CancelRequested
        return result

    async def _transition(
        self, status: OrderStatus, *, erp_document_number: str | None = None, local: bool = False
    ) -> None:
        transition = TransitionOrder(
            order_id=self._params.order_id, status=status.value, erp_document_number=erp_document_number
        )
        start = _starter(local=local)
        await self._step(
            lambda: start(
                OrdersActivities.transition, transition, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY
            )
        )
        self._status = status

    def _patched(self, patch_id: str) -> bool:
        """``workflow.patched(patch_id)``; a run begun with :data:`PATCH_LOCAL_ACCEPT` has every earlier patch."""
        return self._current or workflow.patched(patch_id)

    def _register(self, name: str, undo: Callable[[], Awaitable[object]]) -> None:
        self._compensations.append((name, undo))

    def _requested_reason(self) -> CancelReason:
        request = self._cancel_request
        return CancelReason(request.reason) if request is not None else CancelReason.CUSTOMER_CANCELLED

    async def _compensate_shielded(self, reason: CancelReason) -> bool:
        """Compensate to the end even if a Temporal cancel arrives meanwhile.

        Returns:
            True when a Temporal cancel arrived while compensating.
        """
        if not self._hardened:
            await self._compensate(reason)
            return False
        _, cancelled = await run_to_end(self._compensate(reason))
        return cancelled

    async def _compensate(self, reason: CancelReason) -> None:
        self._cancel_reason = reason
        for name, undo in reversed(self._compensations):
            try:
                await undo()
            except _ChildShipped:
                # Too late to cancel: the order shipped. Nothing is undone and nobody is told "cancelled".
                self._compensations.clear()
                self._cancel_reason = None
                self._status = OrderStatus.SHIPPED
                return
            except ActivityError as err:
                if not self._hardened:
                    raise
                self._failures.append(self._failure(name, err))
                workflow.logger.error("compensation failed; operators must settle it", extra={"step": name})
                continue
            self._compensated.append(name)
        self._compensations.clear()
        if self._failures:
            await self._raise_alert()
        self._status = OrderStatus.CANCELLED
        await self._notify("order_cancelled")

    @staticmethod
    def _failure(step: str, err: ActivityError) -> CompensationFailure:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            return CompensationFailure(step=step, error_type=cause.type or "ApplicationError", detail=cause.message)
        return CompensationFailure(step=step, error_type=type(cause).__name__, detail=str(cause or err))

    async def _raise_alert(self) -> None:
        """Make failed undos visible: the workflow memo (Web UI) and the order itself."""
        failures = [{"step": f.step, "error_type": f.error_type, "detail": f.detail} for f in self._failures]
        workflow.upsert_memo({"compensation_failures": failures})
        for failure in self._failures:
            alert = RecordAlert(
                order_id=self._params.order_id,
                kind="COMPENSATION_FAILED",
                step=failure.step,
                detail=f"{failure.error_type}: {failure.detail}"[:500],
            )
            try:
                await workflow.execute_activity_method(
                    OrdersActivities.record_alert, alert, start_to_close_timeout=STEP_TIMEOUT, retry_policy=NOTIFY_RETRY
                )
            except ActivityError:
                workflow.logger.error("could not record the alert on the order", extra={"step": failure.step})

    async def _void_payment(self) -> None:
        state = await workflow.execute_activity_method(
            PaymentsActivities.void,
            VoidPayment(order_id=self._params.order_id),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=COMPENSATION_RETRY,
        )
        self._payment_status = state.status or self._payment_status

    async def _release_stock(self) -> None:
        await workflow.execute_activity_method(
            InventoryActivities.release,
            ReleaseStock(order_id=self._params.order_id),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=COMPENSATION_RETRY,
        )

    async def _cancel_order(self) -> None:
        assert self._cancel_reason is not None
        request = self._cancel_request
        await workflow.execute_activity_method(
            OrdersActivities.cancel,
            CancelOrder(
                order_id=self._params.order_id,
                reason=self._cancel_reason.value,
                requested_by=request.requested_by if request is not None else None,
            ),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=COMPENSATION_RETRY,
        )

    async def _notify(self, template: str, *, interruptible: bool = False) -> None:
        params = self._params
        context: dict[str, Any] = {
            "order_id": params.order_id,
            "name": self._address.name,
            "total_cents": self._total_cents,
            "currency": params.currency,
            "lines": [{"sku": line.sku, "quantity": line.quantity} for line in params.lines],
        }
        if self._cancel_reason is not None:
            context["reason"] = self._cancel_reason.value
        message = SendMessage(
            template=template, recipient=params.customer_email, order_id=params.order_id, context=context
        )

        def start() -> workflow.ActivityHandle[MessageSent]:
            return workflow.start_activity_method(
                NotificationsActivities.send, message, start_to_close_timeout=STEP_TIMEOUT, retry_policy=NOTIFY_RETRY
            )

        try:
            if interruptible and self._hardened:
                await self._step(start)
            else:
                await start()
        except ActivityError as err:
            if self._hardened and is_cancelled_exception(err):
                raise
            # A lost e-mail must not undo (or block) the order itself; the failure is in the history.
            workflow.logger.warning("notification failed", extra={"template": template})

    @staticmethod
    def _reason_for(err: ActivityError | ChildWorkflowError) -> CancelReason:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in REASON_BY_ERROR_TYPE:
            return REASON_BY_ERROR_TYPE[cause.type]
        return CancelReason.FULFILMENT_FAILED

    # -- handlers ------------------------------------------------------------------------
    def _snapshot(self) -> OrderSnapshot:
        request = self._cancel_request
        return OrderSnapshot(
            order_id=self._params.order_id,
            customer_id=self._params.customer_id,
            status=self._status.value,
            cancel_reason=self._cancel_reason.value if self._cancel_reason else None,
            payment_status=self._payment_status,
            total_cents=self._total_cents,
            currency=self._params.currency,
            compensations=list(self._compensated),
            cancel_requested_by=request.requested_by if request is not None else None,
            compensation_failures=list(self._failures),
            delivery_status=self._delivery_status,
            tracking_code=self._shipped.tracking_code if self._shipped is not None else None,
            erp_document_number=self._erp_document_number,
        )

    @workflow.query
    def status(self) -> OrderSnapshot:
        return self._snapshot()

    @workflow.update
    async def cancel(self, request: CancelRequest) -> OrderSnapshot:
        self._cancel_request = request
        await workflow.wait_condition(
            lambda: self._status in (OrderStatus.CANCELLED, OrderStatus.SHIPPED, OrderStatus.DELIVERED)
        )
        if self._status != OrderStatus.CANCELLED:
            raise ApplicationError(
                f"order {self._params.order_id} shipped before the cancel could take effect", type="AlreadyShipped"
            )
        return self._snapshot()

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        if self._status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED) or self._goods_issued:
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

    @workflow.update
    async def wait_for_change(self, request: WaitForChange) -> OrderSnapshot:
        """Long poll for the gateway's event stream: the order as soon as its status is not ``request.status``.

        Also answers when the run is about to end (whatever the status), so a stream still
        waiting never keeps the workflow from finishing (``all_handlers_finished``).
        """
        await workflow.wait_condition(lambda: self._status.value != request.status or self._ending)
        return self._snapshot()

    @wait_for_change.validator
    def _validate_wait_for_change(self, request: WaitForChange) -> None:
        if request.status not in OrderStatus.__members__:
            raise ValueError(f"status must be an order status, got {request.status!r}")

    # -- the warehouse -------------------------------------------------------------------------
    @workflow.signal
    def wave_released(self, released: WaveReleased) -> None:
        """From WaveRelease: the order's wave is on the floor; PickPackShip starts."""
        if self._wave_id is None:
            self._wave_id = released.wave_id
            self._wave_workflow_id = released.workflow_id

    @workflow.signal
    def delivery_event(self, event: DeliveryEvent) -> None:
        """From the gateway's carrier webhook: the shipment's status changed.

        Kept until the order has shipped (an early event waits), handled once per event id.
        """
        if event.event_id in self._seen_events:
            return
        self._seen_events.add(event.event_id)
        self._inbox.append(event)

    # -- the ERP's status (workflows/erp_status.py) ----------------------------------------------------
    @workflow.signal(name=ERP_STATUS_SIGNAL)
    async def erp_status(self, event: ErpStatusEvent) -> None:
        """From the gateway's ERP webhook: the order's sales order has a new status.

        Handled once per event id; the newest ``occurred_at`` wins (an older one
        is ignored). ``CANCELLED`` before ``PICKING`` cancels the order
        (``ERP_REJECTED``) as the ``cancel`` update does; ``CREDIT_HOLD`` before
        the order is waved keeps it out of the wave backlog until a newer status
        lifts the hold, then puts it back; everything else is recorded only.
        """
        erp = self._erp
        occurred = _parse_time(event.occurred_at)
        if event.event_id in erp.seen or occurred is None:
            return
        erp.seen.add(event.event_id)
        if erp.status_at is not None and occurred <= erp.status_at:
            return
        erp.status_at = occurred
        erp.state.status, erp.state.occurred_at = event.status, event.occurred_at
        erp.state.on_hold = event.status == CREDIT_HOLD
        if event.status not in (CANCELLED, CREDIT_HOLD) or not self._patched(PATCH_ERP_STATUS):
            return  # recorded only (a hold keeper already running sees the hold lifted)
        if event.status == CANCELLED:
            if self._status in BEFORE_PICKING and self._cancel_request is None and self._cancel_reason is None:
                self._cancel_request = CancelRequest(reason=CancelReason.ERP_REJECTED.value, requested_by=ERP_REQUESTER)
            return
        if erp.keeping or self._wave_id is not None or self._erp_hold_ends():
            return  # kept already, or too late: the wave has the order
        erp.keeping = True
        try:
            await self._keep_erp_hold()
        finally:
            erp.keeping = False

    @workflow.query(name=ERP_STATE_QUERY)
    def erp_state(self) -> ErpOrderState:
        return self._erp.state

    def _erp_hold_ends(self) -> bool:
        """Nothing to hold any more: the order is being cancelled, is cancelled, or a wave has it."""
        return self._cancel_request is not None or self._status == OrderStatus.CANCELLED or self._wave_id is not None

    async def _keep_erp_hold(self) -> None:
        """Hold the order out of the wave backlog while the ERP holds it; requeue it when the hold is lifted.

        A cancel while held leaves it to the compensation (``warehouse.withdraw``).
        """
        state = self._erp.state
        while state.on_hold and not self._erp_hold_ends():
            await workflow.wait_condition(lambda: self._enqueued or not state.on_hold or self._erp_hold_ends())
            if not state.on_hold or self._erp_hold_ends():
                return
            state.holds += 1
            ref = HoldOrder(order_id=self._params.order_id, hold=state.holds)
            held = await self._erp_backlog_step(WarehouseActivities.hold, ref)
            if held is None or held.status != HELD:
                return  # its wave reached the floor first, or it was withdrawn: the hold comes too late
            state.held = True
            await workflow.wait_condition(lambda: not state.on_hold or self._erp_hold_ends())
            if self._erp_hold_ends():
                return
            await self._erp_backlog_step(WarehouseActivities.requeue, ref)
            state.held = False

    async def _erp_backlog_step(
        self, step: Callable[[WarehouseActivities, HoldOrder], Awaitable[BacklogState]], ref: HoldOrder
    ) -> BacklogState | None:
        try:
            return await workflow.execute_activity_method(
                step, ref, start_to_close_timeout=HOLD_TIMEOUT, retry_policy=HOLD_RETRY
            )
        except ActivityError:
            # Refused for good (never retried into success): the order goes on as it is; operators see it here.
            workflow.logger.error("credit hold step failed", extra={"step": ref.hold})
            return None

    @workflow.signal
    def progress(self, progress: OrderProgress) -> None:
        """From PickPackShip: the order moved on (``PICKING``, ``PACKED``, ``SHIPPED``; goods issued)."""
        if progress.goods_issued:
            self._goods_issued = True
        if self._status == OrderStatus.CANCELLED or progress.status not in OrderStatus.__members__:
            return
        self._status = OrderStatus(progress.status)

    @workflow.update
    async def change_address(self, request: ChangeAddressRequest) -> OrderSnapshot:
        info = workflow.current_update_info()
        await workflow.execute_activity_method(
            FulfilmentActivities.change_address,
            ChangeAddress(
                order_id=self._params.order_id,
                shipping_address=request.shipping_address,
                ref=info.id if info is not None else "address",
            ),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY,
        )
        self._address = request.shipping_address
        child = self._child
        if child is not None and not child.done():
            await child.signal(PickPackShip.address_changed, request.shipping_address)
        return self._snapshot()

    @change_address.validator
    def _validate_change_address(self, request: ChangeAddressRequest) -> None:
        if self._status in ADDRESS_FINAL or self._cancel_request is not None or self._goods_issued:
            raise ApplicationError(
                f"order {self._params.order_id} is {self._status.value}; its address can no longer change",
                type=ADDRESS_LOCKED,
            )

"""Order use cases of the gateway: price, start, read and cancel.

The gateway never sequences services itself: it prices the lines from the
catalogue (a read), starts the ``OrderFulfillment`` workflow under the
business key ``order-<order_id>`` and from then on reads state or sends the
workflow updates.

An ``Idempotency-Key`` maps (with the caller) to a fixed order id, so a
repeat is recognised by its workflow before anything else is asked: it
answers the order's current status, even while the catalogue is down.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from common.errors import Conflict, NotFound, RuleViolation
from common.idempotency import fingerprint
from common.logging import get_logger
from common.security import Principal
from gateway.auth import is_staff
from gateway.clients import ServiceClients
from gateway.models import (
    CompensationFailureView,
    OrderAccepted,
    OrderDecision,
    OrderStatus,
    OrderView,
    PlaceOrderRequest,
)
from gateway.updates import GONE, NOT_READY
from workflows.order_fulfillment import (
    WORKFLOW_NAME,
    OrderFulfillment,
    OrderFulfillmentInput,
    OrderLine,
    OrderSnapshot,
    ShippingAddress,
    WaitForStatus,
    workflow_id,
)
from workflows.order_types import ACCEPTED_STATUSES, DEFAULT_DELIVERY_GRACE_SECONDS

# Orders placed with the same Idempotency-Key by the same user map to one id.
_ORDER_NAMESPACE = uuid.UUID("6f0d7c7e-8a43-4a8e-9d0b-0d1f5c3a7e21")
_FINGERPRINT_MEMO = "request_fingerprint"
# A status query needs a worker; without one, fall back to the orders service rather than hang.
_QUERY_TIMEOUT = timedelta(seconds=5)
#: How long an order page waits for a cancelled order's workflow to list its compensations (a closed
#: workflow answers by replay on a worker); past it the page shows the order without them.
COMPENSATIONS_TIMEOUT = timedelta(seconds=2)

log = get_logger("paklog.gateway.orders")


def new_order_id(principal: Principal, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return uuid.uuid4().hex[:20]
    return uuid.uuid5(_ORDER_NAMESPACE, f"{principal.username}\x00{idempotency_key}").hex[:20]


async def price_lines(clients: ServiceClients, body: PlaceOrderRequest) -> tuple[list[OrderLine], str]:
    """Snapshot today's prices; unknown SKUs and mixed currencies are 422."""
    merged: dict[str, int] = {}
    for line in body.lines:
        merged[line.sku] = merged.get(line.sku, 0) + line.quantity
    if any(q > 1000 for q in merged.values()):
        raise RuleViolation("at most 1000 units of one SKU per order", type="QuantityTooLarge")
    products = await asyncio.gather(*(clients.product(sku) for sku in merged))
    unknown = [sku for sku, product in zip(merged, products, strict=True) if product is None]
    if unknown:
        raise RuleViolation(f"unknown SKU: {', '.join(unknown)}", type="UnknownSku", extra={"skus": unknown})
    currencies = {p.currency for p in products if p is not None}
    if len(currencies) != 1:
        raise RuleViolation("all lines of one order must share a currency", type="MixedCurrencies")
    lines = [
        OrderLine(sku=sku, quantity=quantity, unit_price_cents=product.price_cents)
        for (sku, quantity), product in zip(merged.items(), products, strict=True)
        if product is not None
    ]
    return lines, currencies.pop()


async def place_order(
    client: Client,
    clients: ServiceClients,
    task_queue: str,
    principal: Principal,
    body: PlaceOrderRequest,
    idempotency_key: str | None,
    *,
    delivery_grace_seconds: int = DEFAULT_DELIVERY_GRACE_SECONDS,
) -> tuple[OrderAccepted, bool]:
    """Start the saga; the same key and body answer the same order, one workflow.

    Returns:
        The accepted order and whether it is a repeat of an earlier request.

    Raises:
        Conflict: ``IdempotencyKeyReused`` when the key was used with another body.
    """
    request_fingerprint = fingerprint(principal.username, body.model_dump(mode="json"))
    order_id = new_order_id(principal, idempotency_key)
    if idempotency_key is not None:
        repeated = await _repeat(client, clients, order_id, request_fingerprint)
        if repeated is not None:
            return repeated, True
    params = await _start_input(clients, principal, body, order_id, delivery_grace_seconds)
    try:
        await client.start_workflow(
            WORKFLOW_NAME,
            params,
            id=workflow_id(order_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            memo=_memo(principal, request_fingerprint),
        )
    except WorkflowAlreadyStartedError:
        if idempotency_key is None:  # pragma: no cover - 80 random bits collided
            raise
        # A concurrent request with the same key started it a moment ago.
        repeated = await _repeat(client, clients, order_id, request_fingerprint)
        if repeated is None:  # pragma: no cover - it was started, so it exists
            raise
        return repeated, True
    return OrderAccepted(order_id=order_id, workflow_id=workflow_id(order_id), status=OrderStatus.PENDING), False


async def checkout(
    client: Client,
    clients: ServiceClients,
    task_queue: str,
    principal: Principal,
    body: PlaceOrderRequest,
    idempotency_key: str | None,
    *,
    wait_seconds: float,
    delivery_grace_seconds: int = DEFAULT_DELIVERY_GRACE_SECONDS,
) -> tuple[OrderDecision, bool, bool]:
    """Start the saga and answer once the order is accepted or rejected, in one round trip.

    Update-with-start: one request starts ``order-<id>`` and sends it the
    ``wait_for_status`` update (accepted: :data:`ACCEPTED_STATUSES`, or
    ``CANCELLED`` with its reason), answered when the saga gets there. A repeat
    of the same key and body waits on the same order (it is not started twice).

    Returns:
        The order's decision (or its state when ``wait_seconds`` passed first),
        whether it was decided, and whether it repeats an earlier request.

    Raises:
        Conflict: ``IdempotencyKeyReused`` when the key was used with another body.
    """
    request_fingerprint = fingerprint(principal.username, body.model_dump(mode="json"))
    order_id = new_order_id(principal, idempotency_key)
    if idempotency_key is not None and await _repeat(client, clients, order_id, request_fingerprint) is not None:
        return *await _await_decision(client, clients, order_id, wait_seconds), True
    params = await _start_input(clients, principal, body, order_id, delivery_grace_seconds)
    start = WithStartWorkflowOperation(
        OrderFulfillment.run,
        params,
        id=workflow_id(order_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        memo=_memo(principal, request_fingerprint),
    )
    try:
        snapshot = await asyncio.wait_for(
            client.execute_update_with_start_workflow(
                OrderFulfillment.wait_for_status, WaitForStatus.accepted(), start_workflow_operation=start
            ),
            timeout=wait_seconds,
        )
    except WorkflowAlreadyStartedError:
        if idempotency_key is None:  # pragma: no cover - 80 random bits collided
            raise
        # A concurrent request with the same key started it a moment ago.
        if await _repeat(client, clients, order_id, request_fingerprint) is None:  # pragma: no cover
            raise
        return *await _await_decision(client, clients, order_id, wait_seconds), True
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return await _state_now(client, clients, order_id), False, False
    return _decision(snapshot), True, False


async def _await_decision(
    client: Client, clients: ServiceClients, order_id: str, wait_seconds: float
) -> tuple[OrderDecision, bool]:
    """The decision on an order already placed: its ``wait_for_status`` update, or its record once it has ended."""
    try:
        snapshot = await asyncio.wait_for(
            order_handle(client, order_id).execute_update(OrderFulfillment.wait_for_status, WaitForStatus.accepted()),
            timeout=wait_seconds,
        )
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return await _state_now(client, clients, order_id), False
    except WorkflowUpdateFailedError:
        state = await _state_now(client, clients, order_id)
        return state, _decided(state.status)
    except RPCError as exc:
        if exc.status == NOT_READY:  # running, retrying a failed workflow task: undecided as yet
            return await _state_now(client, clients, order_id), False
        if exc.status not in GONE:
            raise
        # The workflow has ended (an update finds nothing running): its outcome is on the order's record.
        state = await _state_now(client, clients, order_id)
        return state, _decided(state.status)
    return _decision(snapshot), True


def _decided(status: OrderStatus) -> bool:
    return status in ACCEPTED_STATUSES or status == OrderStatus.CANCELLED


def _decision(snapshot: OrderSnapshot) -> OrderDecision:
    return OrderDecision(
        order_id=snapshot.order_id,
        workflow_id=workflow_id(snapshot.order_id),
        status=OrderStatus(snapshot.status),
        cancel_reason=snapshot.cancel_reason,
    )


async def _state_now(client: Client, clients: ServiceClients, order_id: str) -> OrderDecision:
    """The order as it stands: the workflow's own view, else the orders service's record, else just placed."""
    try:
        snapshot = await order_handle(client, order_id).query(OrderFulfillment.status, rpc_timeout=_QUERY_TIMEOUT)
        return _decision(snapshot)
    except (RPCError, WorkflowQueryFailedError):
        record = await clients.order(order_id)
    if record is None:
        return OrderDecision(order_id=order_id, workflow_id=workflow_id(order_id), status=OrderStatus.PENDING)
    return OrderDecision(
        order_id=order_id, workflow_id=workflow_id(order_id), status=record.status, cancel_reason=record.cancel_reason
    )


def _memo(principal: Principal, request_fingerprint: str) -> dict[str, Any]:
    return {_FINGERPRINT_MEMO: request_fingerprint, "customer_id": principal.username}


async def _start_input(
    clients: ServiceClients,
    principal: Principal,
    body: PlaceOrderRequest,
    order_id: str,
    delivery_grace_seconds: int,
) -> OrderFulfillmentInput:
    """The saga's input: the lines priced from the catalogue now, the caller as the customer."""
    lines, currency = await price_lines(clients, body)
    address = body.shipping_address
    return OrderFulfillmentInput(
        order_id=order_id,
        customer_id=principal.username,
        customer_email=principal.email,
        currency=currency,
        lines=lines,
        shipping_address=ShippingAddress(
            name=address.name,
            line1=address.line1,
            city=address.city,
            postal_code=address.postal_code,
            country=address.country,
        ),
        card_token=body.payment.card_token,
        delivery_grace_seconds=delivery_grace_seconds,
    )


async def _repeat(
    client: Client, clients: ServiceClients, order_id: str, request_fingerprint: str
) -> OrderAccepted | None:
    """The order an earlier request with this key started, at its current status; ``None`` if none did."""
    try:
        description = await order_handle(client, order_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    memo = await description.memo()
    if memo.get(_FINGERPRINT_MEMO) != request_fingerprint:
        raise Conflict("Idempotency-Key was already used for a different order", type="IdempotencyKeyReused")
    return OrderAccepted(
        order_id=order_id, workflow_id=workflow_id(order_id), status=await _current_status(client, clients, order_id)
    )


async def _current_status(client: Client, clients: ServiceClients, order_id: str) -> OrderStatus:
    """The workflow's own status; the orders service's record when no worker answers the query."""
    try:
        snapshot = await order_handle(client, order_id).query(OrderFulfillment.status, rpc_timeout=_QUERY_TIMEOUT)
        return OrderStatus(snapshot.status)
    except (RPCError, WorkflowQueryFailedError):
        record = await clients.order(order_id)
        # No record yet: the workflow has not reached its first step.
        return record.status if record is not None else OrderStatus.PENDING


def order_handle(client: Client, order_id: str) -> WorkflowHandle[OrderFulfillment, Any]:
    return client.get_workflow_handle_for(OrderFulfillment.run, workflow_id(order_id))


async def workflow_snapshot(client: Client, order_id: str) -> OrderSnapshot | None:
    """The workflow's own view, for orders the orders service has not recorded yet."""
    try:
        return await order_handle(client, order_id).query(OrderFulfillment.status)
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            return None
        raise


def _owned(principal: Principal, customer_id: str) -> bool:
    return is_staff(principal) or customer_id == principal.username


def _failures(snapshot: OrderSnapshot) -> list[CompensationFailureView]:
    return [
        CompensationFailureView(step=f.step, error_type=f.error_type, detail=f.detail)
        for f in snapshot.compensation_failures
    ]


async def compensations(client: Client, order_id: str) -> OrderSnapshot | None:
    """A cancelled order's workflow's own view (its compensations), or None when it does not answer in time.

    Asked through the workflow's ``status`` query, which a closed workflow
    answers too while a worker runs; no workflow, no worker, a query that
    fails or a Temporal that does not answer is logged and answered None, so
    the order page still shows the order.
    """
    timeout = COMPENSATIONS_TIMEOUT.total_seconds()
    try:
        return await asyncio.wait_for(
            order_handle(client, order_id).query(OrderFulfillment.status, rpc_timeout=COMPENSATIONS_TIMEOUT),
            timeout=timeout + 1,
        )
    except (RPCError, WorkflowQueryFailedError, TimeoutError) as exc:
        log.warning(
            "compensations unavailable",
            order_id=order_id,
            workflow_id=workflow_id(order_id),
            error=type(exc).__name__,
            detail=str(exc)[:200],
        )
        return None


async def get_order(
    client: Client,
    clients: ServiceClients,
    principal: Principal,
    order_id: str,
    *,
    with_compensations: bool = False,
) -> OrderView:
    """An order the caller may see; someone else's order is indistinguishable from none.

    With ``with_compensations``, a cancelled order's view carries its
    compensations from its workflow (:func:`compensations`; null when it does
    not answer in time).
    """
    record, payment_status = await asyncio.gather(clients.order(order_id), clients.payment_status(order_id))
    if record is not None:
        if not _owned(principal, record.customer_id):
            raise NotFound(f"no order {order_id}", type="OrderNotFound")
        undone = None
        if with_compensations and record.status == OrderStatus.CANCELLED:
            undone = await compensations(client, order_id)
        return OrderView(
            order_id=order_id,
            status=record.status,
            cancel_reason=record.cancel_reason,
            lines=record.lines,
            total_cents=record.total_cents,
            currency=record.currency,
            payment_status=payment_status,
            history=record.history or [],
            customer_id=record.customer_id,
            workflow_id=workflow_id(order_id),
            created_at=record.created_at,
            alerts=record.alerts,
            tracking_code=record.tracking_code,
            carrier=record.carrier,
            shipped_lines=record.shipped_lines,
            erp_document_number=record.erp_document_number,
            compensations=undone.compensations if undone is not None else None,
            compensation_failures=_failures(undone) if undone is not None else None,
        )
    snapshot = await workflow_snapshot(client, order_id)
    if snapshot is None or not _owned(principal, snapshot.customer_id):
        raise NotFound(f"no order {order_id}", type="OrderNotFound")
    cancelled = with_compensations and snapshot.status == OrderStatus.CANCELLED
    return OrderView(
        order_id=order_id,
        status=OrderStatus(snapshot.status),
        cancel_reason=snapshot.cancel_reason,
        lines=[],
        total_cents=snapshot.total_cents,
        currency=snapshot.currency,
        payment_status=snapshot.payment_status or payment_status,
        history=[],
        customer_id=snapshot.customer_id,
        workflow_id=workflow_id(order_id),
        erp_document_number=snapshot.erp_document_number,
        compensations=snapshot.compensations if cancelled else None,
        compensation_failures=_failures(snapshot) if cancelled else None,
    )

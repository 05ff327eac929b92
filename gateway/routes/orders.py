"""``/api/orders``: place, list, read and cancel orders."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.service import RPCError, RPCStatusCode

from common.errors import Conflict, Forbidden
from common.idempotency import IdempotencyKeyDep
from common.security import Principal
from common.vocabulary import CancelReason
from gateway import orders
from gateway.auth import PrincipalDep, is_staff
from gateway.clients import ServiceClients
from gateway.models import (
    CancelOrderRequest,
    CancelView,
    CompensationFailureView,
    OrderAccepted,
    OrderSummary,
    OrderView,
    PlaceOrderRequest,
)
from workflows.order_fulfillment import CancelRequest, OrderFulfillment

router = APIRouter(prefix="/api/orders", tags=["orders"])
OrderIdPath = Annotated[str, Path(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]


def _clients(request: Request) -> ServiceClients:
    clients: ServiceClients = request.app.state.clients
    return clients


@router.post("", status_code=202, response_model=OrderAccepted)
async def place_order(
    request: Request, body: PlaceOrderRequest, principal: PrincipalDep, key: IdempotencyKeyDep = None
) -> JSONResponse:
    """Start an order's fulfilment; answers at once with its id (202)."""
    settings = request.app.state.settings
    accepted = await orders.place_order(
        request.app.state.temporal, _clients(request), settings.task_queue, principal, body, key
    )
    return JSONResponse(accepted.model_dump(), status_code=202)


@router.get("", response_model=list[OrderSummary])
async def list_orders(
    request: Request,
    principal: PrincipalDep,
    status: Annotated[str | None, Query(pattern=r"^[A-Z_]{1,32}$")] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[OrderSummary]:
    """The caller's orders, newest first; operators and admins see everyone's."""
    owner = customer_id if is_staff(principal) else principal.username
    records = await _clients(request).orders(customer_id=owner, status=status, limit=limit, offset=offset)
    return [OrderSummary.model_validate(r) for r in records]


@router.get("/{order_id}", response_model=OrderView)
async def get_order(request: Request, principal: PrincipalDep, order_id: OrderIdPath) -> OrderView:
    return await orders.get_order(request.app.state.temporal, _clients(request), principal, order_id)


@router.post(
    "/{order_id}/cancel",
    response_model=CancelView,
    responses={202: {"model": CancelView, "description": "Accepted; compensation is still running"}},
)
async def cancel_order(
    request: Request,
    principal: PrincipalDep,
    order_id: OrderIdPath,
    body: CancelOrderRequest | None = None,
) -> JSONResponse:
    """Cancel through the order's workflow (its ``cancel`` update).

    Answers 200 once compensation has run, or 202 with the order's state when
    it is still running after ``cancel_wait_seconds`` (it goes on; poll the order).
    """
    client = request.app.state.temporal
    reason = _cancel_reason(principal, body)
    await orders.get_order(client, _clients(request), principal, order_id)  # 404 unless visible to the caller
    handle = orders.order_handle(client, order_id)
    try:
        update = await handle.start_update(
            OrderFulfillment.cancel,
            CancelRequest(reason=reason.value, requested_by=principal.username),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise Conflict(str(getattr(cause, "message", cause)), type="CancelRejected") from None
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise Conflict("the order's workflow has already finished", type="CancelRejected") from None
        raise
    settings = request.app.state.settings
    try:
        snapshot = await asyncio.wait_for(update.result(), timeout=settings.cancel_wait_seconds)
        status_code = 200
    except TimeoutError:
        snapshot = await handle.query(OrderFulfillment.status)
        status_code = 202
    view = CancelView(
        order_id=snapshot.order_id,
        status=snapshot.status,
        cancel_reason=snapshot.cancel_reason,
        cancel_requested_by=snapshot.cancel_requested_by,
        compensations=snapshot.compensations,
        compensation_failures=[
            CompensationFailureView(step=f.step, error_type=f.error_type, detail=f.detail)
            for f in snapshot.compensation_failures
        ],
    )
    return JSONResponse(view.model_dump(mode="json"), status_code=status_code)


def _cancel_reason(principal: Principal, body: CancelOrderRequest | None) -> CancelReason:
    """Customers cancel as customers; operators and admins may give any reason."""
    requested = body.reason if body is not None else None
    if is_staff(principal):
        return requested or CancelReason.OPERATOR_CANCELLED
    if requested not in (None, CancelReason.CUSTOMER_CANCELLED):
        raise Forbidden("customers can only cancel with reason CUSTOMER_CANCELLED", type="ReasonNotAllowed")
    return CancelReason.CUSTOMER_CANCELLED

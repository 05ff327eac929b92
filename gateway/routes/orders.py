"""``/api/orders``: place, list, read and cancel orders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from temporalio.service import RPCError

from common.errors import Conflict, Forbidden, RuleViolation
from common.idempotency import IdempotencyKeyDep
from common.paging import MAX_CURSOR_LENGTH, IsoDateTime
from common.security import Principal
from common.vocabulary import CancelReason
from gateway import live, orders, warehouse
from gateway.audit.middleware import note_order
from gateway.auth import PrincipalDep, is_staff
from gateway.clients import ServiceClients
from gateway.errors import error_responses, json_error_responses
from gateway.models import (
    CancelOrderRequest,
    CancelView,
    CompensationFailureView,
    OrderAccepted,
    OrderDecision,
    OrderEvent,
    OrderPage,
    OrderStatus,
    OrderView,
    PlaceOrderRequest,
)
from gateway.openapi import event_stream_content
from gateway.updates import GONE, Rejection, run_update
from gateway.warehouse_models import ChangeAddressBody
from workflows.order_fulfillment import CancelRequest, OrderFulfillment, OrderSnapshot

# Every route here needs a token and may meet a service or Temporal that is down.
router = APIRouter(prefix="/api/orders", tags=["orders"], responses=error_responses(401, 502, 503))
OrderIdPath = Annotated[str, Path(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
# Deep offsets are cheap to ask and expensive to answer; no caller pages this far.
MAX_OFFSET = 1_000_000


def _clients(request: Request) -> ServiceClients:
    clients: ServiceClients = request.app.state.clients
    return clients


@router.post(
    "",
    status_code=202,
    response_model=OrderAccepted | OrderDecision,
    responses={
        **error_responses(400, 409, 413, 422),
        201: {
            "model": OrderDecision,
            "description": "`?wait=accepted`: the order is accepted (stock reserved, payment authorized) "
            "or rejected (`CANCELLED` with its `cancel_reason`)",
        },
        202: {
            "description": "Placed; without `wait` at once, with `?wait=accepted` when the deadline passed first "
            "(then with `cancel_reason`)",
            "headers": {"Idempotent-Replayed": {"description": "`true` when this repeats an earlier request"}},
        },
    },
)
async def place_order(
    request: Request,
    response: Response,
    body: PlaceOrderRequest,
    principal: PrincipalDep,
    key: IdempotencyKeyDep = None,
    wait: Annotated[
        Literal["accepted"] | None,
        Query(description="`accepted`: answer 201 once the order is accepted or rejected (checkout)"),
    ] = None,
) -> OrderAccepted | OrderDecision:
    """Start an order's fulfilment; answers at once with its id (202).

    With ``?wait=accepted`` it answers once the order is accepted or rejected
    (201 with ``status`` and ``cancel_reason``), in one round trip to Temporal
    (update-with-start); past ``update_wait_seconds`` it answers 202 with the
    order's state then. A repeat with the same ``Idempotency-Key`` and body
    answers the same order at its current status (waiting for its decision
    too, with ``wait``); the same key with another body is 409.
    """
    settings = request.app.state.settings
    if wait is not None:
        decision, decided, repeated = await orders.checkout(
            request.app.state.temporal,
            _clients(request),
            settings.task_queue,
            principal,
            body,
            key,
            wait_seconds=settings.update_wait_seconds,
            delivery_grace_seconds=settings.delivery_grace_seconds,
        )
        if decided:
            response.status_code = 201
        if repeated:
            response.headers["Idempotent-Replayed"] = "true"
        note_order(request, order_id=decision.order_id, workflow_id=decision.workflow_id)
        return decision
    accepted, repeated = await orders.place_order(
        request.app.state.temporal,
        _clients(request),
        settings.task_queue,
        principal,
        body,
        key,
        delivery_grace_seconds=settings.delivery_grace_seconds,
    )
    if repeated:
        response.headers["Idempotent-Replayed"] = "true"
    note_order(request, order_id=accepted.order_id, workflow_id=accepted.workflow_id)
    return accepted


@router.get("", response_model=OrderPage, responses=error_responses(422))
async def list_orders(
    request: Request,
    principal: PrincipalDep,
    status: Annotated[OrderStatus | None, Query()] = None,
    customer_id: Annotated[str | None, Query(max_length=64, description="Staff only: this customer's orders")] = None,
    reason: Annotated[CancelReason | None, Query(description="Only orders cancelled for this reason")] = None,
    since: Annotated[
        IsoDateTime | None, Query(description="Placed at or after this time (ISO 8601 with a zone)")
    ] = None,
    until: Annotated[IsoDateTime | None, Query(description="Placed before this time (ISO 8601 with a zone)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="A previous page's next_cursor: the page after it (422 InvalidCursor if not one given out)",
        ),
    ] = None,
) -> OrderPage:
    """The caller's orders, newest first; operators and admins see everyone's.

    Filters (``status``, ``reason``, placed ``since`` / before ``until``, and
    for staff ``customer_id``) combine, and hold on every page: walk with
    ``cursor`` (and the same filters) to see each matching order once while new
    ones are placed; ``offset`` pages still work, but shift as orders arrive.
    ``since`` not before ``until`` is 422 ``InvalidTimeRange``; a time without
    a zone is 422.
    """
    if since is not None and until is not None and since >= until:
        raise RuleViolation("since must be before until", type="InvalidTimeRange")
    owner = customer_id if is_staff(principal) else principal.username
    page = await _clients(request).orders(
        customer_id=owner,
        status=status,
        reason=reason,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    return OrderPage(
        items=page.items, total=page.total, limit=page.limit, offset=page.offset, next_cursor=page.next_cursor
    )


LastEventId = Annotated[
    int,
    Header(
        alias="Last-Event-ID",
        ge=0,
        le=1_000_000_000,
        description="The id of the last event received: the stream resumes with the next change",
    ),
]


def _bell(request: Request) -> live.OrderBell:
    """The process's one :class:`~gateway.live.OrderBell` for its Temporal client."""
    temporal = request.app.state.temporal
    bell: live.OrderBell | None = getattr(request.app.state, "order_bell", None)
    if bell is None or bell.client is not temporal:
        bell = request.app.state.order_bell = live.OrderBell(temporal)
    return bell


async def order_stream(request: Request, principal: PrincipalDep, order_id: OrderIdPath) -> AsyncIterator[Principal]:
    """Admit a stream of the order: visible to the caller (else 404, before anything is streamed) and
    within the caller's open streams (429 ``TooManyStreams``); the slot is held until the stream ends."""
    await orders.get_order(request.app.state.temporal, _clients(request), principal, order_id)
    slots: live.StreamSlots = request.app.state.stream_slots
    slots.acquire(principal.username)
    try:
        yield principal
    finally:
        slots.release(principal.username)


#: The event streams: their success is ``text/event-stream``, their errors JSON (so not ``router``'s responses).
events_router = APIRouter(prefix="/api/orders", tags=["orders"])


@events_router.get(
    "/{order_id}/events",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "Server-Sent Events: `event: status`, `id: <seq>`, `data:` an `OrderEvent`; "
            "ends after `DELIVERED` or `CANCELLED`; `: keep-alive` comments while nothing happens",
            "content": event_stream_content(OrderEvent),
        },
        **json_error_responses(401, 404, 422, 502, 503),
        429: {
            "description": "`TooManyStreams`: the caller holds `streams_per_principal` streams open already",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
        },
    },
)
async def order_events(
    request: Request,
    principal: Annotated[Principal, Depends(order_stream)],
    order_id: OrderIdPath,
    last_event_id: LastEventId = 0,
) -> AsyncIterator[ServerSentEvent]:
    """Each status change of the order as it happens, as Server-Sent Events.

    The first connection gets every change so far; with ``Last-Event-ID`` only
    those after it, then the live ones. Seen by whoever may ``GET`` the order
    (someone else's is 404); at most ``streams_per_principal`` streams per caller.
    """
    settings = request.app.state.settings
    async for event in live.order_events(
        _clients(request),
        _bell(request),
        order_id,
        after=last_event_id,
        heartbeat_seconds=settings.stream_heartbeat_seconds,
    ):
        yield event


@router.get("/{order_id}", response_model=OrderView, responses=error_responses(404, 422))
async def get_order(request: Request, principal: PrincipalDep, order_id: OrderIdPath) -> OrderView:
    """The order as it stands; a cancelled one with its ``compensations`` (as the cancel answer listed them),
    asked of its workflow (null when it does not answer within a couple of seconds)."""
    return await orders.get_order(
        request.app.state.temporal, _clients(request), principal, order_id, with_compensations=True
    )


@router.post(
    "/{order_id}/cancel",
    response_model=CancelView,
    responses={
        202: {"model": CancelView, "description": "Accepted; compensation is still running"},
        **error_responses(400, 403, 404, 409, 413, 422),
    },
)
async def cancel_order(
    request: Request,
    response: Response,
    principal: PrincipalDep,
    order_id: OrderIdPath,
    body: CancelOrderRequest | None = None,
) -> CancelView:
    """Cancel through the order's workflow (its ``cancel`` update).

    Answers 200 once compensation has run, or 202 with the order's state when
    it is still running after ``cancel_wait_seconds`` (it goes on; poll the order).
    """
    client = request.app.state.temporal
    reason = _cancel_reason(principal, body)
    await orders.get_order(client, _clients(request), principal, order_id)  # 404 unless visible to the caller
    handle = orders.order_handle(client, order_id)
    settings = request.app.state.settings
    cancel = CancelRequest(reason=reason.value, requested_by=principal.username)
    try:
        done = await run_update(
            handle, "cancel", cancel, wait_seconds=settings.cancel_wait_seconds, result_type=OrderSnapshot
        )
    except Rejection as rejected:  # the validator refused it (already cancelled, shipped ...)
        raise Conflict(rejected.detail, type="CancelRejected") from None
    except RPCError as exc:
        if exc.status in GONE:
            raise Conflict("the order's workflow has already finished", type="CancelRejected") from None
        raise
    if done is None:  # accepted; compensation still running
        snapshot = await handle.query(OrderFulfillment.status)
        response.status_code = 202
    else:
        snapshot = done.value
    return CancelView(
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


@router.put(
    "/{order_id}/shipping-address",
    response_model=OrderView,
    responses={
        202: {"model": OrderView, "description": "Accepted; the change is still being recorded"},
        **error_responses(400, 404, 409, 413, 422),
    },
)
async def change_shipping_address(
    request: Request, response: Response, principal: PrincipalDep, order_id: OrderIdPath, body: ChangeAddressBody
) -> OrderView:
    """Ship the order somewhere else (its workflow's ``change_address`` update): the owner or staff.

    Refused with 409 ``AddressLocked`` once the order is packed.
    """
    settings = request.app.state.settings
    view, done = await warehouse.change_address(
        request.app.state.temporal,
        _clients(request),
        wait_seconds=settings.update_wait_seconds,
        principal=principal,
        order_id=order_id,
        address=body.shipping_address,
    )
    if not done:
        response.status_code = 202
    return view


def _cancel_reason(principal: Principal, body: CancelOrderRequest | None) -> CancelReason:
    """Customers cancel as customers; operators and admins may give any reason."""
    requested = body.reason if body is not None else None
    if is_staff(principal):
        return requested or CancelReason.OPERATOR_CANCELLED
    if requested not in (None, CancelReason.CUSTOMER_CANCELLED):
        raise Forbidden("customers can only cancel with reason CUSTOMER_CANCELLED", type="ReasonNotAllowed")
    return CancelReason.CUSTOMER_CANCELLED

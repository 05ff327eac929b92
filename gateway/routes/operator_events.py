"""``GET /api/orders/events``: the operator stream of every order's status changes (:mod:`gateway.feed`).

Its own router, included before ``/api/orders/{order_id}`` so that ``events``
is never read as an order id.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from common.errors import RuleViolation
from common.security import Principal
from gateway import feed, live
from gateway.auth import staff_principal
from gateway.clients import ServiceClients
from gateway.errors import json_error_responses
from gateway.models import CURSOR_PATTERN, OrderChange, OrderStatus
from gateway.openapi import event_stream_content

#: Its success is ``text/event-stream``, its errors JSON.
router = APIRouter(prefix="/api/orders", tags=["orders"])
_MAX_CURSOR = (2**64 - 1, 2**63 - 1)


def _clients(request: Request) -> ServiceClients:
    clients: ServiceClients = request.app.state.clients
    return clients


_CURSOR = re.compile(CURSOR_PATTERN)
_CURSOR_DOC = "A change's `id` (`<xid>.<id>`): the stream resumes with the change after it"


def _resume_cursor(*given: str | None) -> str | None:
    """The first cursor given (``Last-Event-ID`` before ``?after=``); 422 ``InvalidCursor`` unless one handed out."""
    for cursor in given:
        if cursor is not None:
            if not _CURSOR.match(cursor) or feed.cursor_key(cursor) > _MAX_CURSOR:
                raise RuleViolation(f"{cursor[:50]!r} is not an event id of this stream", type="InvalidCursor")
            return cursor
    return None


def _feed(request: Request) -> feed.OrderFeed:
    """The process's one :class:`~gateway.feed.OrderFeed`, over its service clients."""
    clients = _clients(request)
    order_feed: feed.OrderFeed | None = getattr(request.app.state, "order_feed", None)
    if order_feed is None or order_feed.clients is not clients:
        wait = request.app.state.settings.history_wait_seconds
        order_feed = request.app.state.order_feed = feed.OrderFeed(clients, wait_seconds=wait)
    return order_feed


class OperatorStream:
    """An admitted operator stream: its place in the feed, and where it resumes."""

    def __init__(self, subscription: feed.Subscription, joined: str, after: str | None) -> None:
        self.subscription = subscription
        self.joined = joined
        self.after = after


async def operator_stream(
    request: Request,
    principal: Annotated[Principal, Depends(staff_principal)],
    status: Annotated[
        list[OrderStatus] | None, Query(description="Only changes to these statuses (repeat it for several)")
    ] = None,
    customer: Annotated[str | None, Query(max_length=64, description="Only this customer's orders")] = None,
    after: Annotated[str | None, Query(max_length=41, description=_CURSOR_DOC + " (`Last-Event-ID` wins)")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=41, description=_CURSOR_DOC)] = None,
) -> AsyncIterator[OperatorStream]:
    """Admit an operator stream: staff only (403), a well-formed cursor (422), within the caller's open
    streams (429 ``TooManyStreams``); it joins the feed here, so the orders service being down is a 503
    before anything is streamed. The slot and the place in the feed are held until the stream ends."""
    resume = _resume_cursor(last_event_id, after)
    slots: live.StreamSlots = request.app.state.stream_slots
    slots.acquire(principal.username)
    try:
        order_feed = _feed(request)
        subscription = feed.Subscription(
            statuses=[s.value for s in status or ()],
            customer=customer,
            backlog=request.app.state.settings.operator_stream_backlog,
        )
        joined = await order_feed.subscribe(subscription)
        try:
            yield OperatorStream(subscription, joined, resume)
        finally:
            order_feed.unsubscribe(subscription)
    finally:
        slots.release(principal.username)


@router.get(
    "/events",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "Server-Sent Events: `event: status`, `id: <xid>.<id>`, `data:` an `OrderChange`, "
            "for every order, in commit order, from now (or after `Last-Event-ID`); `: keep-alive` comments "
            "while nothing happens; a stream that falls too far behind ends with `event: overflow`",
            "content": event_stream_content(OrderChange),
        },
        **json_error_responses(401, 403, 422, 502, 503),
        429: {
            "description": "`TooManyStreams`: the caller holds `streams_per_principal` streams open already",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
        },
    },
)
async def all_order_events(
    request: Request, stream: Annotated[OperatorStream, Depends(operator_stream)]
) -> AsyncIterator[ServerSentEvent]:
    """Every order's status changes as they commit, as Server-Sent Events: operators and admins only.

    Starts at now; with ``Last-Event-ID`` (or ``?after=``) it resumes after that
    change, losing none. ``?status=`` (repeatable) and ``?customer=`` filter it.
    """
    async for event in feed.operator_events(
        _clients(request),
        stream.subscription,
        joined=stream.joined,
        after=stream.after,
        heartbeat_seconds=request.app.state.settings.stream_heartbeat_seconds,
    ):
        yield event

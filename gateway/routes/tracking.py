"""``/api/webhooks/carriers/{carrier}`` (signed carrier events) and ``/api/tracking`` (any signed-in user)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from common.webhooks import SIGNATURE_HEADER
from gateway import tracking
from gateway.auth import PrincipalDep
from gateway.clients import ServiceClients
from gateway.errors import error_responses
from gateway.openapi import signed_webhook
from gateway.tracking_models import (
    CARRIER_PATTERN,
    CarrierEvent,
    SubscribeRequest,
    SubscriptionPage,
    SubscriptionView,
    TrackingView,
    WebhookAck,
)
from gateway.warehouse_models import TRACKING_PATTERN

webhooks_router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])
tracking_router = APIRouter(prefix="/api/tracking", tags=["tracking"], responses=error_responses(401, 422, 502, 503))
TrackingPath = Annotated[str, Path(pattern=TRACKING_PATTERN)]
CarrierPath = Annotated[str, Path(pattern=CARRIER_PATTERN)]


def _clients(request: Request) -> ServiceClients:
    clients: ServiceClients = request.app.state.clients
    return clients


@webhooks_router.post(
    "/carriers/{carrier}",
    response_model=WebhookAck,
    responses=error_responses(401, 404, 409, 413, 422, 502, 503),
    openapi_extra=signed_webhook(CarrierEvent, "the carrier's secret"),
)
async def carrier_event(request: Request, carrier: CarrierPath) -> WebhookAck:
    """A carrier's tracking event, signed with its secret (``X-PakLog-Signature: sha256=<hex>``).

    The signature is checked before anything else (401 ``InvalidSignature``).
    Each event applies once: a repeat answers ``duplicate``, an event older than
    the shipment's last one is kept in its trail as ``stale``; neither changes
    anything. A status change is told to the order's workflow.
    """
    body = await request.body()
    tracking.authenticate(request.app.state.settings, carrier, body, request.headers.get(SIGNATURE_HEADER))
    event = tracking.parse_event(carrier, body)
    return await tracking.receive(request.app.state.temporal, _clients(request), carrier, event)


@tracking_router.get("", response_model=SubscriptionPage)
async def my_subscriptions(
    request: Request,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> SubscriptionPage:
    """The caller's subscriptions, newest first, with each shipment's live status."""
    items = await _clients(request).subscriptions(principal.username, limit=limit, offset=offset)
    return SubscriptionPage(items=items, limit=limit, offset=offset)


@tracking_router.get("/{tracking_code}", response_model=TrackingView, responses=error_responses(404))
async def get_tracking(request: Request, _: PrincipalDep, tracking_code: TrackingPath) -> TrackingView:
    """A shipment's status and its trail (anyone signed in who knows the code, as with a courier)."""
    return await tracking.tracking(_clients(request), tracking_code)


@tracking_router.post(
    "/{tracking_code}",
    status_code=201,
    response_model=SubscriptionView,
    responses={
        200: {"model": SubscriptionView, "description": "Already subscribed (title updated)"},
        **error_responses(404),
    },
)
async def subscribe(
    request: Request, response: Response, principal: PrincipalDep, tracking_code: TrackingPath, body: SubscribeRequest
) -> SubscriptionView:
    """Follow a tracking code: every status change is sent to the caller."""
    view, created = await tracking.subscribe(_clients(request), principal, tracking_code, body.title)
    if not created:
        response.status_code = 200
    return view


@tracking_router.delete("/{tracking_code}", status_code=204, responses=error_responses(404))
async def unsubscribe(request: Request, principal: PrincipalDep, tracking_code: TrackingPath) -> Response:
    await tracking.unsubscribe(_clients(request), principal, tracking_code)
    return Response(status_code=204)

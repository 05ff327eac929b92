"""Shipping routes. Mutating routes run through the idempotency helper; shipments and voids call carriers outside any transaction.

Tracking routes (events, the trail, subscriptions) are the gateway's: it forwards the carriers' signed
webhooks here and serves the customers' tracking pages from here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from common.db import SessionDep
from common.errors import ErrorBody
from common.idempotency import IDEMPOTENT_RESPONSES, IdempotentDep, fingerprint
from common.paging import MAX_CURSOR_LENGTH
from services.shipping import service, tracking
from services.shipping.models import (
    EVENT_ID_PATTERN,
    ORDER_ID_PATTERN,
    TRACKING_CODE_PATTERN,
    USERNAME_PATTERN,
    BreakerPublic,
    CartonPublic,
    ChooseCartonIn,
    EventForwarded,
    ShipmentCreate,
    ShipmentPage,
    ShipmentPublic,
    ShipmentState,
    ShipmentStatus,
    SubscribedShipment,
    SubscriptionIn,
    SubscriptionPublic,
    TrackingEventIn,
    TrackingEventResult,
    TrackingPublic,
)
from services.shipping.repository import ShippingRepository
from services.shipping.settings import ShippingSettings
from services.shipping.tms import CarrierGateway


async def get_repo(session: SessionDep) -> ShippingRepository:
    return ShippingRepository(session)


async def get_gateway(request: Request) -> CarrierGateway:
    gateway: CarrierGateway = request.app.state.carriers
    return gateway


async def get_sender(request: Request) -> dict[str, str]:
    settings: ShippingSettings = request.app.state.settings
    return {
        "name": settings.label_sender_name,
        "line1": settings.label_sender_line1,
        "city": settings.label_sender_city,
        "postal_code": settings.label_sender_postal_code,
        "country": settings.label_sender_country,
    }


RepoDep = Annotated[ShippingRepository, Depends(get_repo)]
GatewayDep = Annotated[CarrierGateway, Depends(get_gateway)]
SenderDep = Annotated[dict[str, str], Depends(get_sender)]
TrackingPath = Annotated[str, Path(pattern=TRACKING_CODE_PATTERN, examples=["SW0000000001"])]
OrderIdPath = Annotated[str, Path(pattern=ORDER_ID_PATTERN)]
EventIdPath = Annotated[str, Path(pattern=EVENT_ID_PATTERN, examples=["SWIFT-SW0000000001-1"])]
UsernamePath = Annotated[str, Path(pattern=USERNAME_PATTERN)]
MAX_OFFSET = 1_000_000

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "``CarriersUnavailable`` or ``ShipmentInProgress``: retry later"}
}

cartons = APIRouter(prefix="/cartons", tags=["cartons"])
shipments = APIRouter(prefix="/shipments", tags=["shipments"])
carriers = APIRouter(prefix="/carriers", tags=["carriers"])
tracking_router = APIRouter(prefix="/tracking", tags=["tracking"])
subscriptions = APIRouter(prefix="/subscriptions", tags=["tracking"])

_SHIPMENT_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "``ShipmentNotFound``"}
}


@cartons.get("", response_model=list[CartonPublic])
async def list_cartons(repo: RepoDep) -> list[CartonPublic]:
    """The cartons, smallest first."""
    return await service.cartons(repo)


@cartons.post(
    "/choose",
    response_model=CartonPublic,
    responses={422: {"model": ErrorBody, "description": "``NoCartonFits``"}},
)
async def choose_carton(body: ChooseCartonIn, repo: RepoDep) -> CartonPublic:
    """The smallest carton the goods fit (volume filled to at most 80 %, weight within its limit); reads only."""
    return await service.choose_carton(repo, body)


@shipments.post(
    "",
    status_code=201,
    response_model=ShipmentPublic,
    responses={
        200: {"model": ShipmentPublic, "description": "The order's label bought earlier (never a second one)"},
        422: {"model": ErrorBody, "description": "``UnknownCarton``, ``NoCarrierAccepts``"},
        **_UNAVAILABLE,
        **IDEMPOTENT_RESPONSES,
    },
)
async def create_shipment(
    body: ShipmentCreate, repo: RepoDep, gateway: GatewayDep, once: IdempotentDep
) -> ShipmentPublic:
    """Rate-shop the carriers and buy the order's label from the cheapest; 409 ``ShipmentVoided`` after a void."""
    return await once.run_phased(
        fingerprint("ship", body.model_dump(mode="json")), lambda: service.create_shipment(repo, gateway, body)
    )


@shipments.post("/{order_id}/void", response_model=ShipmentState, responses={**_UNAVAILABLE, **IDEMPOTENT_RESPONSES})
async def void_shipment(
    order_id: OrderIdPath, repo: RepoDep, gateway: GatewayDep, once: IdempotentDep
) -> ShipmentState:
    """Void the order's shipment and its carrier label; ``status: null`` when there was nothing to void."""
    return await once.run_phased(fingerprint("void", order_id), lambda: service.void(repo, gateway, order_id))


@shipments.get("", response_model=ShipmentPage)
async def list_shipments(
    repo: RepoDep,
    status: ShipmentStatus | None = None,
    order_id: Annotated[str | None, Query(pattern=ORDER_ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
) -> ShipmentPage:
    """Shipments newest first, a page at a time; walk with ``cursor`` (each page's ``next_cursor``)."""
    return await service.page(repo, status=status, order_id=order_id, limit=limit, offset=offset, cursor=cursor)


@shipments.get(
    "/{tracking_code}",
    response_model=ShipmentPublic,
    responses={404: {"model": ErrorBody, "description": "``ShipmentNotFound``"}},
)
async def get_shipment(tracking_code: TrackingPath, repo: RepoDep) -> ShipmentPublic:
    return service.to_public(await service.by_tracking_code(repo, tracking_code))


@shipments.get(
    "/{tracking_code}/label",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The label (A6 PDF)"},
        404: {"model": ErrorBody, "description": "``ShipmentNotFound``"},
        409: {"model": ErrorBody, "description": "``ShipmentVoided``"},
    },
)
async def get_label(tracking_code: TrackingPath, repo: RepoDep, sender: SenderDep) -> Response:
    """The shipment's label as PDF: carrier, service level, carton, sender, recipient and a Code 39 barcode."""
    pdf = await service.label_pdf(repo, tracking_code, sender)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{tracking_code}.pdf"'},
    )


@carriers.get("", response_model=list[BreakerPublic])
async def carrier_breakers(gateway: GatewayDep) -> list[BreakerPublic]:
    """Each carrier's circuit breaker: ``closed``, ``open`` (not called) or ``half-open`` (the next call probes)."""
    return await gateway.states()


@tracking_router.post(
    "/events",
    response_model=TrackingEventResult,
    responses={
        404: {"model": ErrorBody, "description": "``ShipmentNotFound`` (unknown, or another carrier's)"},
        409: {
            "model": ErrorBody,
            "description": "``ShipmentNotLabelled`` (with ``status``), ``EventMismatch``, or the key's conflicts",
        },
    },
)
async def record_event(body: TrackingEventIn, repo: RepoDep, once: IdempotentDep) -> TrackingEventResult:
    """A carrier's event: ``applied``, ``stale`` (kept in the trail only) or ``duplicate`` (by ``event_id``).

    Events of one shipment are serialised on its row; ``DELIVERED`` is final.
    """
    return await once.run(
        fingerprint("tracking-event", body.model_dump(mode="json")), lambda: tracking.record_event(repo, body)
    )


@tracking_router.post(
    "/events/{event_id}/forwarded",
    response_model=EventForwarded,
    responses={404: {"model": ErrorBody, "description": "``EventNotFound``"}, **IDEMPOTENT_RESPONSES},
)
async def event_forwarded(event_id: EventIdPath, repo: RepoDep, once: IdempotentDep) -> EventForwarded:
    """Record that the event reached the order's workflow; a repeat answers the same."""
    return await once.run(fingerprint("forwarded", event_id), lambda: tracking.mark_forwarded(repo, event_id))


@tracking_router.get("/{tracking_code}", response_model=TrackingPublic, responses=_SHIPMENT_NOT_FOUND)
async def get_tracking(tracking_code: TrackingPath, repo: RepoDep) -> TrackingPublic:
    """The shipment's status, last event and position, and its trail oldest first (stale events included)."""
    return await tracking.tracking(repo, tracking_code)


@tracking_router.post(
    "/{tracking_code}/subscriptions",
    status_code=201,
    response_model=SubscriptionPublic,
    responses={
        200: {"model": SubscriptionPublic, "description": "Already subscribed: the title and e-mail are updated"},
        **_SHIPMENT_NOT_FOUND,
        **IDEMPOTENT_RESPONSES,
    },
)
async def subscribe(
    tracking_code: TrackingPath, body: SubscriptionIn, repo: RepoDep, once: IdempotentDep
) -> SubscriptionPublic:
    """Follow the shipment (one subscription per user and tracking code)."""
    return await once.run(
        fingerprint("subscribe", tracking_code, body.model_dump(mode="json")),
        lambda: tracking.subscribe(repo, tracking_code, body),
    )


@tracking_router.delete(
    "/{tracking_code}/subscriptions/{username}",
    status_code=204,
    response_class=Response,
    responses={404: {"model": ErrorBody, "description": "``SubscriptionNotFound``"}, **IDEMPOTENT_RESPONSES},
)
async def unsubscribe(tracking_code: TrackingPath, username: UsernamePath, repo: RepoDep, once: IdempotentDep) -> None:
    """Stop following the shipment."""
    await once.run(
        fingerprint("unsubscribe", tracking_code, username), lambda: tracking.unsubscribe(repo, tracking_code, username)
    )


@tracking_router.get(
    "/{tracking_code}/subscriptions", response_model=list[SubscriptionPublic], responses=_SHIPMENT_NOT_FOUND
)
async def list_subscribers(tracking_code: TrackingPath, repo: RepoDep) -> list[SubscriptionPublic]:
    """Who follows the shipment, first subscriber first."""
    return await tracking.subscribers(repo, tracking_code)


@subscriptions.get("", response_model=list[SubscribedShipment])
async def list_subscriptions(
    repo: RepoDep,
    username: Annotated[str, Query(pattern=USERNAME_PATTERN)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[SubscribedShipment]:
    """The user's subscriptions newest first, with each shipment's live status."""
    return await tracking.subscriptions_of(repo, username, limit=limit, offset=offset)


routers = [cartons, shipments, carriers, tracking_router, subscriptions]

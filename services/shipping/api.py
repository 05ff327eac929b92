"""Shipping routes. Mutating routes run through the idempotency helper; shipments and voids call carriers outside any transaction."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from common.db import SessionDep
from common.errors import ErrorBody
from common.idempotency import IDEMPOTENT_RESPONSES, IdempotentDep, fingerprint
from common.paging import MAX_CURSOR_LENGTH
from services.shipping import service
from services.shipping.models import (
    ORDER_ID_PATTERN,
    BreakerPublic,
    CartonPublic,
    ChooseCartonIn,
    ShipmentCreate,
    ShipmentPage,
    ShipmentPublic,
    ShipmentState,
    ShipmentStatus,
)
from services.shipping.repository import ShippingRepository
from services.shipping.settings import ShippingSettings
from services.shipping.tms import CarrierGateway


def get_repo(session: SessionDep) -> ShippingRepository:
    return ShippingRepository(session)


def get_gateway(request: Request) -> CarrierGateway:
    gateway: CarrierGateway = request.app.state.carriers
    return gateway


def get_sender(request: Request) -> dict[str, str]:
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
TrackingPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,32}$")]
OrderIdPath = Annotated[str, Path(pattern=ORDER_ID_PATTERN)]
MAX_OFFSET = 1_000_000

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "``CarriersUnavailable`` or ``ShipmentInProgress``: retry later"}
}

cartons = APIRouter(prefix="/cartons", tags=["cartons"])
shipments = APIRouter(prefix="/shipments", tags=["shipments"])
carriers = APIRouter(prefix="/carriers", tags=["carriers"])


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


routers = [cartons, shipments, carriers]

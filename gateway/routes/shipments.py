"""``/api/shipments`` and ``/api/carriers``: what the shipping service knows (operators and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from common.errors import NotFound
from common.paging import MAX_CURSOR_LENGTH
from gateway.auth import StaffDep
from gateway.clients import PDF, ServiceClients
from gateway.errors import error_responses
from gateway.warehouse_models import TRACKING_PATTERN, CarrierView, ShipmentPage, ShipmentView

_COMMON = error_responses(401, 403, 422, 502, 503)
shipments_router = APIRouter(prefix="/api/shipments", tags=["shipping"], responses=_COMMON)
carriers_router = APIRouter(prefix="/api/carriers", tags=["shipping"], responses=_COMMON)
TrackingPath = Annotated[str, Path(pattern=TRACKING_PATTERN)]


def _clients(request: Request) -> ServiceClients:
    clients: ServiceClients = request.app.state.clients
    return clients


@shipments_router.get("", response_model=ShipmentPage)
async def list_shipments(
    request: Request,
    _: StaffDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR_LENGTH, pattern=r"^[A-Za-z0-9_=-]+$", description="A previous page's next_cursor"),
    ] = None,
) -> ShipmentPage:
    """Shipments, newest first; walk with ``cursor``."""
    page = await _clients(request).shipments(limit=limit, cursor=cursor)
    return ShipmentPage(
        items=page.items,
        total=page.total,
        limit=page.limit or limit,
        offset=page.offset or 0,
        next_cursor=page.next_cursor,
    )


@shipments_router.get("/{tracking_code}", response_model=ShipmentView, responses=error_responses(404))
async def get_shipment(request: Request, _: StaffDep, tracking_code: TrackingPath) -> ShipmentView:
    shipment = await _clients(request).shipment(tracking_code)
    if shipment is None:
        raise NotFound(f"no shipment {tracking_code}", type="ShipmentNotFound")
    return shipment


@shipments_router.get(
    "/{tracking_code}/label",
    response_class=StreamingResponse,
    responses={
        200: {"content": {PDF: {"schema": {"type": "string", "format": "binary"}}}, "description": "The label"},
        **error_responses(404),
    },
)
async def get_label(request: Request, _: StaffDep, tracking_code: TrackingPath) -> StreamingResponse:
    """The carrier label as a PDF, streamed from the shipping service."""
    upstream = await _clients(request).open_label(tracking_code)
    if upstream is None:
        raise NotFound(f"no label for {tracking_code}", type="ShipmentNotFound")
    return StreamingResponse(
        upstream.aiter_bytes(),
        media_type=PDF,
        headers={"Content-Disposition": f'inline; filename="{tracking_code}.pdf"'},
        background=BackgroundTask(upstream.aclose),
    )


@carriers_router.get("", response_model=list[CarrierView])
async def list_carriers(request: Request, _: StaffDep) -> list[CarrierView]:
    """Each carrier's circuit breaker as the shipping service sees it (``open``: not asked for rates)."""
    return await _clients(request).carriers()

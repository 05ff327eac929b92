"""``/api/webhooks/erp`` (the ERP's signed events, its partner token) and ``/api/erp/dead-letters`` (operators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from common.partners import ERP_SCOPE
from common.security import Principal
from common.webhooks import SIGNATURE_HEADER
from gateway import erp_events
from gateway.auth import StaffDep, partner_with_scope
from gateway.erp_event_models import (
    MAX_DEAD_LETTERS_OFFSET,
    MAX_DEAD_LETTERS_PAGE,
    DeadLetterPage,
    ErpEvent,
    ErpWebhookAck,
)
from gateway.errors import error_responses
from gateway.openapi import signed_webhook

webhook_router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])
dead_letters_router = APIRouter(prefix="/api/erp", tags=["erp"], responses=error_responses(401, 403, 502, 503))
ErpPartnerDep = Annotated[Principal, Depends(partner_with_scope(ERP_SCOPE))]


@webhook_router.post(
    "/erp",
    response_model=ErpWebhookAck,
    responses=error_responses(401, 403, 409, 413, 422, 502, 503),
    openapi_extra=signed_webhook(ErpEvent, "the ERP's webhook secret"),
)
async def erp_event(request: Request, _: ErpPartnerDep) -> ErpWebhookAck:
    """An ERP event: the ERP's own bearer token (scope ``erp``) **and** its signature (``X-PakLog-Signature``).

    A missing or bad token is 401, a token of anyone else (people, another
    partner) 403; a missing or wrong signature 401 ``InvalidSignature``. The
    owning service records the event once by ``event_id``: ``applied`` (it was
    the newest news of its object), ``duplicate``, ``stale`` (older than what
    PakLog has) or ``dead_letter`` (an order or material PakLog does not know;
    operators see it in ``GET /api/erp/dead-letters``). An applied sales-order
    status is told to the order's workflow. A service down is 503: the ERP retries.
    """
    body = await request.body()
    erp_events.authenticate(request.app.state.settings, body, request.headers.get(SIGNATURE_HEADER))
    event, raw = erp_events.parse_event(body)
    return await erp_events.receive(request.app.state.temporal, request.app.state.clients, event, raw)


@dead_letters_router.get("/dead-letters", response_model=DeadLetterPage, responses=error_responses(422))
async def dead_letters(
    request: Request,
    _: StaffDep,
    limit: Annotated[int, Query(ge=1, le=MAX_DEAD_LETTERS_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_DEAD_LETTERS_OFFSET)] = 0,
) -> DeadLetterPage:
    """ERP events nobody could take (unknown orders and materials, counts below the reserved units), newest first.

    Merged from orders (sales orders) and inventory (materials, stock), each with its ``source``.
    """
    return await erp_events.dead_letters(request.app.state.clients, limit=limit, offset=offset)

"""The ERP's events in, and the ones nobody could take out for operators (docs/erp.md, part C).

The ERP posts each change of its entities to ``POST /api/webhooks/erp``,
authenticated twice: a bearer token of its OAuth2 client (role ``partner``,
scope ``erp``; the route's dependency checks it) and the HMAC signature of the
raw body under :func:`common.webhooks.erp_secret` (checked in constant time
before the body is parsed). The event goes, converted to PakLog's units as the
master-data import converts its pages (``activities/erp_sync.py``), to the
service that owns its object, which records it once by ``event_id`` and
applies it only when it is the newest news of that object:

* ``SalesOrderStatusChanged`` → orders (the order is the sales order's
  ``PurchaseOrderByCustomer``); applied, it is then signalled to the order's
  workflow (``erp_status``) and marked forwarded there;
* ``MaterialChanged`` / ``StockChanged`` → inventory; an applied count's
  adjustment then goes on to the warehouse's adjustment bin
  (:mod:`common.stock_adjustments`), also on a repeat, so a crash between the
  two steps is made good by the ERP's retry;
* ``CustomerChanged`` → identity.

A crash between the service's answer and the signal leaves the event
unforwarded: the ERP sends it again (it got no 2xx), orders answers
``duplicate`` but not forwarded, and the signal goes again (the workflow
ignores an event id it has seen). A service or Temporal out of reach is a
503, so the ERP retries.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Literal

import structlog
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.erp_sync import customer_item, material_item, stock_item
from common.errors import PayloadTooLarge, RuleViolation, Unauthorized, Unavailable
from common.webhooks import erp_secret, verify
from gateway.clients import ServiceClients
from gateway.erp_event_models import (
    MAX_ERP_EVENT_BYTES,
    DeadLetterPage,
    DeadLetterView,
    ErpEvent,
    ErpEventAnswer,
    ErpWebhookAck,
)
from gateway.settings import GatewaySettings
from gateway.updates import GONE
from workflows.erp_status import ERP_STATUS_SIGNAL, ErpStatusEvent
from workflows.order_types import workflow_id as order_workflow_id

log = structlog.get_logger(__name__)
#: The services that keep dead letters (identity creates any customer it does not know).
DEAD_LETTER_SOURCES: tuple[Literal["orders", "inventory"], ...] = ("orders", "inventory")
#: Per master-data event: the field the owning service takes the object in, the ERP entity's key
#: field, and the import's conversion to PakLog's units.
_CONVERSIONS: dict[str, tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "MaterialChanged": ("material", "Material", material_item),
    "StockChanged": ("stock", "Material", stock_item),
    "CustomerChanged": ("customer", "Customer", customer_item),
}


class _SalesOrder(BaseModel):
    """What the gateway reads of a sales order (the rest travels along in the event's body)."""

    model_config = ConfigDict(extra="allow", strict=True)

    SalesOrder: str
    PurchaseOrderByCustomer: str = Field(min_length=1, max_length=100)
    OverallStatus: str = Field(pattern=r"^[A-Z][A-Z_]{0,23}$")


def authenticate(settings: GatewaySettings, body: bytes, signature: str | None) -> None:
    """Raises:
    PayloadTooLarge: the body is larger than an ERP event can be.
    Unauthorized: ``InvalidSignature`` (no signature, or a wrong one).
    """
    if len(body) > MAX_ERP_EVENT_BYTES:
        raise PayloadTooLarge(f"an ERP event is at most {MAX_ERP_EVENT_BYTES} bytes", type="PayloadTooLarge")
    configured = settings.erp_webhook_secret.get_secret_value() if settings.erp_webhook_secret else None
    secret = erp_secret(settings.service_token.get_secret_value(), configured)
    if not verify(secret, body, signature):
        raise Unauthorized("the webhook's signature does not verify", type="InvalidSignature")


def _validation_error(exc: ValidationError, *where: str) -> RequestValidationError:
    errors = [{**err, "loc": ("body", *where, *err.get("loc", ()))} for err in exc.errors(include_input=False)]
    return RequestValidationError(errors)


def parse_event(body: bytes) -> tuple[ErpEvent, dict[str, Any]]:
    """The event and its body as received (kept with a dead letter).

    Raises:
        RequestValidationError: not an ERP event (422).
    """
    try:
        event = ErpEvent.model_validate_json(body)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    raw: dict[str, Any] = json.loads(body)
    return event, raw


def _mismatch(event: ErpEvent, key: Any) -> RuleViolation:
    return RuleViolation(f"the event is about {event.object_id}, its data about {key!r}", type="ObjectMismatch")


def _converted(event: ErpEvent) -> tuple[str, dict[str, Any]]:
    """The owning service's field and the object in PakLog's units (the import's conversions).

    Raises:
        RuleViolation: ``ObjectMismatch`` (the data names another object), ``InvalidErpData``.
    """
    field, key, to_item = _CONVERSIONS[event.type]
    if event.data.get(key) != event.object_id:
        raise _mismatch(event, event.data.get(key))
    try:
        return field, to_item(event.data)
    except ApplicationError as bad:
        raise RuleViolation(bad.message, type="InvalidErpData") from None


def _envelope(event: ErpEvent, raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "type": event.type,
        "object_id": event.object_id,
        "occurred_at": event.occurred_at.isoformat(),
        "body": raw,
    }


async def receive(temporal: Client, clients: ServiceClients, event: ErpEvent, raw: dict[str, Any]) -> ErpWebhookAck:
    """Hand the event to the service that owns its object; tell the order's workflow of an applied status.

    Raises:
        RequestValidationError, RuleViolation: the event's data is not what its type promises (422).
        Conflict: ``EventMismatch`` (the id came before with another body).
        Unavailable: the service or Temporal cannot be reached (the ERP retries).
    """
    answer: ErpEventAnswer
    if event.type == "SalesOrderStatusChanged":
        try:
            order = _SalesOrder.model_validate(event.data)
        except ValidationError as exc:
            raise _validation_error(exc, "data") from None
        if order.SalesOrder != event.object_id:
            raise _mismatch(event, order.SalesOrder)
        recorded = await clients.sales_order_event(
            {**_envelope(event, raw), "order_id": order.PurchaseOrderByCustomer, "status": order.OverallStatus}
        )
        if recorded.signal and not recorded.forwarded:
            status = ErpStatusEvent(event.event_id, order.OverallStatus, event.occurred_at.isoformat())
            await _signal(temporal, recorded.order_id, status)
            await clients.mark_erp_event_forwarded(event.event_id)
        answer = recorded
    else:
        field, item = _converted(event)
        payload = {**_envelope(event, raw), field: item}
        answer = await (clients.customer_event if field == "customer" else clients.material_event)(payload)
        if event.type == "StockChanged" and answer.status == "applied":
            # Also on a repeat: a crash after inventory applied the count may have left its adjustment behind.
            await clients.post_stock_adjustments()
    return ErpWebhookAck(event_id=event.event_id, result=answer.result)


async def _signal(temporal: Client, order_id: str, status: ErpStatusEvent) -> None:
    try:
        await temporal.get_workflow_handle(order_workflow_id(order_id)).signal(ERP_STATUS_SIGNAL, status)
    except RPCError as exc:
        if exc.status not in GONE:
            raise Unavailable("the workflow service cannot be reached", type="ServiceUnavailable") from None
        # The order's workflow has ended: the order keeps the status; nobody is left to tell.
        log.warning("erp status for an ended order", order_id=order_id, event_id=status.event_id)


async def dead_letters(clients: ServiceClients, *, limit: int, offset: int) -> DeadLetterPage:
    """Both services' dead letters, newest received first (each asked for its newest ``offset + limit``)."""
    pages = await asyncio.gather(
        *(clients.erp_dead_letters(source, limit=offset + limit) for source in DEAD_LETTER_SOURCES)
    )
    merged = [
        DeadLetterView(source=source, **record.model_dump(exclude={"status"}))
        for source, page in zip(DEAD_LETTER_SOURCES, pages, strict=True)
        for record in page.items
    ]
    merged.sort(key=lambda view: (view.received_at, view.event_id), reverse=True)
    return DeadLetterPage(
        items=merged[offset : offset + limit], total=sum(page.total for page in pages), limit=limit, offset=offset
    )

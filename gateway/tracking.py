"""Carrier events in, tracking and subscriptions out.

A carrier's webhook is authenticated by its HMAC signature alone (checked in
constant time, before the body is parsed). The event goes to the shipping
service, which keeps the trail and de-duplicates by event id; a status change
is then signalled to the order's workflow (``delivery_event``) and marked
forwarded. A crash between those steps leaves the event unacknowledged: the
carrier sends it again, shipping answers ``duplicate`` but not yet forwarded,
and the signal is sent again (the workflow ignores an event id it has seen).
"""

from __future__ import annotations

import structlog
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError

from common.errors import NotFound, PayloadTooLarge, RuleViolation, Unauthorized, Unavailable
from common.security import Principal
from common.webhooks import carrier_secret, verify
from gateway.clients import ServiceClients
from gateway.settings import GatewaySettings
from gateway.tracking_models import (
    MAX_WEBHOOK_BYTES,
    CarrierEvent,
    SubscriptionView,
    TrackingView,
    WebhookAck,
)
from gateway.updates import GONE
from workflows.order_types import DeliveryEvent
from workflows.order_types import workflow_id as order_workflow_id

log = structlog.get_logger(__name__)
DELIVERY_SIGNAL = "delivery_event"


def secret_for(settings: GatewaySettings, carrier: str) -> str | None:
    """The carrier's webhook secret; ``None`` for a carrier the gateway does not take events from."""
    if carrier not in settings.carriers:
        return None
    configured = {name: secret.get_secret_value() for name, secret in settings.carrier_secrets.items()}
    return carrier_secret(settings.service_token.get_secret_value(), carrier, configured)


def authenticate(settings: GatewaySettings, carrier: str, body: bytes, signature: str | None) -> None:
    """Raises:
    PayloadTooLarge: the body is larger than a carrier event can be.
    Unauthorized: ``InvalidSignature`` (unknown carrier, no signature, a wrong one).
    """
    if len(body) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLarge(f"a carrier event is at most {MAX_WEBHOOK_BYTES} bytes", type="PayloadTooLarge")
    secret = secret_for(settings, carrier)
    if secret is None or not verify(secret, body, signature):
        raise Unauthorized("the webhook's signature does not verify", type="InvalidSignature")


def parse_event(carrier: str, body: bytes) -> CarrierEvent:
    try:
        event = CarrierEvent.model_validate_json(body)
    except ValidationError as exc:
        errors = [{**err, "loc": ("body", *err.get("loc", ()))} for err in exc.errors(include_input=False)]
        raise RequestValidationError(errors) from None
    if event.carrier != carrier:
        raise RuleViolation(f"the event names carrier {event.carrier}, posted as {carrier}", type="CarrierMismatch")
    return event


async def receive(client: Client, clients: ServiceClients, carrier: str, event: CarrierEvent) -> WebhookAck:
    """Apply the event once; tell the order's workflow when the shipment's status changed.

    Raises:
        NotFound: ``ShipmentNotFound`` (no such tracking code at this carrier).
        Unavailable: shipping or Temporal cannot be reached (the carrier retries).
    """
    applied = await clients.tracking_event(event.model_dump(mode="json"))
    if applied is None:
        raise NotFound(f"{carrier} has no shipment {event.tracking_code} here", type="ShipmentNotFound")
    if applied.status_changed and not applied.forwarded:
        signal = DeliveryEvent(
            event_id=event.event_id,
            tracking_code=event.tracking_code,
            status=event.status,
            occurred_at=event.occurred_at.isoformat(),
            carrier=carrier,
            reason=event.reason,
            location=event.location,
        )
        try:
            await client.get_workflow_handle(order_workflow_id(applied.order_id)).signal(DELIVERY_SIGNAL, signal)
        except RPCError as exc:
            if exc.status not in GONE:
                raise Unavailable("the workflow service cannot be reached", type="ServiceUnavailable") from None
            # The order's workflow has ended: the trail keeps the event; nobody is left to tell.
            log.warning("delivery event for an ended order", order_id=applied.order_id, event_id=event.event_id)
        await clients.mark_forwarded(event.event_id)
    return WebhookAck(event_id=event.event_id, result=applied.result, status=applied.status)


async def tracking(clients: ServiceClients, tracking_code: str) -> TrackingView:
    record = await clients.tracking(tracking_code)
    if record is None:
        raise NotFound(f"no shipment {tracking_code}", type="ShipmentNotFound")
    return TrackingView.model_validate(record.model_dump(exclude={"order_id"}))


async def subscribe(
    clients: ServiceClients, principal: Principal, tracking_code: str, title: str
) -> tuple[SubscriptionView, bool]:
    """Subscribe the caller (repeat: the title changes); True when it is new."""
    created = await clients.subscribe(tracking_code, username=principal.username, email=principal.email, title=title)
    if created is None:
        raise NotFound(f"no shipment {tracking_code}", type="ShipmentNotFound")
    shipment = await tracking(clients, tracking_code)
    view = SubscriptionView(
        tracking_code=tracking_code,
        title=title,
        carrier=shipment.carrier,
        status=shipment.status,
        last_event_at=shipment.last_event_at,
    )
    return view, created


async def unsubscribe(clients: ServiceClients, principal: Principal, tracking_code: str) -> None:
    if not await clients.unsubscribe(tracking_code, principal.username):
        raise NotFound(f"you do not follow {tracking_code}", type="SubscriptionNotFound")

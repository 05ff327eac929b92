"""Tracking rules: carrier events move a shipment (once each, never backwards), users subscribe to its code.

A carrier may deliver an event late, twice, or at the same time as the
next one. So each event is handled in one transaction that first locks its
shipment (``SELECT … FOR UPDATE``): two events of one shipment never both
think they are the newest. Then:

* an ``event_id`` seen before is a ``duplicate`` and changes nothing (the
  same id with other content is 409 ``EventMismatch``); the id is the
  table's primary key, so this holds with or without an ``Idempotency-Key``;
* an event older than the last applied one, or any event after
  ``DELIVERED``, joins the trail ``applied: false`` (``stale``);
* else it is ``applied``: the status, ``last_event_at`` and (when given) the
  position move.

Every event, applied or not, stays in the trail; ``forwarded_at`` records
that the gateway passed it on to the order's workflow.
"""

from __future__ import annotations

from datetime import UTC, datetime

from common.errors import Conflict, NotFound
from common.idempotency import Answer, fingerprint
from services.shipping.models import (
    LABELLED_STATUSES,
    EventForwarded,
    EventResult,
    Position,
    Shipment,
    ShipmentStatus,
    SubscribedShipment,
    Subscription,
    SubscriptionIn,
    SubscriptionPublic,
    TrackingEvent,
    TrackingEventIn,
    TrackingEventResult,
    TrackingPublic,
    TrailEntry,
)
from services.shipping.repository import ShippingRepository
from services.shipping.service import by_tracking_code


def _not_found(tracking_code: str) -> NotFound:
    return NotFound(f"no shipment {tracking_code}", type="ShipmentNotFound")


def _mismatch(event_id: str) -> Conflict:
    return Conflict(f"event {event_id} was received before with other content", type="EventMismatch")


def _answer(event: TrackingEvent, shipment: Shipment, result: EventResult) -> TrackingEventResult:
    return TrackingEventResult(
        event_id=event.event_id,
        order_id=shipment.order_id,
        tracking_code=event.tracking_code,
        result=result,
        status_changed=event.status_changed,
        status=shipment.status,
        forwarded=event.forwarded_at is not None,
    )


async def record_event(repo: ShippingRepository, data: TrackingEventIn) -> TrackingEventResult:
    """Apply the carrier's event to its shipment, or keep it in the trail only (see the module docstring).

    Call inside the route's transaction.

    Raises:
        NotFound: ``ShipmentNotFound`` (no such code, or it belongs to another carrier).
        Conflict: ``ShipmentNotLabelled`` (``PENDING`` or ``VOIDED``); ``EventMismatch``.
    """
    shipment = await repo.by_tracking_code_for_update(data.tracking_code)
    if shipment is None or shipment.carrier != data.carrier:  # a carrier sees only its own shipments
        raise _not_found(data.tracking_code)
    content = fingerprint("tracking-event", data.model_dump(mode="json"))
    seen = await repo.event(data.event_id)
    if seen is not None:
        if seen.fingerprint != content:
            raise _mismatch(data.event_id)
        return _answer(seen, shipment, EventResult.DUPLICATE)
    if shipment.status not in LABELLED_STATUSES:  # PENDING or VOIDED
        raise Conflict(
            f"shipment {data.tracking_code} is {shipment.status}, not labelled",
            type="ShipmentNotLabelled",
            extra={"status": str(shipment.status)},
        )
    applies = shipment.status != ShipmentStatus.DELIVERED and (
        shipment.last_event_at is None or data.occurred_at >= shipment.last_event_at
    )
    event = TrackingEvent(
        event_id=data.event_id,
        shipment_id=shipment.shipment_id,
        tracking_code=data.tracking_code,
        carrier=data.carrier,
        status=data.status,
        occurred_at=data.occurred_at,
        received_at=datetime.now(UTC),
        position_lat=data.position.lat if data.position else None,
        position_lon=data.position.lon if data.position else None,
        location=data.location,
        reason=data.reason,
        applied=applies,
        status_changed=applies and str(shipment.status) != str(data.status),
        fingerprint=content,
    )
    if not await repo.add_event(event):
        # Events of this shipment wait on its lock, so the id was taken by another shipment's event.
        raise _mismatch(data.event_id)
    if applies:
        shipment.status = ShipmentStatus(data.status)
        shipment.last_event_at = data.occurred_at
        if data.position is not None:
            shipment.position_lat, shipment.position_lon = data.position.lat, data.position.lon
        await repo.save(shipment)
    return _answer(event, shipment, EventResult.APPLIED if applies else EventResult.STALE)


async def mark_forwarded(repo: ShippingRepository, event_id: str) -> EventForwarded:
    """Record that the event reached the order's workflow (a repeat changes nothing).

    Raises:
        NotFound: ``EventNotFound``.
    """
    if not await repo.mark_forwarded(event_id, datetime.now(UTC)):
        raise NotFound(f"no tracking event {event_id}", type="EventNotFound")
    return EventForwarded(event_id=event_id, forwarded=True)


def _trail_entry(e: TrackingEvent) -> TrailEntry:
    return TrailEntry(
        event_id=e.event_id,
        status=e.status,
        occurred_at=e.occurred_at,
        received_at=e.received_at,
        position=Position.of(e.position_lat, e.position_lon),
        location=e.location,
        reason=e.reason,
        applied=e.applied,
    )


async def tracking(repo: ShippingRepository, tracking_code: str) -> TrackingPublic:
    """The shipment's status now and its trail, oldest event first.

    Raises:
        NotFound: ``ShipmentNotFound``.
    """
    shipment = await by_tracking_code(repo, tracking_code)
    assert shipment.carrier is not None  # a tracking code is recorded with its carrier
    return TrackingPublic(
        tracking_code=tracking_code,
        carrier=shipment.carrier,
        order_id=shipment.order_id,
        status=shipment.status,
        last_event_at=shipment.last_event_at,
        position=Position.of(shipment.position_lat, shipment.position_lon),
        trail=[_trail_entry(e) for e in await repo.trail(shipment.shipment_id)],
    )


def _subscription(s: Subscription) -> SubscriptionPublic:
    return SubscriptionPublic(
        tracking_code=s.tracking_code,
        username=s.username,
        email=s.email,
        title=s.title,
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


async def subscribe(
    repo: ShippingRepository, tracking_code: str, data: SubscriptionIn
) -> SubscriptionPublic | Answer[SubscriptionPublic]:
    """Follow the shipment (201), or update the title and e-mail of the user's subscription (200).

    Call inside the route's transaction.

    Raises:
        NotFound: ``ShipmentNotFound``.
        Conflict: the subscription kept vanishing under concurrent unsubscribes (retry).
    """
    await by_tracking_code(repo, tracking_code)
    for _ in range(3):  # an unsubscribe may remove it between the insert and the update
        now = datetime.now(UTC)
        created = await repo.add_subscription(
            Subscription(
                username=data.username,
                tracking_code=tracking_code,
                email=data.email,
                title=data.title,
                created_at=now,
                updated_at=now,
            )
        )
        if created is not None:
            return _subscription(created)
        updated = await repo.update_subscription(
            data.username, tracking_code, email=data.email, title=data.title, at=now
        )
        if updated is not None:
            return Answer(200, _subscription(updated))
    raise Conflict("the subscription changed concurrently; retry", type="Conflict")


async def unsubscribe(repo: ShippingRepository, tracking_code: str, username: str) -> SubscriptionPublic:
    """Stop following the shipment; answers the subscription removed. Call inside the route's transaction.

    Raises:
        NotFound: ``SubscriptionNotFound``.
    """
    removed = await repo.remove_subscription(username, tracking_code)
    if removed is None:
        raise NotFound(f"{username} does not follow {tracking_code}", type="SubscriptionNotFound")
    return _subscription(removed)


async def subscribers(repo: ShippingRepository, tracking_code: str) -> list[SubscriptionPublic]:
    """Who follows the shipment, first subscriber first.

    Raises:
        NotFound: ``ShipmentNotFound``.
    """
    await by_tracking_code(repo, tracking_code)
    return [_subscription(s) for s in await repo.subscribers(tracking_code)]


async def subscriptions_of(
    repo: ShippingRepository, username: str, *, limit: int, offset: int
) -> list[SubscribedShipment]:
    """The user's subscriptions newest first, each with its shipment's live status."""
    return [
        SubscribedShipment(
            tracking_code=sub.tracking_code,
            title=sub.title,
            carrier=shipment.carrier,
            status=shipment.status,
            last_event_at=shipment.last_event_at,
            created_at=sub.created_at,
        )
        for sub, shipment in await repo.subscriptions_of(username, limit=limit, offset=offset)
    ]

"""Shipping rules: carton choice, rate shopping with failover, one label per order, voids with a tombstone.

The carriers' TMS is an outside system, so it is never called while a
connection or a lock is held. ``create_shipment`` works in three steps, like
the payments service's authorize:

1. one transaction records the order's shipment ``PENDING`` and takes a
   lease on it (``attempt_started_at``): a concurrent request for the order
   finds the lease and is answered 503 ``ShipmentInProgress`` (retry later),
   so two requests never shop at once and one order never gets two labels;
2. outside any transaction, quotes are asked of every carrier whose breaker
   is not open, and the label is bought from the cheapest; a carrier that
   fails falls over to the next cheapest; the carrier's reference is the order
   id, so a retry at the same carrier answers the label sold first;
3. a second transaction records ``LABELLED`` with the tracking code, carrier
   and rate (unless a request that took the lease over recorded it first).

Once labelled, the carrier's tracking events move the shipment on
(``IN_TRANSIT`` … ``DELIVERED``; see ``tracking.py``); a repeat of the
shipment answers it as it is then, never a second label.

A void between 1 and 3 wins: it marks the shipment ``VOIDED`` and leaves a
tombstone; the late label is then voided at its carrier and the request
refused with 409 ``ShipmentVoided``, as is any later shipment of the order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from common.errors import Conflict, NotFound, RuleViolation, Unavailable
from common.idempotency import Answer
from common.logging import get_logger
from common.paging import decode_cursor, encode_cursor
from services.shipping.labels import render_label
from services.shipping.models import (
    FILL_FACTOR,
    LABELLED_STATUSES,
    CartonPublic,
    ChooseCartonIn,
    Position,
    Shipment,
    ShipmentCreate,
    ShipmentPage,
    ShipmentPublic,
    ShipmentState,
    ShipmentStatus,
)
from services.shipping.repository import ShippingRepository
from services.shipping.tms import (
    BreakerOpen,
    CarrierGateway,
    CarrierProblem,
    CarrierRefused,
    CarrierUnavailable,
    Parcel,
    PurchasedLabel,
    Quote,
)

log = get_logger("paklog.shipping")

#: How long one request may shop before a concurrent one may take the shipment over (it crashed).
SHIPPING_LEASE = timedelta(seconds=60)


def to_public(s: Shipment) -> ShipmentPublic:
    return ShipmentPublic(
        shipment_id=s.shipment_id,
        order_id=s.order_id,
        tracking_code=s.tracking_code,
        carrier=s.carrier,
        service_level=s.service_level,
        carton=s.carton,
        weight_grams=s.weight_grams,
        volume_cm3=s.volume_cm3,
        destination=s.destination,
        rate_cents=s.rate_cents,
        currency=s.currency,
        status=s.status,
        last_event_at=s.last_event_at,
        position=Position.of(s.position_lat, s.position_lon),
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


def _carton(c: object) -> CartonPublic:
    return CartonPublic.model_validate(c, from_attributes=True)


async def cartons(repo: ShippingRepository) -> list[CartonPublic]:
    return [_carton(c) for c in await repo.cartons()]


async def choose_carton(repo: ShippingRepository, data: ChooseCartonIn) -> CartonPublic:
    """The smallest carton the goods fit: at most ``FILL_FACTOR`` of its volume, at most its weight.

    Raises:
        RuleViolation: ``NoCartonFits``.
    """
    for carton in await repo.cartons():
        if data.volume_cm3 <= carton.volume_cm3 * FILL_FACTOR and data.weight_grams <= carton.max_weight_grams:
            return _carton(carton)
    raise RuleViolation(f"no carton takes {data.volume_cm3} cm³ and {data.weight_grams} g", type="NoCartonFits")


def _voided(order_id: str) -> Conflict:
    return Conflict(f"the shipment of order {order_id} was voided", type="ShipmentVoided")


def _same_request(s: Shipment, data: ShipmentCreate) -> bool:
    return (s.carton, s.weight_grams, s.volume_cm3, s.service_level, s.destination) == (
        data.carton,
        data.weight_grams,
        data.volume_cm3,
        data.service_level,
        data.destination.model_dump(),
    )


async def create_shipment(
    repo: ShippingRepository, gateway: CarrierGateway, data: ShipmentCreate
) -> ShipmentPublic | Answer[ShipmentPublic]:
    """Buy the order's label from the cheapest carrier that sells it (see the module docstring).

    Raises:
        Conflict: ``ShipmentVoided``; ``ShipmentExists`` (the order shipped with other parcel data).
        RuleViolation: ``UnknownCarton``; ``NoCarrierAccepts`` (every carrier answered refused the parcel).
        Unavailable: ``CarriersUnavailable`` (no carrier could sell a label now; retry later),
            ``ShipmentInProgress`` (another request is buying this order's label).
    """
    async with repo.session.begin():
        started = await _start(repo, data)
    if isinstance(started, Answer):
        return started
    try:
        purchased = await shop(gateway, _parcel(data))
    except Exception:
        async with repo.session.begin():
            await _end_attempt(repo, started)
        raise
    async with repo.session.begin():
        answer = await _finish(repo, started, purchased)
    if answer is None:
        await _void_at_carrier(repo, gateway, started, purchased.carrier, purchased.tracking_code, strict=False)
        raise _voided(data.order_id)
    return answer


def _parcel(data: ShipmentCreate) -> Parcel:
    return Parcel(
        reference=data.order_id,
        carton=data.carton,
        weight_grams=data.weight_grams,
        volume_cm3=data.volume_cm3,
        service_level=data.service_level.value,
        destination=data.destination.model_dump(),
    )


async def _start(repo: ShippingRepository, data: ShipmentCreate) -> Answer[ShipmentPublic] | str:
    """Transaction 1: the existing answer, or the id of the pending shipment this request now holds."""
    await repo.lock_order(data.order_id)
    if await repo.is_voided(data.order_id):
        raise _voided(data.order_id)
    if await repo.carton(data.carton) is None:
        raise RuleViolation(f"no carton {data.carton!r}", type="UnknownCarton")
    now = datetime.now(UTC)
    shipment = await repo.by_order(data.order_id)
    if shipment is not None and shipment.status in LABELLED_STATUSES:
        if not _same_request(shipment, data):
            raise Conflict(f"order {data.order_id} already shipped with other parcel data", type="ShipmentExists")
        return Answer(200, to_public(shipment))
    if shipment is not None and shipment.status == ShipmentStatus.VOIDED:
        raise _voided(data.order_id)
    if shipment is None:
        shipment = Shipment(
            shipment_id=uuid.uuid4().hex,
            order_id=data.order_id,
            status=ShipmentStatus.PENDING,
            carton=data.carton,
            weight_grams=data.weight_grams,
            volume_cm3=data.volume_cm3,
            service_level=data.service_level,
            destination=data.destination.model_dump(),
            created_at=now,
            updated_at=now,
        )
    elif shipment.attempt_started_at is not None and shipment.attempt_started_at > now - SHIPPING_LEASE:
        raise Unavailable(
            f"another request is buying the label of order {data.order_id}; retry shortly", type="ShipmentInProgress"
        )
    else:  # pending, nobody shopping: this request retries with its own parcel data
        shipment.carton, shipment.weight_grams, shipment.volume_cm3 = data.carton, data.weight_grams, data.volume_cm3
        shipment.service_level, shipment.destination = data.service_level, data.destination.model_dump()
    shipment.attempt_started_at = now
    await repo.save(shipment)
    return shipment.shipment_id


async def _end_attempt(repo: ShippingRepository, shipment_id: str) -> None:
    """Let the next request shop at once (this one failed)."""
    shipment = await repo.by_id_for_update(shipment_id)
    if shipment is not None and shipment.status == ShipmentStatus.PENDING:
        shipment.attempt_started_at = None
        await repo.save(shipment)


async def _finish(repo: ShippingRepository, shipment_id: str, label: PurchasedLabel) -> Answer[ShipmentPublic] | None:
    """Transaction 2: record the label; None when a void won meanwhile (the label is kept on record)."""
    shipment = await repo.by_id_for_update(shipment_id)
    assert shipment is not None  # shipments are never deleted
    if shipment.status in LABELLED_STATUSES:
        # A request that took the lease over recorded the label first (the carrier sold it once, by order id);
        # the carrier's events may have moved the shipment since, so it is left as it is.
        return Answer(201, to_public(shipment))
    shipment.tracking_code, shipment.carrier = label.tracking_code, label.carrier
    shipment.rate_cents, shipment.currency, shipment.label = label.rate_cents, label.currency, label.fields
    shipment.attempt_started_at = None
    if shipment.status == ShipmentStatus.VOIDED:
        await repo.save(shipment)
        return None
    shipment.status = ShipmentStatus.LABELLED
    await repo.save(shipment)
    return Answer(201, to_public(shipment))


async def shop(gateway: CarrierGateway, parcel: Parcel) -> PurchasedLabel:
    """Quote every carrier whose breaker lets a call through; buy from the cheapest, falling over on failure.

    Raises:
        Unavailable: ``CarriersUnavailable``.
        RuleViolation: ``NoCarrierAccepts`` when every carrier that answered refused the parcel.
    """
    answers = await asyncio.gather(*(_quote(gateway, carrier, parcel) for carrier in gateway.carriers))
    quotes = sorted(
        (a for a in answers if isinstance(a, Quote)),
        key=lambda q: (q.rate_cents, q.transit_days, gateway.carriers.index(q.carrier)),
    )
    problems: list[Exception] = [a for a in answers if isinstance(a, Exception)]
    for quote in quotes:
        try:
            return await gateway.buy(quote.carrier, parcel)
        except CarrierProblem as exc:
            log.warning("label_failed_falling_over", carrier=quote.carrier, problem=str(exc))
            problems.append(exc)
    if problems and all(isinstance(p, CarrierRefused) for p in problems):
        raise RuleViolation(
            "no carrier takes this parcel: " + "; ".join(str(p) for p in problems), type="NoCarrierAccepts"
        )
    detail = "; ".join(str(p) for p in problems) or "no carrier is configured"
    raise Unavailable(f"no carrier can sell a label now: {detail}", type="CarriersUnavailable")


async def _quote(gateway: CarrierGateway, carrier: str, parcel: Parcel) -> Quote | Exception:
    try:
        return await gateway.quote(carrier, parcel)
    except CarrierProblem as exc:
        return exc


async def void(repo: ShippingRepository, gateway: CarrierGateway, order_id: str) -> ShipmentState:
    """Void the order's shipment here and its label at the carrier; nothing to void is success.

    Leaves a tombstone either way, so a later shipment of the order is refused.
    A pending shipment is voided too (the void wins over a label still being
    bought). The carrier is told after the commit; when it cannot be reached
    the answer is 503 and a retry tells it again.

    Raises:
        Unavailable: ``CarriersUnavailable``: voided here, the carrier not told yet.
    """
    async with repo.session.begin():
        await repo.lock_order(order_id)
        await repo.add_tombstone(order_id)
        shipment = await repo.by_order(order_id)
        if shipment is None:
            return ShipmentState(order_id=order_id)
        if shipment.status != ShipmentStatus.VOIDED:
            shipment.status = ShipmentStatus.VOIDED
            await repo.save(shipment)
    if shipment.tracking_code and shipment.carrier and shipment.carrier_voided_at is None:
        await _void_at_carrier(repo, gateway, shipment.shipment_id, shipment.carrier, shipment.tracking_code)
    return ShipmentState(order_id=order_id, status=ShipmentStatus.VOIDED)


async def _void_at_carrier(
    repo: ShippingRepository,
    gateway: CarrierGateway,
    shipment_id: str,
    carrier: str,
    tracking_code: str,
    *,
    strict: bool = True,
) -> None:
    try:
        await gateway.void(carrier, tracking_code)
    except (CarrierUnavailable, BreakerOpen) as exc:
        log.warning("carrier_void_failed", carrier=carrier, tracking_code=tracking_code, problem=str(exc))
        if strict:
            raise Unavailable(
                f"shipment voided; {carrier} could not be told yet, retry: {exc}", type="CarriersUnavailable"
            ) from None
        return
    async with repo.session.begin():
        shipment = await repo.by_id_for_update(shipment_id)
        if shipment is not None:
            shipment.carrier_voided_at = datetime.now(UTC)
            await repo.save(shipment)


async def by_tracking_code(repo: ShippingRepository, tracking_code: str) -> Shipment:
    """Raises: NotFound: ``ShipmentNotFound``."""
    shipment = await repo.by_tracking_code(tracking_code)
    if shipment is None:
        raise NotFound(f"no shipment {tracking_code}", type="ShipmentNotFound")
    return shipment


async def label_pdf(repo: ShippingRepository, tracking_code: str, sender: Mapping[str, str]) -> bytes:
    """The shipment's label as PDF.

    Raises:
        NotFound: ``ShipmentNotFound``.
        Conflict: ``ShipmentVoided`` (a voided label must not be printed).
    """
    shipment = await by_tracking_code(repo, tracking_code)
    if shipment.status == ShipmentStatus.VOIDED:
        raise _voided(shipment.order_id)
    assert shipment.carrier is not None  # a tracking code is recorded with its carrier
    routing = (shipment.label or {}).get("routing_code")
    return render_label(
        tracking_code=tracking_code,
        carrier=shipment.carrier,
        service_level=shipment.service_level,
        carton=shipment.carton,
        weight_grams=shipment.weight_grams,
        routing_code=str(routing) if routing else None,
        sender=sender,
        recipient=shipment.destination,
    )


async def page(
    repo: ShippingRepository,
    *,
    status: ShipmentStatus | None,
    order_id: str | None,
    limit: int,
    offset: int,
    cursor: str | None,
) -> ShipmentPage:
    """A page newest first; ``cursor`` (a previous page's ``next_cursor``) continues after its last shipment.

    Raises:
        RuleViolation: ``InvalidCursor``.
    """
    after = decode_cursor(cursor) if cursor is not None else None
    rows, total = await repo.page(status=status, order_id=order_id, limit=limit + 1, offset=offset, after=after)
    items: Sequence[Shipment] = rows[:limit]
    last = items[-1] if len(rows) > limit else None
    return ShipmentPage(
        items=[to_public(s) for s in items],
        total=total,
        limit=limit,
        offset=offset,
        next_cursor=encode_cursor(last.created_at, last.shipment_id) if last is not None else None,
    )

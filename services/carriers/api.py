"""The stand-in TMS's routes: rates, labels and voids per carrier, the control door and the outbox."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from common.errors import ErrorBody, NotFound, RuleViolation, Unavailable
from services.carriers.journeys import step_delay
from services.carriers.models import (
    Calls,
    CarrierControl,
    ControlIn,
    EventState,
    Fault,
    LabelOut,
    LabelRequest,
    OutboxCounts,
    OutboxEvent,
    RateQuote,
    RateRequest,
    TrackingKnobs,
)
from services.carriers.outbox import TrackingStore
from services.carriers.pricing import TARIFFS, Carrier, ParcelRefused, price
from services.carriers.store import LabelStore

if TYPE_CHECKING:
    from services.carriers.courier import Courier

CURRENCY = "EUR"


class CarrierDesk:
    """The stand-in's in-memory side: injected faults, journey settings and call counters per carrier.

    Args:
        store: The labels.
        tracking: The journeys and the outbox.
        webhook_url: Where the courier posts events (shown by ``/control``).
        rng: Draws injected failures and the first step's jitter.
    """

    def __init__(
        self,
        store: LabelStore,
        tracking: TrackingStore,
        webhook_url: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.tracking = tracking
        self.webhook_url = webhook_url
        self.faults: dict[Carrier, Fault] = {carrier: Fault() for carrier in Carrier}
        self.knobs: dict[Carrier, TrackingKnobs] = {carrier: TrackingKnobs() for carrier in Carrier}
        self.calls: dict[Carrier, Calls] = {carrier: Calls() for carrier in Carrier}
        #: Runs the journeys and posts their events while the app runs (set by its lifespan).
        self.courier: Courier | None = None
        self._rng = rng or random.Random()

    def nudge(self) -> None:
        """Tell the courier (when it runs) that there is new work."""
        if self.courier is not None:
            self.courier.nudge()

    def first_step_at(self, carrier: Carrier) -> float:
        """When (epoch seconds) a label sold now is picked up: ``step_seconds`` ±20 % from now."""
        return time.time() + step_delay(self.knobs[carrier], self._rng)

    async def answer(self, carrier: Carrier, kind: str) -> None:
        """Count the call, then play the carrier's injected latency and failures.

        Raises:
            Unavailable: ``CarrierOutage`` or ``CarrierFailure`` (503), as a real carrier's API does.
        """
        calls = self.calls[carrier]
        setattr(calls, kind, getattr(calls, kind) + 1)
        fault = self.faults[carrier]
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.outage:
            raise Unavailable(f"{carrier} is down", type="CarrierOutage")
        if fault.fail_rate and self._rng.random() < fault.fail_rate:
            raise Unavailable(f"{carrier} failed to answer", type="CarrierFailure")

    async def control(self) -> list[CarrierControl]:
        """Every carrier's faults, journey settings, calls and outbox counters."""
        counts = await asyncio.to_thread(self.tracking.counts)
        return [
            CarrierControl(
                carrier=carrier,
                **self.faults[carrier].model_dump(),
                **self.knobs[carrier].model_dump(),
                calls=self.calls[carrier].model_copy(),
                webhook_url=f"{self.webhook_url}/{carrier.value}" if self.webhook_url else None,
                outbox=OutboxCounts(**counts.get(carrier.value, {})),
            )
            for carrier in Carrier
        ]

    async def change(self, body: ControlIn) -> None:
        """Apply a control change to its carrier, or to every carrier when it names none."""
        carriers = list(Carrier) if body.carrier is None else [body.carrier]
        faults = body.model_dump(include=set(Fault.model_fields), exclude_none=True)
        knobs = body.model_dump(include=set(TrackingKnobs.model_fields), exclude_none=True)
        for carrier in carriers:
            self.faults[carrier] = self.faults[carrier].model_copy(update=faults)
            self.knobs[carrier] = self.knobs[carrier].model_copy(update=knobs)
            if body.step_seconds is not None:
                # A faster pace applies to the steps already planned too, not only from the next one on.
                await asyncio.to_thread(self.tracking.hurry, carrier.value, self.first_step_at(carrier))
        self.nudge()


async def get_desk(request: Request) -> CarrierDesk:
    desk: CarrierDesk = request.app.state.desk
    return desk


DeskDep = Annotated[CarrierDesk, Depends(get_desk)]
TrackingPath = Annotated[str, Path(pattern=r"^[A-Z0-9]{1,32}$")]
_FAULTS: dict[int | str, dict[str, Any]] = {503: {"model": ErrorBody, "description": "Injected outage or failure"}}

router = APIRouter()


@router.post("/{carrier}/rates", response_model=RateQuote, tags=["carriers"], responses=_FAULTS)
async def rates(carrier: Carrier, body: RateRequest, desk: DeskDep) -> RateQuote:
    """The carrier's price for one parcel; 422 ``ParcelRefused`` when it does not carry it."""
    await desk.answer(carrier, "rates")
    try:
        quoted = price(carrier, body.weight_grams, body.volume_cm3, body.country, body.postal_code, body.service_level)
    except ParcelRefused as exc:
        raise RuleViolation(str(exc), type="ParcelRefused") from None
    return RateQuote(
        carrier=carrier,
        service_level=body.service_level,
        rate_cents=quoted.rate_cents,
        currency=CURRENCY,
        transit_days=quoted.transit_days,
    )


@router.post(
    "/{carrier}/labels",
    status_code=201,
    response_model=LabelOut,
    tags=["carriers"],
    responses={200: {"model": LabelOut, "description": "The label sold earlier for this reference"}, **_FAULTS},
)
async def buy_label(carrier: Carrier, body: LabelRequest, desk: DeskDep, response: Response) -> LabelOut:
    """Sell a label; the same ``reference`` again answers the label sold first (200), never a second one."""
    await desk.answer(carrier, "labels")
    dest = body.destination
    try:
        quoted = price(carrier, body.weight_grams, body.volume_cm3, dest.country, dest.postal_code, body.service_level)
    except ParcelRefused as exc:
        raise RuleViolation(str(exc), type="ParcelRefused") from None

    def make_label() -> dict[str, Any]:
        return {
            "tracking_code": TARIFFS[carrier].tracking_prefix
            + "".join(secrets.choice("0123456789") for _ in range(12)),
            "carrier": carrier.value,
            "service_level": body.service_level.value,
            "reference": body.reference,
            "carton": body.carton,
            "weight_grams": body.weight_grams,
            "volume_cm3": body.volume_cm3,
            "destination": dest.model_dump(),
            "routing_code": f"{dest.country}-{dest.postal_code[:3].upper()}-{carrier.value[:2]}",
            "rate_cents": quoted.rate_cents,
            "currency": CURRENCY,
            "transit_days": quoted.transit_days,
            "created_at": datetime.now(UTC).isoformat(),
        }

    label, created = await asyncio.to_thread(
        desk.store.buy, carrier.value, body.reference, make_label, desk.first_step_at(carrier)
    )
    if created:
        desk.nudge()
    response.status_code = 201 if created else 200
    return LabelOut(tracking_code=label["tracking_code"], carrier=carrier, status=label.pop("status"), label=label)


@router.post(
    "/{carrier}/labels/{tracking_code}/void",
    response_model=LabelOut,
    tags=["carriers"],
    responses={404: {"model": ErrorBody, "description": "``UnknownLabel``"}, **_FAULTS},
)
async def void_label(carrier: Carrier, tracking_code: TrackingPath, desk: DeskDep) -> LabelOut:
    """Void a label and stop its journey: no events after this (a repeat answers the voided label)."""
    await desk.answer(carrier, "voids")
    label = await asyncio.to_thread(desk.store.void, carrier.value, tracking_code)
    if label is None:
        raise NotFound(f"{carrier} sold no label {tracking_code}", type="UnknownLabel")
    return LabelOut(tracking_code=tracking_code, carrier=carrier, status=label.pop("status"), label=label)


@router.get("/control", response_model=list[CarrierControl], tags=["control"])
async def get_control(desk: DeskDep) -> list[CarrierControl]:
    """Every carrier's injected faults, journey settings, the calls it received and its outbox counters."""
    return await desk.control()


@router.post("/control", response_model=CarrierControl | list[CarrierControl], tags=["control"])
async def set_control(body: ControlIn, desk: DeskDep) -> CarrierControl | list[CarrierControl]:
    """Change one carrier (its entry is the answer) or, without ``carrier``, every one (the answer lists them).

    Faults: ``outage`` (every call 503), ``fail_rate`` (that share 503), ``latency_ms``. Journeys:
    ``step_seconds`` between steps (±20 %; steps already planned come no later than one new step from now),
    ``exception_rate`` (a delivery fails), ``recovery_rate`` (a failed one is tried again),
    ``duplicate_rate`` (an event is posted twice). Fields left out keep their value.
    """
    await desk.change(body)
    entries = await desk.control()
    if body.carrier is None:
        return entries
    return next(entry for entry in entries if entry.carrier == body.carrier)


@router.get("/events", response_model=list[OutboxEvent], tags=["control"])
async def list_events(
    desk: DeskDep,
    tracking_code: Annotated[str | None, Query(pattern=r"^[A-Z0-9]{1,32}$")] = None,
    state: EventState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[OutboxEvent]:
    """The outbox, oldest first: each event as posted, its state, attempts and the webhook's last answer.

    ``state`` is ``pending`` (not yet acknowledged), ``delivered`` (a 2xx) or ``rejected`` (a 4xx, final).
    """
    rows = await asyncio.to_thread(
        desk.tracking.events,
        tracking_code=tracking_code,
        state=None if state is None else state.value,
        limit=limit,
    )
    return [OutboxEvent.model_validate(row) for row in rows]

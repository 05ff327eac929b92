"""The stand-in TMS's routes: rates, labels and voids per carrier, and the fault-injection door."""

from __future__ import annotations

import asyncio
import random
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from common.errors import ErrorBody, NotFound, RuleViolation, Unavailable
from services.carriers.models import (
    Calls,
    CarrierControl,
    ControlIn,
    Fault,
    LabelOut,
    LabelRequest,
    RateQuote,
    RateRequest,
)
from services.carriers.pricing import TARIFFS, Carrier, ParcelRefused, price
from services.carriers.store import LabelStore

CURRENCY = "EUR"


class CarrierDesk:
    """The stand-in's in-memory side: injected faults and call counters per carrier."""

    def __init__(self, store: LabelStore, rng: random.Random | None = None) -> None:
        self.store = store
        self.faults: dict[Carrier, Fault] = {carrier: Fault() for carrier in Carrier}
        self.calls: dict[Carrier, Calls] = {carrier: Calls() for carrier in Carrier}
        self._rng = rng or random.Random()

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

    def control(self, carrier: Carrier) -> CarrierControl:
        fault = self.faults[carrier]
        return CarrierControl(carrier=carrier, **fault.model_dump(), calls=self.calls[carrier].model_copy())


def get_desk(request: Request) -> CarrierDesk:
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

    label, created = await asyncio.to_thread(desk.store.buy, carrier.value, body.reference, make_label)
    response.status_code = 201 if created else 200
    return LabelOut(tracking_code=label["tracking_code"], carrier=carrier, status=label.pop("status"), label=label)


@router.post(
    "/{carrier}/labels/{tracking_code}/void",
    response_model=LabelOut,
    tags=["carriers"],
    responses={404: {"model": ErrorBody, "description": "``UnknownLabel``"}, **_FAULTS},
)
async def void_label(carrier: Carrier, tracking_code: TrackingPath, desk: DeskDep) -> LabelOut:
    """Void a label (a repeat answers the voided label)."""
    await desk.answer(carrier, "voids")
    label = await asyncio.to_thread(desk.store.void, carrier.value, tracking_code)
    if label is None:
        raise NotFound(f"{carrier} sold no label {tracking_code}", type="UnknownLabel")
    return LabelOut(tracking_code=tracking_code, carrier=carrier, status=label.pop("status"), label=label)


@router.get("/control", response_model=list[CarrierControl], tags=["control"])
async def get_control(desk: DeskDep) -> list[CarrierControl]:
    """Every carrier's injected faults and the calls it received."""
    return [desk.control(carrier) for carrier in Carrier]


@router.post("/control", response_model=CarrierControl, tags=["control"])
async def set_control(body: ControlIn, desk: DeskDep) -> CarrierControl:
    """Inject faults into one carrier: ``outage`` (every call 503), ``fail_rate`` (that share 503), ``latency_ms``."""
    changes = body.model_dump(exclude={"carrier"}, exclude_none=True)
    desk.faults[body.carrier] = desk.faults[body.carrier].model_copy(update=changes)
    return desk.control(body.carrier)

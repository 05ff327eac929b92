"""A label's journey from the carrier's hub to the door, one step at a time, and the events it makes.

Stages (the event each step makes, docs/tracking.md):

    PICKUP ─▶ IN_TRANSIT ─▶ IN_TRANSIT ─▶ OUT_FOR_DELIVERY ─▶ DELIVERED
                                                  │
                                 exception_rate   └▶ EXCEPTION ──recovery_rate──▶ OUT_FOR_DELIVERY ─▶ DELIVERED
                                                         └─ else: nothing more

The first step comes ``step_seconds`` after the label is sold (the pick-up),
each next one ``step_seconds`` later, both ±20 %. Whether a delivery fails,
and whether a failed one is tried again, is drawn when it happens, with the
carrier's rates then in force. Positions move in a straight line from the
carrier's hub toward a point derived from the destination's country and
postal code, so the same address always lands on the same spot.

Pure logic: the store persists journeys and queues events, the courier runs them.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from services.carriers.models import TrackingKnobs
from services.carriers.pricing import Carrier

#: Each step waits ``step_seconds`` times a factor drawn from this range.
JITTER = (0.8, 1.2)
#: Why a delivery fails (``EXCEPTION`` events' ``reason``).
EXCEPTION_REASONS = ("RECIPIENT_ABSENT", "ADDRESS_NOT_FOUND", "DAMAGED", "REFUSED")
#: Shipping stores at most this much ``location`` text.
MAX_LOCATION_CHARS = 200


class Stage(StrEnum):
    """Where a journey is: the last step taken (``LABELLED``: none yet)."""

    LABELLED = "LABELLED"
    IN_TRANSIT_1 = "IN_TRANSIT_1"
    IN_TRANSIT_2 = "IN_TRANSIT_2"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    EXCEPTION = "EXCEPTION"
    OUT_AGAIN = "OUT_AGAIN"
    DELIVERED = "DELIVERED"


class JourneyState(StrEnum):
    ACTIVE = "active"
    DELIVERED = "delivered"
    #: An exception nobody recovers from: no more events.
    STOPPED = "stopped"
    #: The label was voided: no more events.
    VOIDED = "voided"


@dataclass(frozen=True, slots=True)
class Position:
    lat: float
    lon: float

    def toward(self, other: Position, share: float) -> Position:
        """The point ``share`` (0..1) of the way from here to ``other``."""
        return Position(
            round(self.lat + (other.lat - self.lat) * share, 5), round(self.lon + (other.lon - self.lon) * share, 5)
        )


@dataclass(frozen=True, slots=True)
class Hub:
    name: str
    position: Position


HUBS: dict[Carrier, Hub] = {
    Carrier.SWIFT: Hub("SWIFT hub Kassel", Position(51.3127, 9.4797)),
    Carrier.PARCELNET: Hub("PARCELNET hub Leipzig", Position(51.3397, 12.3731)),
}

# German postal zones by first digit: the zone's main city.
_DE_ZONES: dict[str, Position] = {
    "0": Position(51.0504, 13.7373),  # Dresden
    "1": Position(52.5200, 13.4050),  # Berlin
    "2": Position(53.5511, 9.9937),  # Hamburg
    "3": Position(52.3759, 9.7320),  # Hannover
    "4": Position(51.2277, 6.7735),  # Düsseldorf
    "5": Position(50.9375, 6.9603),  # Köln
    "6": Position(50.1109, 8.6821),  # Frankfurt
    "7": Position(48.7758, 9.1829),  # Stuttgart
    "8": Position(48.1351, 11.5820),  # München
    "9": Position(49.4521, 11.0767),  # Nürnberg
}
_COUNTRIES: dict[str, Position] = {
    "DE": Position(51.1657, 10.4515),
    "AT": Position(48.2082, 16.3738),
    "BE": Position(50.8503, 4.3517),
    "CH": Position(46.9480, 7.4474),
    "CZ": Position(50.0755, 14.4378),
    "DK": Position(55.6761, 12.5683),
    "ES": Position(40.4168, -3.7038),
    "FR": Position(48.8566, 2.3522),
    "GB": Position(51.5074, -0.1278),
    "IT": Position(45.4642, 9.1900),
    "LU": Position(49.6116, 6.1319),
    "NL": Position(52.3676, 4.9041),
    "PL": Position(52.2297, 21.0122),
    "SE": Position(59.3293, 18.0686),
}


def destination_point(country: str, postal_code: str) -> Position:
    """Where the parcel goes: the postal zone's (else the country's) centre, moved by a hash of the code.

    Deterministic: the same country and postal code always give the same point.
    """
    digest = hashlib.sha256(f"{country}:{postal_code.strip().upper()}".encode()).digest()
    dlat = (int.from_bytes(digest[0:4], "big") / 2**32 - 0.5) * 0.7  # about ±40 km north-south
    dlon = (int.from_bytes(digest[4:8], "big") / 2**32 - 0.5) * 1.0  # and ±35 km east-west
    centre = _DE_ZONES.get(postal_code.strip()[:1]) if country == "DE" else None
    centre = centre or _COUNTRIES.get(country)
    if centre is None:
        # Somewhere in Europe, the same spot for the same country.
        spread = hashlib.sha256(country.encode()).digest()
        centre = Position(
            43 + int.from_bytes(spread[0:4], "big") / 2**32 * 15, -5 + int.from_bytes(spread[4:8], "big") / 2**32 * 30
        )
    return Position(round(centre.lat + dlat, 5), round(centre.lon + dlon, 5))


@dataclass(frozen=True, slots=True)
class Journey:
    """A journey as stored: the label's destination, the last step and how many events it made."""

    tracking_code: str
    carrier: Carrier
    country: str
    postal_code: str
    city: str
    stage: Stage
    seq: int


@dataclass(frozen=True, slots=True)
class Event:
    """One delivery event, its body already the exact bytes to post (and sign)."""

    event_id: str
    tracking_code: str
    carrier: Carrier
    seq: int
    status: str
    occurred_at: str
    body: bytes
    post_twice: bool


@dataclass(frozen=True, slots=True)
class Advance:
    """One step: the event it made and where the journey is now (``next_in``: seconds to the next step)."""

    event: Event
    stage: Stage
    state: JourneyState
    next_in: float | None


def step_delay(knobs: TrackingKnobs, rng: random.Random) -> float:
    """Seconds until a journey's next step: ``step_seconds`` ±20 %."""
    return knobs.step_seconds * rng.uniform(*JITTER)


def advance(journey: Journey, knobs: TrackingKnobs, rng: random.Random, now: datetime) -> Advance:
    """Take the journey's next step at ``now`` (an aware datetime).

    Raises:
        ValueError: The journey is already delivered (an ended journey is never advanced).
    """
    hub = HUBS[journey.carrier]
    home = destination_point(journey.country, journey.postal_code)
    place = f"{journey.postal_code} {journey.city}"
    reason: str | None = None
    next_state = JourneyState.ACTIVE
    match journey.stage:
        case Stage.LABELLED:
            stage, status = Stage.IN_TRANSIT_1, "IN_TRANSIT"
            position, location = hub.position.toward(home, 1 / 3), f"Departed {hub.name}"
        case Stage.IN_TRANSIT_1:
            stage, status = Stage.IN_TRANSIT_2, "IN_TRANSIT"
            position, location = hub.position.toward(home, 2 / 3), f"On the way to {place} ({journey.country})"
        case Stage.IN_TRANSIT_2:
            stage, status = Stage.OUT_FOR_DELIVERY, "OUT_FOR_DELIVERY"
            position, location = home, f"Delivery depot {journey.city}"
        case Stage.EXCEPTION:
            stage, status = Stage.OUT_AGAIN, "OUT_FOR_DELIVERY"
            position, location = home, f"Delivery depot {journey.city} (second attempt)"
        case Stage.OUT_FOR_DELIVERY | Stage.OUT_AGAIN:
            position, location = home, place
            # Only the first attempt can fail: a recovered parcel is always delivered the second time.
            if journey.stage is Stage.OUT_FOR_DELIVERY and rng.random() < knobs.exception_rate:
                stage, status, reason = Stage.EXCEPTION, "EXCEPTION", rng.choice(EXCEPTION_REASONS)
                if rng.random() >= knobs.recovery_rate:
                    next_state = JourneyState.STOPPED
            else:
                stage, status, next_state = Stage.DELIVERED, "DELIVERED", JourneyState.DELIVERED
        case _:
            raise ValueError(f"journey {journey.tracking_code} is over ({journey.stage})")
    event = make_event(journey, status, now, position, location[:MAX_LOCATION_CHARS], reason, knobs, rng)
    next_in = step_delay(knobs, rng) if next_state is JourneyState.ACTIVE else None
    return Advance(event=event, stage=stage, state=next_state, next_in=next_in)


def make_event(
    journey: Journey,
    status: str,
    now: datetime,
    position: Position | None,
    location: str | None,
    reason: str | None,
    knobs: TrackingKnobs,
    rng: random.Random,
) -> Event:
    """The journey's next event (number ``seq + 1``), serialised once: those bytes are posted and signed."""
    seq = journey.seq + 1
    event_id = f"{journey.carrier.value}-{journey.tracking_code}-{seq}"
    occurred_at = now.astimezone(UTC).isoformat(timespec="milliseconds")
    body: dict[str, Any] = {
        "event_id": event_id,
        "tracking_code": journey.tracking_code,
        "carrier": journey.carrier.value,
        "status": status,
        "occurred_at": occurred_at,
        "position": None if position is None else {"lat": position.lat, "lon": position.lon},
        "location": location,
        "reason": reason,
    }
    return Event(
        event_id=event_id,
        tracking_code=journey.tracking_code,
        carrier=journey.carrier,
        seq=seq,
        status=status,
        occurred_at=occurred_at,
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        post_twice=rng.random() < knobs.duplicate_rate,
    )

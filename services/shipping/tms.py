"""The shipping service's client of the carriers' TMS (an outside system), with a circuit breaker per carrier.

Every call to a carrier runs inside that carrier's breaker (purgatory, in
process memory): ``carrier_breaker_threshold`` failed calls in a row open it,
and while it is open the carrier is not called at all; after
``carrier_breaker_reset_seconds`` the next call goes through as a probe
(half-open), and its success closes the breaker (its failure opens it again).
One call is up to ``carrier_attempts`` tries with a doubling pause between
them, and counts once. A carrier that answers "no" (4xx: it does not carry
this parcel) has not failed: the breaker counts it as a success.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from common.logging import get_logger
from common.service_auth import service_headers
from services.shipping.models import BreakerPublic
from services.shipping.settings import ShippingSettings

log = get_logger("paklog.shipping.tms")

_STATES = {"closed": "closed", "opened": "open", "half-opened": "half-open"}


class CarrierUnavailable(Exception):
    """The carrier failed (transport error, timeout, 5xx, an answer off its contract): worth another carrier."""


class CarrierRefused(Exception):
    """The carrier answered no (4xx): it will not take this parcel."""


class BreakerOpen(Exception):
    """The carrier's breaker is open: it was not called."""


#: What a failed or skipped carrier raises; callers fall over to the next carrier on any of them.
CarrierProblem = (CarrierUnavailable, CarrierRefused, BreakerOpen)


@dataclass(frozen=True, slots=True)
class Quote:
    carrier: str
    rate_cents: int
    currency: str
    transit_days: int


@dataclass(frozen=True, slots=True)
class Parcel:
    reference: str
    carton: str
    weight_grams: int
    volume_cm3: int
    service_level: str
    destination: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PurchasedLabel:
    carrier: str
    tracking_code: str
    rate_cents: int
    currency: str
    fields: dict[str, Any]


class CarrierGateway:
    """Rates, labels and voids at each carrier, through its breaker.

    Args:
        settings: The TMS address, the credential, timeouts, retries and breaker thresholds.
        transport: Replaces the network (tests run the stand-in in process).
    """

    def __init__(self, settings: ShippingSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.carriers = settings.carriers
        self.attempts = max(1, settings.carrier_attempts)
        self.backoff_seconds = settings.carrier_backoff_seconds
        self.reset_seconds = settings.carrier_breaker_reset_seconds
        self.http = httpx.AsyncClient(
            base_url=settings.carriers_url,
            headers={**service_headers(settings.service_token.get_secret_value()), "User-Agent": "paklog-shipping"},
            timeout=httpx.Timeout(settings.carrier_timeout_seconds, connect=min(2.0, settings.carrier_timeout_seconds)),
            transport=transport,
        )
        self.breakers = AsyncCircuitBreakerFactory(
            default_threshold=settings.carrier_breaker_threshold,
            default_ttl=settings.carrier_breaker_reset_seconds,
            exclude=[CarrierRefused],
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def quote(self, carrier: str, parcel: Parcel) -> Quote:
        """The carrier's price for the parcel.

        Raises:
            CarrierUnavailable, CarrierRefused, BreakerOpen.
        """
        body = await self._call(
            carrier,
            f"/{carrier}/rates",
            {
                "weight_grams": parcel.weight_grams,
                "volume_cm3": parcel.volume_cm3,
                "country": parcel.destination["country"],
                "postal_code": parcel.destination["postal_code"],
                "service_level": parcel.service_level,
            },
        )
        try:
            return Quote(carrier, int(body["rate_cents"]), str(body["currency"]), int(body["transit_days"]))
        except (KeyError, TypeError, ValueError):
            raise CarrierUnavailable(f"{carrier} answered a quote off its contract") from None

    async def buy(self, carrier: str, parcel: Parcel) -> PurchasedLabel:
        """Buy the parcel's label; the carrier answers the same label for the same reference.

        Raises:
            CarrierUnavailable, CarrierRefused, BreakerOpen.
        """
        body = await self._call(
            carrier,
            f"/{carrier}/labels",
            {
                "reference": parcel.reference,
                "weight_grams": parcel.weight_grams,
                "volume_cm3": parcel.volume_cm3,
                "service_level": parcel.service_level,
                "destination": parcel.destination,
                "carton": parcel.carton,
            },
        )
        try:
            fields = dict(body["label"])
            return PurchasedLabel(
                carrier=carrier,
                tracking_code=str(body["tracking_code"]),
                rate_cents=int(fields["rate_cents"]),
                currency=str(fields["currency"]),
                fields=fields,
            )
        except (KeyError, TypeError, ValueError):
            raise CarrierUnavailable(f"{carrier} answered a label off its contract") from None

    async def void(self, carrier: str, tracking_code: str) -> None:
        """Void the label at the carrier; a label it does not know is nothing to void.

        Raises:
            CarrierUnavailable, BreakerOpen.
        """
        try:
            await self._call(carrier, f"/{carrier}/labels/{tracking_code}/void", None)
        except CarrierRefused:
            log.warning("carrier_void_refused", carrier=carrier, tracking_code=tracking_code)

    async def states(self) -> list[BreakerPublic]:
        """Each carrier's breaker as it stands (an open one past its reset time is ``half-open``)."""
        answers = []
        for carrier in self.carriers:
            context = (await self.breakers.get_breaker(carrier)).context
            state = _STATES.get(context.state, context.state)
            opened_at = context.opened_at if context.state == "opened" else None
            if opened_at is not None and time.time() > opened_at + self.reset_seconds:
                state = "half-open"  # the next call is let through as a probe
            answers.append(
                BreakerPublic(
                    carrier=carrier,
                    state=state,
                    failures=context.failure_count or 0,
                    opened_at=datetime.fromtimestamp(opened_at, UTC) if opened_at is not None else None,
                )
            )
        return answers

    async def _call(self, carrier: str, path: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        breaker = await self.breakers.get_breaker(carrier)
        try:
            async with breaker:
                return await self._tries(carrier, path, payload)
        except OpenedState:
            raise BreakerOpen(f"{carrier}'s circuit breaker is open") from None

    async def _tries(self, carrier: str, path: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        problem = ""
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            try:
                response = await self.http.post(path, json=payload)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}"
                continue
            if response.status_code >= 500:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise CarrierRefused(f"{carrier} refused: HTTP {response.status_code} {response.text[:200]}")
            try:
                body = response.json()
            except ValueError:
                problem = "not JSON"
                continue
            if isinstance(body, dict):
                return body
            problem = "not a JSON object"
        log.warning("carrier_failed", carrier=carrier, path=path, attempts=self.attempts, problem=problem)
        raise CarrierUnavailable(f"{carrier} failed {self.attempts} times ({problem})")

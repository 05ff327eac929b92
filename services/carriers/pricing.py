"""The carriers' tariffs: deterministic prices by weight, volume, destination and service level.

The two carriers price differently, so rate shopping matters: PARCELNET is
cheaper for light parcels (lower base price), SWIFT for heavy ones (lower
price per kilogram) and abroad. Billable weight is the larger of the real
weight and the volumetric weight (5,000 cm³ per kg), in whole kilograms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

HOME_COUNTRY = "DE"
#: Postal areas the carriers charge a surcharge for (the North Sea and Baltic islands).
REMOTE_POSTAL_PREFIXES = ("18", "25", "26")
VOLUMETRIC_CM3_PER_KG = 5000


class Carrier(StrEnum):
    SWIFT = "SWIFT"
    PARCELNET = "PARCELNET"


class ServiceLevel(StrEnum):
    STANDARD = "STANDARD"
    EXPRESS = "EXPRESS"


@dataclass(frozen=True, slots=True)
class Tariff:
    tracking_prefix: str
    base_cents: int
    per_kg_cents: int
    express_percent: int
    transit_days: dict[ServiceLevel, int]
    abroad_cents: int
    abroad_days: int
    remote_cents: int
    max_weight_grams: int


TARIFFS: dict[Carrier, Tariff] = {
    Carrier.SWIFT: Tariff(
        tracking_prefix="SW",
        base_cents=450,
        per_kg_cents=95,
        express_percent=180,
        transit_days={ServiceLevel.STANDARD: 2, ServiceLevel.EXPRESS: 1},
        abroad_cents=700,
        abroad_days=2,
        remote_cents=250,
        max_weight_grams=40_000,
    ),
    Carrier.PARCELNET: Tariff(
        tracking_prefix="PN",
        base_cents=390,
        per_kg_cents=120,
        express_percent=200,
        transit_days={ServiceLevel.STANDARD: 3, ServiceLevel.EXPRESS: 2},
        abroad_cents=900,
        abroad_days=3,
        remote_cents=150,
        max_weight_grams=31_500,
    ),
}


@dataclass(frozen=True, slots=True)
class Price:
    rate_cents: int
    transit_days: int


class ParcelRefused(Exception):
    """The carrier does not take this parcel (too heavy)."""


def billable_kg(weight_grams: int, volume_cm3: int) -> int:
    """Whole kilograms charged: the real or the volumetric weight, whichever is larger (at least 1)."""
    return max(1, math.ceil(weight_grams / 1000), math.ceil(volume_cm3 / VOLUMETRIC_CM3_PER_KG))


def price(
    carrier: Carrier, weight_grams: int, volume_cm3: int, country: str, postal_code: str, level: ServiceLevel
) -> Price:
    """The carrier's price and transit time for one parcel.

    Raises:
        ParcelRefused: heavier than the carrier carries.
    """
    tariff = TARIFFS[carrier]
    if weight_grams > tariff.max_weight_grams:
        raise ParcelRefused(f"{carrier} carries at most {tariff.max_weight_grams} g")
    cents = tariff.base_cents + tariff.per_kg_cents * billable_kg(weight_grams, volume_cm3)
    days = tariff.transit_days[level]
    if country != HOME_COUNTRY:
        cents += tariff.abroad_cents
        days += tariff.abroad_days
    elif postal_code.startswith(REMOTE_POSTAL_PREFIXES):
        cents += tariff.remote_cents
        days += 1
    if level == ServiceLevel.EXPRESS:
        cents = cents * tariff.express_percent // 100
    return Price(rate_cents=cents, transit_days=days)

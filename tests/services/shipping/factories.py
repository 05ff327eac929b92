"""Typed helpers for the shipping tests: the app against the in-process carrier stand-in, shipments, tracking events."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from common.db import create_engine, create_sessionmaker
from common.settings import ServiceSettings
from services.shipping.app import create_app
from services.shipping.models import ServiceLevel, Shipment, ShipmentStatus
from services.shipping.seed import seed
from services.shipping.settings import ShippingSettings

THRESHOLD = 2
FAST: dict[str, Any] = {"carrier_attempts": 1, "carrier_backoff_seconds": 0.01, "carrier_breaker_threshold": THRESHOLD}
#: Carrier events happen at T0 + n minutes in the tests.
T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


async def seeded(url: str) -> str:
    engine = create_engine(url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            await seed(session)
    finally:
        await engine.dispose()
    return url


def shipping_app(carrier_app: FastAPI, **settings: Any) -> Callable[[ServiceSettings], FastAPI]:
    """``create_app`` talking to the in-process stand-in, with extra shipping settings."""

    def make(base: ServiceSettings) -> FastAPI:
        return create_app(
            ShippingSettings(**{**base.model_dump(), **FAST, **settings}),
            carrier_transport=httpx.ASGITransport(app=carrier_app),
        )

    return make


def oid() -> str:
    return uuid.uuid4().hex[:16]


def shipment(order_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id,
        "carton": "S",
        "weight_grams": 1000,
        "volume_cm3": 3000,
        "service_level": "STANDARD",
        "destination": {
            "name": "Alice",
            "line1": "1 Street",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
    }
    return body | overrides


async def ship(client: httpx.AsyncClient, order_id: str, key: str | None = None, **overrides: Any) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post("/shipments", json=shipment(order_id, **overrides), headers=headers)


async def labelled(client: httpx.AsyncClient) -> dict[str, Any]:
    """A new order's shipment, labelled (its ``tracking_code``, ``carrier`` and ``order_id``)."""
    resp = await ship(client, oid())
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def make_shipment(
    sessions: async_sessionmaker[AsyncSession], tracking_code: str, *, status: ShipmentStatus, carrier: str = "SWIFT"
) -> dict[str, Any]:
    """A shipment written straight to the database (a state no route leaves, or a code the stand-in never sold)."""
    now = datetime.now(UTC)
    order_id = oid()
    async with sessions() as session, session.begin():
        session.add(
            Shipment(
                shipment_id=oid(),
                order_id=order_id,
                status=status,
                carton="S",
                weight_grams=1000,
                volume_cm3=3000,
                service_level=ServiceLevel.STANDARD,
                destination=shipment(order_id)["destination"],
                tracking_code=tracking_code,
                carrier=carrier,
                rate_cents=None if status == ShipmentStatus.PENDING else 500,
                currency=None if status == ShipmentStatus.PENDING else "EUR",
                created_at=now,
                updated_at=now,
            )
        )
    return {"tracking_code": tracking_code, "carrier": carrier, "order_id": order_id}


async def fault(tms: httpx.AsyncClient, carrier: str, **faults: Any) -> None:
    resp = await tms.post("/control", json={"carrier": carrier, **faults})
    assert resp.status_code == 200, resp.text


def at(minutes: float) -> str:
    """``T0 + minutes`` as the carriers send it (ISO 8601 with an offset)."""
    return (T0 + timedelta(minutes=minutes)).isoformat()


def tracking_event(
    parcel: dict[str, Any], status: str, minutes: float, *, event_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """A carrier event for the labelled shipment ``parcel``, happening ``minutes`` after ``T0``."""
    body: dict[str, Any] = {
        "event_id": event_id or f"{parcel['carrier']}-{parcel['tracking_code']}-{uuid.uuid4().hex[:8]}",
        "carrier": parcel["carrier"],
        "tracking_code": parcel["tracking_code"],
        "status": status,
        "occurred_at": at(minutes),
        "position": None,
        "location": None,
        "reason": None,
    }
    return body | overrides


async def post_event(client: httpx.AsyncClient, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post("/tracking/events", json=body, headers=headers)


async def record(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """Post the event; its 200 answer."""
    resp = await post_event(client, body)
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer

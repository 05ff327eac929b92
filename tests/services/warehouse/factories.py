"""Typed factories for the warehouse tests: locations and bin rows go straight into the database (no route makes them)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.warehouse.models import BinStock, Location, LocationType

_codes = itertools.count(1)


def new_sku() -> str:
    return f"T-{uuid.uuid4().hex[:10].upper()}"


def new_id(prefix: str = "o") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def make_location(
    sessions: async_sessionmaker[AsyncSession],
    pick_seq: int,
    *,
    zone: str = "Z",
    type: LocationType = LocationType.PICK,
    locked: bool = False,
) -> str:
    """A location whose code is unique within the test run; ``pick_seq`` is its place on the path."""
    n = next(_codes)
    code = f"{zone}-{n // 1000 % 100:02d}-{n // 10 % 100:02d}-{n % 10}"
    async with sessions() as session, session.begin():
        session.add(
            Location(
                code=code,
                zone=zone,
                aisle=n // 1000 % 100,
                rack=n // 10 % 100,
                level=n % 10,
                pick_seq=pick_seq,
                type=type,
                locked=locked,
                lock_reason="test" if locked else None,
                updated_at=datetime.now(UTC),
            )
        )
    return code


async def make_bin(
    sessions: async_sessionmaker[AsyncSession],
    location: str,
    sku: str,
    quantity: int,
    *,
    lot: str | None = None,
    expiry_date: date | None = None,
    received_days_ago: int = 1,
) -> None:
    async with sessions() as session, session.begin():
        session.add(
            BinStock(
                location=location,
                sku=sku,
                lot=lot,
                expiry_date=expiry_date,
                received_at=datetime.now(UTC) - timedelta(days=received_days_ago),
                quantity=quantity,
                allocated=0,
            )
        )


async def enqueue(
    client: httpx.AsyncClient,
    lines: list[tuple[str, int]],
    *,
    order_id: str | None = None,
    service_level: str = "STANDARD",
    priority: int = 0,
    placed_at: datetime | None = None,
) -> dict[str, Any]:
    body = {
        "order_id": order_id or new_id(),
        "lines": [{"sku": sku, "quantity": q} for sku, q in lines],
        "service_level": service_level,
        "priority": priority,
        "placed_at": (placed_at or datetime.now(UTC)).isoformat(),
    }
    resp = await client.post("/backlog", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def plan(client: httpx.AsyncClient, **limits: int) -> dict[str, Any]:
    resp = await client.post("/waves", json={"wave_id": new_id("w"), **limits})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def allocate(client: httpx.AsyncClient, wave_id: str) -> dict[str, Any]:
    resp = await client.post(f"/waves/{wave_id}/allocate")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def released_wave(client: httpx.AsyncClient, **limits: int) -> dict[str, Any]:
    """Plan, allocate and release a wave of what waits; the allocation's answer."""
    wave = await plan(client, **limits)
    allocation = await allocate(client, wave["wave_id"])
    resp = await client.post(f"/waves/{wave['wave_id']}/release")
    assert resp.status_code == 200, resp.text
    return allocation


async def bins(client: httpx.AsyncClient, sku: str) -> dict[str, tuple[int, int]]:
    """``{location: (quantity, allocated)}`` of a SKU."""
    rows = (await client.get("/stock", params={"sku": sku})).json()
    return {r["location"]: (r["quantity"], r["allocated"]) for r in rows}


def scan(task: dict[str, Any], quantity: int | None = None, picker: str = "p1") -> dict[str, Any]:
    return {
        "location": task["location"],
        "sku": task["sku"],
        "lot": task["lot"],
        "quantity": task["quantity"] if quantity is None else quantity,
        "picker": picker,
    }

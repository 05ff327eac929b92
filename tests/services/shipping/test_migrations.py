"""Migration 0002 (tracking) goes down and up again on a database with tracking data."""

from __future__ import annotations

import asyncio

import asyncpg
from fastapi import FastAPI

from common import migrations
from common.settings import asyncpg_url
from tests.conftest import FreshDatabase
from tests.services.shipping.factories import labelled, record, seeded, shipping_app, tracking_event
from tests.support import committing_client


async def test_tracking_migration_downgrades_and_upgrades(fresh_database: FreshDatabase, carrier_app: FastAPI) -> None:
    url = await seeded(await fresh_database("shipping"))
    async with committing_client(shipping_app(carrier_app), "shipping", url) as client:
        parcel = await labelled(client)
        await record(client, tracking_event(parcel, "IN_TRANSIT", 0, position={"lat": 1.0, "lon": 2.0}))
        subscribed = await client.post(
            f"/tracking/{parcel['tracking_code']}/subscriptions",
            json={"username": "alice", "email": "alice@example.com", "title": "A parcel"},
        )
        assert subscribed.status_code == 201

    await asyncio.to_thread(migrations.downgrade, "shipping", url, "0001")
    conn = await asyncpg.connect(asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        status = await conn.fetchval("SELECT status FROM shipments WHERE order_id = $1", parcel["order_id"])
        tables = {
            r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    finally:
        await conn.close()
    assert status == "LABELLED"  # a status 0001 knows
    assert not tables & {"tracking_events", "subscriptions"}

    await asyncio.to_thread(migrations.upgrade, "shipping", url)
    async with committing_client(shipping_app(carrier_app), "shipping", url) as client:
        tracked = (await client.get(f"/tracking/{parcel['tracking_code']}")).json()
        assert (tracked["status"], tracked["last_event_at"], tracked["trail"]) == ("LABELLED", None, [])
        assert (await record(client, tracking_event(parcel, "IN_TRANSIT", 5)))["result"] == "applied"

"""Races settled in the database: real commits on a fresh database, requests run at once with asyncio.gather."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from common.db import create_engine, create_sessionmaker
from services.warehouse.app import create_app
from services.warehouse.models import BinStock, Location, LocationType
from tests.conftest import FreshDatabase
from tests.services.warehouse.factories import new_id, new_sku
from tests.support import committing_client


async def stock_floor(url: str, sku: str, quantities: list[int]) -> list[str]:
    """Locations with one bin row each of ``sku``."""
    engine = create_engine(url, pool_size=1)
    now = datetime.now(UTC)
    codes = [f"C-01-{i + 1:02d}-1" for i in range(len(quantities))]
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            for i, (code, quantity) in enumerate(zip(codes, quantities, strict=True)):
                session.add(
                    Location(
                        code=code,
                        zone="C",
                        aisle=1,
                        rack=i + 1,
                        level=1,
                        pick_seq=i + 1,
                        type=LocationType.PICK,
                        updated_at=now,
                    )
                )
                await session.flush()
                session.add(
                    BinStock(
                        location=code,
                        sku=sku,
                        received_at=now - timedelta(days=i),
                        quantity=quantity,
                        allocated=0,
                    )
                )
    finally:
        await engine.dispose()
    return codes


async def test_two_plans_at_once_never_take_the_same_order(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("warehouse")
    async with committing_client(create_app, "warehouse", url) as client:
        placed = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        orders = []
        for i in range(30):
            body = {
                "order_id": new_id(),
                "lines": [{"sku": "MUG-RED", "quantity": 1}],
                "placed_at": (placed + timedelta(seconds=i)).isoformat(),
            }
            assert (await client.post("/backlog", json=body)).status_code == 201
            orders.append(body["order_id"])
        answers = await asyncio.gather(
            *(client.post("/waves", json={"wave_id": new_id("w"), "max_orders": 4}) for _ in range(10))
        )
        planned = [a.json() for a in answers if a.status_code == 201]
        assert all(a.status_code in (201, 409) for a in answers)
        taken = [o for wave in planned for o in wave["order_ids"]]
        assert len(taken) == len(set(taken)), "an order is in two waves"
        assert set(taken) <= set(orders)
        # Whatever no wave took still waits; nothing is lost.
        waiting = {o["order_id"] for o in (await client.get("/backlog", params={"limit": 100})).json()}
        assert waiting == set(orders) - set(taken)
        # Each wave says the same as the orders do.
        for wave in planned:
            assert (await client.get(f"/waves/{wave['wave_id']}")).json()["order_ids"] == wave["order_ids"]


async def test_two_allocations_at_once_never_over_allocate_a_bin(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("warehouse")
    sku = new_sku()
    codes = await stock_floor(url, sku, [5, 4])
    async with committing_client(create_app, "warehouse", url) as client:
        waves = []
        for _ in range(6):
            body = {
                "order_id": new_id(),
                "lines": [{"sku": sku, "quantity": 2}],
                "placed_at": datetime.now(UTC).isoformat(),
            }
            await client.post("/backlog", json=body)
            wave = await client.post("/waves", json={"wave_id": new_id("w"), "max_orders": 1})
            waves.append(wave.json()["wave_id"])
        answers = await asyncio.gather(*(client.post(f"/waves/{w}/allocate") for w in waves))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        allocated = sum(t["quantity"] for a in answers for t in a.json()["tasks"])
        short = sum(s["quantity"] for a in answers for s in a.json()["shortages"])
        assert allocated == 9
        assert short == 12 - 9
        rows = (await client.get("/stock", params={"sku": sku})).json()
        assert {r["location"]: (r["quantity"], r["allocated"]) for r in rows} == {codes[0]: (5, 5), codes[1]: (4, 4)}


async def test_pickers_asking_at_once_get_different_tasks(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("warehouse")
    sku = new_sku()
    await stock_floor(url, sku, [3, 3, 3])
    async with committing_client(create_app, "warehouse", url) as client:
        for _ in range(3):
            body = {
                "order_id": new_id(),
                "lines": [{"sku": sku, "quantity": 3}],
                "placed_at": datetime.now(UTC).isoformat(),
            }
            await client.post("/backlog", json=body)
        wave = (await client.post("/waves", json={"wave_id": new_id("w")})).json()
        await client.post(f"/waves/{wave['wave_id']}/allocate")
        await client.post(f"/waves/{wave['wave_id']}/release")
        answers = await asyncio.gather(*(client.get("/tasks/next", params={"picker": f"p{i}"}) for i in range(5)))
        tasks = [a.json()["task_id"] for a in answers if a.status_code == 200]
        assert len(tasks) == 3
        assert len(set(tasks)) == 3
        assert sum(a.status_code == 204 for a in answers) == 2

"""The demo floor: bins hold exactly the inventory seed's stock, on a serpentine path of 200+ locations."""

from __future__ import annotations

from collections import Counter, defaultdict

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.inventory.seed import DEMO_PRODUCTS
from services.warehouse.seed import seed


async def test_seeded_bins_hold_each_skus_on_hand(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session:
        created = await seed(session)
    assert created >= 200
    totals = {t["sku"]: t["quantity"] for t in (await client.get("/stock/totals")).json()}
    assert totals == {sku: product.on_hand for sku, product in DEMO_PRODUCTS.items()}
    # A second run creates nothing and doubles nothing.
    async with sessions() as session:
        assert await seed(session) == 0
    assert {t["sku"]: t["quantity"] for t in (await client.get("/stock/totals")).json()} == totals


async def test_seeded_floor_has_zones_lots_and_reserve_stock(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session:
        await seed(session)
    locations = (await client.get("/locations", params={"limit": 500})).json()
    assert len(locations) >= 200
    assert len(Counter(loc["zone"] for loc in locations)) >= 2
    seqs = [loc["pick_seq"] for loc in locations]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    # Serpentine: aisle 1 runs up the racks, aisle 2 back down.
    racks = defaultdict(list)
    for loc in locations:
        if loc["zone"] == "A" and loc["level"] == 1:
            racks[loc["aisle"]].append(loc["rack"])
    assert racks[1] == sorted(racks[1])
    assert racks[2] == sorted(racks[2], reverse=True)
    rows = (await client.get("/stock", params={"limit": 1000})).json()
    by_sku = defaultdict(list)
    for row in rows:
        by_sku[row["sku"]].append(row)
    for sku in ("BTL-STEEL", "NOTE-A5"):
        lots = by_sku[sku]
        assert len({r["lot"] for r in lots}) >= 2
        assert all(r["expiry_date"] is not None for r in lots)
    types = {loc["code"]: loc["type"] for loc in locations}
    assert any(types[r["location"]] == "RESERVE" for r in rows)
    assert all(r["allocated"] == 0 for r in rows)

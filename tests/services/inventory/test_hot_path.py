"""The saga's inventory calls stay cheap, and their statements keep the lock order under contention."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from services.inventory.app import create_app
from tests.conftest import FreshDatabase
from tests.services.inventory.test_inventory import make_product, order_id, stock
from tests.support import committing_client, wait_for_lock_waiters


def _trace(statements: list[str]) -> str:
    return "\n".join(s.strip()[:90] for s in statements)


async def _reserve(client: httpx.AsyncClient, oid: str, lines: list[tuple[str, int]]) -> httpx.Response:
    return await client.post(
        "/reservations",
        json={"order_id": oid, "lines": [{"sku": sku, "quantity": q} for sku, q in lines]},
        headers={"Idempotency-Key": f"order-{oid}:reserve"},
    )


async def _release(client: httpx.AsyncClient, oid: str) -> httpx.Response:
    return await client.post(f"/reservations/{oid}/release", headers={"Idempotency-Key": f"order-{oid}:release"})


async def test_keyed_reserve_is_one_statement_of_work_and_release_two(
    fresh_database: FreshDatabase, statements: list[str]
) -> None:
    url = await fresh_database("inventory")
    async with committing_client(create_app, "inventory", url, pool_size=1) as client:
        skus = sorted([await make_product(client, on_hand=10) for _ in range(3)])
        # The connection's first use of a statement also sends asyncpg's one-off type look-ups.
        warm = order_id()
        await _reserve(client, warm, [(skus[0], 1)])
        await _release(client, warm)
        await _release(client, order_id())

        oid = order_id()
        statements.clear()
        resp = await _reserve(client, oid, [(skus[2], 1), (skus[0], 2), (skus[1], 3), (skus[0], 1)])
        assert resp.status_code == 201, resp.text
        assert resp.json() == {
            "order_id": oid,
            "status": "ACTIVE",
            "lines": [
                {"sku": skus[0], "quantity": 3},
                {"sku": skus[1], "quantity": 3},
                {"sku": skus[2], "quantity": 1},
            ],
        }
        # claim the key; header, stock of every line and the lines at once; store the answer
        assert len(statements) == 3, _trace(statements)
        assert [await stock(client, sku) for sku in skus] == [(10, 7, 3), (10, 7, 3), (10, 9, 1)]

        statements.clear()
        resp = await _release(client, oid)
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "RELEASED"
        assert [line["quantity"] for line in resp.json()["lines"]] == [3, 3, 1]
        # claim the key; header to RELEASED; the held units back; store the answer
        assert len(statements) == 4, _trace(statements)
        assert [await stock(client, sku) for sku in skus] == [(10, 10, 0)] * 3

        statements.clear()
        never = order_id()
        resp = await _release(client, never)
        assert (resp.status_code, resp.json()["status"]) == (200, None)
        # claim the key; the tombstone; store the answer
        assert len(statements) == 3, _trace(statements)
        late = await _reserve(client, never, [(skus[0], 1)])
        assert (late.status_code, late.json()["type"]) == (409, "ReservationReleased")


async def test_reserves_listing_skus_in_opposite_orders_queue_instead_of_deadlocking(
    fresh_database: FreshDatabase,
) -> None:
    url = await fresh_database("inventory")
    async with committing_client(create_app, "inventory", url) as client:
        first, last = sorted([await make_product(client, on_hand=10) for _ in range(2)])
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            # Someone holds the SKU that sorts last. Were stock rows locked in line order, the reserve
            # listing it first would wait there, the other would take the first SKU and queue behind it,
            # and once the holder lets go each would hold what the other waits for.
            async with conn.transaction():
                await conn.execute("SELECT 1 FROM products WHERE sku = $1 FOR UPDATE", last)
                reserves = [
                    asyncio.create_task(_reserve(client, order_id(), [(last, 1), (first, 1)])),
                    asyncio.create_task(_reserve(client, order_id(), [(first, 2), (last, 2)])),
                ]
                await wait_for_lock_waiters(url, 2)
            done = await asyncio.gather(*reserves)
        finally:
            await conn.close()
        assert [r.status_code for r in done] == [201, 201], [r.text for r in done]
        assert await stock(client, first) == (10, 7, 3)
        assert await stock(client, last) == (10, 7, 3)


async def test_reserves_and_releases_of_many_lines_at_once_keep_stock_balanced(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("inventory")
    async with committing_client(create_app, "inventory", url) as client:
        skus = sorted([await make_product(client, on_hand=40) for _ in range(4)])
        orders = [order_id() for _ in range(16)]
        # Every order wants every SKU (31 units of each in all), half of them listed backwards.
        lines = [[(sku, 1 + i % 3) for sku in (skus if i % 2 else skus[::-1])] for i in range(len(orders))]
        reserved = await asyncio.gather(*(_reserve(client, o, ls) for o, ls in zip(orders, lines, strict=True)))
        assert [r.status_code for r in reserved] == [201] * len(orders), {r.text for r in reserved}
        assert [await stock(client, sku) for sku in skus] == [(40, 9, 31)] * 4
        released = await asyncio.gather(*(_release(client, o) for o in orders[::-1]))
        assert [r.json()["status"] for r in released] == ["RELEASED"] * len(orders)
        assert [await stock(client, sku) for sku in skus] == [(40, 40, 0)] * 4

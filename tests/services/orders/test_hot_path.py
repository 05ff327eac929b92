"""The saga's orders calls stay cheap, and the benchmark's raw side runs exactly what the service runs."""

from __future__ import annotations

import uuid

import asyncpg

from paklog.bench import _RawOrders
from services.orders.app import create_app
from tests.conftest import FreshDatabase
from tests.services.orders.test_orders import create, new_order
from tests.support import committing_client


async def test_keyed_create_and_transition_are_one_statement_of_work_each(
    fresh_database: FreshDatabase, statements: list[str]
) -> None:
    url = await fresh_database("orders")
    async with committing_client(create_app, "orders", url, pool_size=1) as client:
        # The connection's first use of a statement also sends asyncpg's one-off type look-ups.
        warm = new_order()
        await client.post("/orders", json=warm, headers={"Idempotency-Key": f"order-{warm['order_id']}:create"})
        await client.post(
            f"/orders/{warm['order_id']}/transition",
            json={"status": "RESERVED"},
            headers={"Idempotency-Key": f"order-{warm['order_id']}:status:RESERVED"},
        )
        body = new_order()
        statements.clear()
        resp = await client.post("/orders", json=body, headers={"Idempotency-Key": f"order-{body['order_id']}:create"})
        assert resp.status_code == 201
        # claim the key, write order + lines + history, store the answer
        assert len(statements) == 3, "\n".join(s[:90] for s in statements)
        statements.clear()
        resp = await client.post(
            f"/orders/{body['order_id']}/transition",
            json={"status": "RESERVED"},
            headers={"Idempotency-Key": f"order-{body['order_id']}:status:RESERVED"},
        )
        assert resp.status_code == 200
        assert len(statements) == 3, "\n".join(s[:90] for s in statements)
        history = (await client.get(f"/orders/{body['order_id']}")).json()["history"]
        assert [(h["from_status"], h["to_status"]) for h in history] == [(None, "PENDING"), ("PENDING", "RESERVED")]


async def test_bench_raw_side_sends_the_services_statements(
    fresh_database: FreshDatabase, statements: list[str]
) -> None:
    url = await fresh_database("orders")
    async with committing_client(create_app, "orders", url, pool_size=1) as client:
        warm_id = (await create(client))["order_id"]
        await client.post(
            f"/orders/{warm_id}/transition",
            json={"status": "RESERVED"},
            headers={"Idempotency-Key": f"order-{warm_id}:status:RESERVED"},
        )
        order_id = (await create(client))["order_id"]
        statements.clear()
        resp = await client.post(
            f"/orders/{order_id}/transition",
            json={"status": "RESERVED"},
            headers={"Idempotency-Key": f"order-{order_id}:status:RESERVED"},
        )
        assert resp.status_code == 200
    pool = await asyncpg.create_pool(url.replace("postgresql+asyncpg://", "postgresql://", 1), min_size=1, max_size=2)
    try:
        raw = _RawOrders(pool)
        assert [raw.claim.sql, raw.move.sql, raw.store.sql] == statements
        raw_id = f"raw{uuid.uuid4().hex[:12]}"
        await raw.seed([raw_id])
        await raw.transition(raw_id, f"{raw_id}:status:RESERVED")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT status FROM orders WHERE order_id = $1", raw_id) == "RESERVED"
            assert await conn.fetchval("SELECT count(*) FROM order_status_history WHERE order_id = $1", raw_id) == 2
            assert (
                await conn.fetchval(
                    "SELECT status_code FROM idempotency_keys WHERE key = $1", f"{raw_id}:status:RESERVED"
                )
                == 200
            )
    finally:
        await pool.close()

"""The saga's warehouse calls stay cheap, and a withdraw still meets an enqueue in flight."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import asyncpg
import httpx

from services.warehouse.app import create_app
from tests.conftest import FreshDatabase
from tests.services.warehouse.factories import new_id
from tests.support import committing_client, wait_for_lock_waiters


def _trace(statements: list[str]) -> str:
    return "\n".join(s.strip()[:90] for s in statements)


def _body(order_id: str) -> dict[str, object]:
    return {
        "order_id": order_id,
        "lines": [{"sku": "MUG-RED", "quantity": 2}, {"sku": "MUG-BLUE", "quantity": 1}],
        "service_level": "EXPRESS",
        "priority": 3,
        "placed_at": "2026-03-02T11:00:00+01:00",
    }


async def _enqueue(client: httpx.AsyncClient, order_id: str) -> httpx.Response:
    return await client.post("/backlog", json=_body(order_id), headers={"Idempotency-Key": f"order-{order_id}:enqueue"})


async def _withdraw(client: httpx.AsyncClient, order_id: str) -> httpx.Response:
    return await client.post(f"/backlog/{order_id}/withdraw", headers={"Idempotency-Key": f"order-{order_id}:withdraw"})


async def test_keyed_enqueue_and_withdraw_are_one_statement_of_work_each(
    fresh_database: FreshDatabase, statements: list[str]
) -> None:
    url = await fresh_database("warehouse")
    async with committing_client(create_app, "warehouse", url, pool_size=1) as client:
        # The connection's first use of a statement also sends asyncpg's one-off type look-ups.
        warm = new_id()
        await _enqueue(client, warm)
        await _withdraw(client, warm)
        await _withdraw(client, new_id())

        order_id = new_id()
        statements.clear()
        resp = await _enqueue(client, order_id)
        assert resp.status_code == 201, resp.text
        # claim the key; the backlog row; store the answer
        assert len(statements) == 3, _trace(statements)
        answer = resp.json()
        assert answer == {
            "order_id": order_id,
            "status": "WAITING",
            "service_level": "EXPRESS",
            "priority": 3,
            "placed_at": "2026-03-02T10:00:00Z",
            "cutoff_at": "2026-03-02T12:00:00Z",
            "wave_id": None,
            "lines": [{"sku": "MUG-BLUE", "quantity": 1}, {"sku": "MUG-RED", "quantity": 2}],
        }
        # A repeat without the key reads the row back: the same answer.
        again = await client.post("/backlog", json=_body(order_id))
        assert (again.status_code, again.json()) == (201, answer)

        statements.clear()
        resp = await _withdraw(client, order_id)
        assert resp.json() == {"order_id": order_id, "status": "WITHDRAWN"}
        assert len(statements) == 3, _trace(statements)

        never = new_id()
        statements.clear()
        resp = await _withdraw(client, never)
        assert resp.json() == {"order_id": never, "status": None}
        assert len(statements) == 3, _trace(statements)
        late = await _enqueue(client, never)
        assert (late.status_code, late.json()["type"]) == (409, "OrderWithdrawn")
        assert (await client.get("/backlog")).json() == []


async def test_a_withdraw_waits_for_an_enqueue_in_flight_and_withdraws_it(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("warehouse")
    async with committing_client(create_app, "warehouse", url) as client:
        order_id = new_id()
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            async with conn.transaction():
                # The enqueue's insert, not yet committed: the withdraw's tombstone waits on it.
                now = datetime.now(UTC)
                await conn.execute(
                    "INSERT INTO backlog (order_id, status, service_level, priority, placed_at, cutoff_at, lines,"
                    " line_count, created_at, updated_at)"
                    " VALUES ($1, 'WAITING', 'STANDARD', 0, $2, $2, $3::jsonb, 1, $2, $2)",
                    order_id,
                    now,
                    json.dumps([{"sku": "MUG-RED", "quantity": 1}]),
                )
                withdraw = asyncio.create_task(_withdraw(client, order_id))
                await wait_for_lock_waiters(url, 1)
            resp = await withdraw
        finally:
            await conn.close()
        assert resp.json() == {"order_id": order_id, "status": "WITHDRAWN"}
        assert (await client.get("/backlog")).json() == []

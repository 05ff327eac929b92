from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable

import httpx
import pytest
from sqlalchemy import text

from common.db import create_engine
from services.inventory.app import create_app
from tests.conftest import FreshDatabase, ServiceDatabases
from tests.support import committing_client, rolled_back_client


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["inventory"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "inventory", database_url) as (client, _):
        yield client


async def make_product(client: httpx.AsyncClient, on_hand: int = 10, price_cents: int = 500) -> str:
    sku = f"T-{uuid.uuid4().hex[:10].upper()}"
    resp = await client.put(
        f"/products/{sku}", json={"name": "Test item", "price_cents": price_cents, "on_hand": on_hand}
    )
    assert resp.status_code == 200, resp.text
    return sku


def order_id() -> str:
    return uuid.uuid4().hex[:16]


async def stock(client: httpx.AsyncClient, sku: str) -> tuple[int, int, int]:
    body = (await client.get(f"/products/{sku}")).json()
    assert body["on_hand"] == body["available"] + body["reserved"]
    return body["on_hand"], body["available"], body["reserved"]


async def test_reserve_release_commit_keep_stock_balanced(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=10)
    first, second = order_id(), order_id()
    resp = await client.post("/reservations", json={"order_id": first, "lines": [{"sku": sku, "quantity": 3}]})
    assert resp.status_code == 201
    assert resp.json() == {"order_id": first, "status": "ACTIVE", "lines": [{"sku": sku, "quantity": 3}]}
    assert await stock(client, sku) == (10, 7, 3)

    assert (await client.post(f"/reservations/{first}/release")).json()["status"] == "RELEASED"
    assert await stock(client, sku) == (10, 10, 0)
    # Releasing again has nothing left to undo and still succeeds.
    again = await client.post(f"/reservations/{first}/release")
    assert again.status_code == 200
    assert await stock(client, sku) == (10, 10, 0)

    await client.post("/reservations", json={"order_id": second, "lines": [{"sku": sku, "quantity": 4}]})
    committed = await client.post(f"/reservations/{second}/commit")
    assert committed.json()["status"] == "COMMITTED"
    assert await stock(client, sku) == (6, 6, 0)
    refused = await client.post(f"/reservations/{second}/release")
    assert refused.status_code == 409
    assert refused.json()["type"] == "ReservationCommitted"


async def test_release_of_unknown_order_is_a_no_op(client: httpx.AsyncClient) -> None:
    resp = await client.post(f"/reservations/{order_id()}/release")
    assert resp.status_code == 200
    assert resp.json()["status"] is None


async def test_out_of_stock_reserves_nothing(client: httpx.AsyncClient) -> None:
    plenty, scarce = await make_product(client, on_hand=50), await make_product(client, on_hand=1)
    lines = [{"sku": plenty, "quantity": 5}, {"sku": scarce, "quantity": 2}]
    resp = await client.post("/reservations", json={"order_id": order_id(), "lines": lines})
    assert resp.status_code == 409
    assert resp.json()["type"] == "OutOfStock"
    assert resp.json()["sku"] == scarce
    assert await stock(client, plenty) == (50, 50, 0)
    assert await stock(client, scarce) == (1, 1, 0)


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ({"sku": "NOPE-404", "quantity": 1}, 422),
        ({"sku": "MUG-RED", "quantity": 0}, 422),
        ({"sku": "MUG-RED", "quantity": -3}, 422),
        ({"sku": "bad sku!", "quantity": 1}, 422),
        ({"sku": "MUG-RED", "quantity": 10_000_000}, 422),
    ],
)
async def test_bad_lines_are_rejected(client: httpx.AsyncClient, line: dict[str, object], status: int) -> None:
    resp = await client.post("/reservations", json={"order_id": order_id(), "lines": [line]})
    assert resp.status_code == status
    assert set(resp.json()) >= {"type", "detail"}


async def test_idempotency_key_replays_the_first_answer(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=5)
    oid = order_id()
    body = {"order_id": oid, "lines": [{"sku": sku, "quantity": 2}]}
    headers = {"Idempotency-Key": f"order-{oid}:reserve"}
    first = await client.post("/reservations", json=body, headers=headers)
    second = await client.post("/reservations", json=body, headers=headers)
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await stock(client, sku) == (5, 3, 2)
    other = await client.post("/reservations", json={**body, "order_id": order_id()}, headers=headers)
    assert other.status_code == 409
    assert other.json()["type"] == "IdempotencyKeyReused"


async def test_repeat_reserve_for_same_order_holds_once(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=5)
    body = {"order_id": order_id(), "lines": [{"sku": sku, "quantity": 2}]}
    await client.post("/reservations", json=body)
    await client.post("/reservations", json=body)
    assert await stock(client, sku) == (5, 3, 2)
    different = await client.post("/reservations", json={**body, "lines": [{"sku": sku, "quantity": 1}]})
    assert different.status_code == 409


async def test_lowering_stock_below_reserved_is_refused(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=5)
    await client.post("/reservations", json={"order_id": order_id(), "lines": [{"sku": sku, "quantity": 4}]})
    resp = await client.put(f"/products/{sku}", json={"name": "Test item", "price_cents": 1, "on_hand": 3})
    assert resp.status_code == 409
    assert await stock(client, sku) == (5, 1, 4)


async def test_unknown_product_is_404(client: httpx.AsyncClient) -> None:
    resp = await client.get("/products/NOPE-404")
    assert resp.status_code == 404
    assert resp.json()["type"] == "UnknownSku"


async def test_racing_orders_never_share_the_last_unit(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("inventory")
    async with committing_client(create_app, "inventory", url) as client:
        sku = await make_product(client, on_hand=3)
        orders = [order_id() for _ in range(12)]
        results = await asyncio.gather(
            *(
                client.post("/reservations", json={"order_id": o, "lines": [{"sku": sku, "quantity": 1}]})
                for o in orders
            )
        )
        codes = sorted(r.status_code for r in results)
        assert codes == [201] * 3 + [409] * 9
        assert await stock(client, sku) == (3, 0, 3)


async def test_concurrent_repeats_with_one_key_reserve_once(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("inventory")
    async with committing_client(create_app, "inventory", url) as client:
        sku = await make_product(client, on_hand=10)
        oid = order_id()
        body = {"order_id": oid, "lines": [{"sku": sku, "quantity": 2}]}
        results = await asyncio.gather(
            *(
                client.post("/reservations", json=body, headers={"Idempotency-Key": f"order-{oid}:reserve"})
                for _ in range(6)
            )
        )
        assert {r.status_code for r in results} == {201}
        assert await stock(client, sku) == (10, 8, 2)


async def test_release_before_reserve_leaves_a_tombstone(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=10)
    oid = order_id()
    released = await client.post(f"/reservations/{oid}/release")
    assert (released.status_code, released.json()["status"]) == (200, None)
    late = await client.post("/reservations", json={"order_id": oid, "lines": [{"sku": sku, "quantity": 3}]})
    assert late.status_code == 409
    assert late.json()["type"] == "ReservationReleased"
    assert await stock(client, sku) == (10, 10, 0)
    assert (await client.get(f"/reservations/{oid}")).json() == {"order_id": oid, "status": "RELEASED", "lines": []}
    again = await client.post(f"/reservations/{oid}/release")
    assert again.json() == released.json()


async def test_reserve_after_its_release_is_refused(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=10)
    body = {"order_id": order_id(), "lines": [{"sku": sku, "quantity": 3}]}
    assert (await client.post("/reservations", json=body, headers={"Idempotency-Key": "r1"})).status_code == 201
    assert (await client.post(f"/reservations/{body['order_id']}/release")).json()["status"] == "RELEASED"
    late = await client.post("/reservations", json=body, headers={"Idempotency-Key": "r2"})
    assert (late.status_code, late.json()["type"]) == (409, "ReservationReleased")
    assert await stock(client, sku) == (10, 10, 0)


async def test_reserve_held_past_its_client_timeout_is_released(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("inventory")
    async with committing_client(create_app, "inventory", url) as client:
        sku = await make_product(client, on_hand=10)
        oid = order_id()
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as locker:
                # Someone else holds the product row: the reserve stalls inside its transaction.
                await locker.execute(text("SELECT 1 FROM products WHERE sku = :sku FOR UPDATE"), {"sku": sku})
                reserve = asyncio.create_task(
                    client.post(
                        "/reservations",
                        json={"order_id": oid, "lines": [{"sku": sku, "quantity": 4}]},
                        headers={"Idempotency-Key": f"order-{oid}:reserve"},
                    )
                )
                done, _ = await asyncio.wait({reserve}, timeout=0.3)
                assert not done  # the activity timed out; the workflow compensates
                release = asyncio.create_task(
                    client.post(f"/reservations/{oid}/release", headers={"Idempotency-Key": f"order-{oid}:release"})
                )
                done, _ = await asyncio.wait({release}, timeout=0.3)
                assert not done  # the release waits for the reserve in flight instead of missing it
                await locker.rollback()
            late, released = await reserve, await release
        finally:
            await engine.dispose()
        assert late.status_code == 201  # committed late ...
        assert released.json()["status"] == "RELEASED"  # ... and undone by the release
        assert await stock(client, sku) == (10, 10, 0)
        retry = await client.post("/reservations", json={"order_id": oid, "lines": [{"sku": sku, "quantity": 4}]})
        assert (retry.status_code, retry.json()["type"]) == (409, "ReservationReleased")
        assert await stock(client, sku) == (10, 10, 0)


async def test_racing_reserves_and_releases_leave_nothing_reserved(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("inventory")
    async with committing_client(create_app, "inventory", url) as client:
        sku = await make_product(client, on_hand=100)
        orders = [order_id() for _ in range(12)]

        def reserve(oid: str) -> Awaitable[httpx.Response]:
            return client.post("/reservations", json={"order_id": oid, "lines": [{"sku": sku, "quantity": 2}]})

        def release(oid: str) -> Awaitable[httpx.Response]:
            return client.post(f"/reservations/{oid}/release")

        # Half the orders see the release first, half the reserve: the late step never outlives the release.
        calls: list[Awaitable[httpx.Response]] = []
        for i, oid in enumerate(orders):
            pair = [reserve(oid), release(oid)]
            calls.extend(pair if i % 2 == 0 else pair[::-1])
        results = await asyncio.gather(*calls)
        assert {r.status_code for r in results} <= {200, 201, 409}
        refused = [r for r in results if r.status_code == 409]
        assert all(r.json()["type"] == "ReservationReleased" for r in refused)
        assert refused  # the release-first orders
        assert await stock(client, sku) == (100, 100, 0)
        statuses = {(await client.get(f"/reservations/{oid}")).json()["status"] for oid in orders}
        assert statuses == {"RELEASED"}

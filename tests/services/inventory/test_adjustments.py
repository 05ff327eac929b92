"""Reservation adjustments of the warehouse floor: write-off, top-up, release-units, stock totals, dimensions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from services.inventory.app import create_app
from services.inventory.seed import DEMO_PRODUCTS, seed
from tests.conftest import ServiceDatabases
from tests.support import rolled_back_client


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["inventory"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "inventory", database_url) as (client, _):
        yield client


async def make_product(client: httpx.AsyncClient, on_hand: int = 10, **extra: int) -> str:
    sku = f"T-{uuid.uuid4().hex[:10].upper()}"
    body = {"name": "Test item", "price_cents": 500, "on_hand": on_hand, **extra}
    resp = await client.put(f"/products/{sku}", json=body)
    assert resp.status_code == 200, resp.text
    return sku


async def reserve(client: httpx.AsyncClient, sku: str, quantity: int) -> str:
    oid = uuid.uuid4().hex[:16]
    resp = await client.post("/reservations", json={"order_id": oid, "lines": [{"sku": sku, "quantity": quantity}]})
    assert resp.status_code == 201, resp.text
    return oid


async def stock(client: httpx.AsyncClient, sku: str) -> tuple[int, int, int]:
    body = (await client.get(f"/products/{sku}")).json()
    assert body["on_hand"] == body["available"] + body["reserved"]
    return body["on_hand"], body["available"], body["reserved"]


def held(resp: httpx.Response, sku: str) -> int:
    return sum(line["quantity"] for line in resp.json()["lines"] if line["sku"] == sku)


async def test_write_off_takes_units_out_of_the_reservation_and_on_hand(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=10)
    oid = await reserve(client, sku, 4)
    resp = await client.post(
        f"/reservations/{oid}/write-off", json={"sku": sku, "quantity": 3, "reason": "short pick at A-01-01-1"}
    )
    assert resp.status_code == 200, resp.text
    assert held(resp, sku) == 1
    assert await stock(client, sku) == (7, 6, 1)
    # The last unit too: the line goes away, the reservation stays ACTIVE.
    resp = await client.post(f"/reservations/{oid}/write-off", json={"sku": sku, "quantity": 1, "reason": "short"})
    assert resp.json() == {"order_id": oid, "status": "ACTIVE", "lines": []}
    assert await stock(client, sku) == (6, 6, 0)


async def test_write_off_beyond_what_the_order_holds_is_refused(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=10)
    other = await make_product(client, on_hand=10)
    oid = await reserve(client, sku, 2)
    resp = await client.post(f"/reservations/{oid}/write-off", json={"sku": sku, "quantity": 3, "reason": "x"})
    assert resp.status_code == 409
    assert resp.json()["type"] == "WriteOffExceedsReservation"
    resp = await client.post(f"/reservations/{oid}/write-off", json={"sku": other, "quantity": 1, "reason": "x"})
    assert resp.json()["type"] == "WriteOffExceedsReservation"
    assert await stock(client, sku) == (10, 8, 2)


async def test_top_up_and_release_units_move_between_available_and_reserved(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=10)
    oid = await reserve(client, sku, 2)
    resp = await client.post(f"/reservations/{oid}/top-up", json={"sku": sku, "quantity": 5})
    assert resp.status_code == 200, resp.text
    assert held(resp, sku) == 7
    assert await stock(client, sku) == (10, 3, 7)
    resp = await client.post(f"/reservations/{oid}/release-units", json={"sku": sku, "quantity": 4})
    assert held(resp, sku) == 3
    assert await stock(client, sku) == (10, 7, 3)
    resp = await client.post(f"/reservations/{oid}/release-units", json={"sku": sku, "quantity": 3})
    assert resp.json()["lines"] == []
    assert await stock(client, sku) == (10, 10, 0)
    # A SKU the order never held can be topped up: a new line.
    other = await make_product(client, on_hand=2)
    resp = await client.post(f"/reservations/{oid}/top-up", json={"sku": other, "quantity": 2})
    assert held(resp, other) == 2
    assert await stock(client, other) == (2, 0, 2)


async def test_top_up_beyond_available_is_out_of_stock(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=3)
    oid = await reserve(client, sku, 2)
    resp = await client.post(f"/reservations/{oid}/top-up", json={"sku": sku, "quantity": 2})
    assert resp.status_code == 409
    assert resp.json() | {"detail": ""} == {
        "type": "OutOfStock",
        "detail": "",
        "sku": sku,
        "requested": 2,
        "available": 1,
    }
    assert await stock(client, sku) == (3, 1, 2)


async def test_release_units_beyond_held_is_refused(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=3)
    oid = await reserve(client, sku, 2)
    resp = await client.post(f"/reservations/{oid}/release-units", json={"sku": sku, "quantity": 3})
    assert resp.status_code == 409
    assert resp.json()["type"] == "ReleaseExceedsReservation"
    assert await stock(client, sku) == (3, 1, 2)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("write-off", {"quantity": 1, "reason": "x"}),
        ("top-up", {"quantity": 1}),
        ("release-units", {"quantity": 1}),
    ],
)
async def test_adjusting_a_reservation_that_is_not_active_is_refused(
    client: httpx.AsyncClient, path: str, body: dict[str, object]
) -> None:
    sku = await make_product(client, on_hand=5)
    released, committed = await reserve(client, sku, 1), await reserve(client, sku, 1)
    await client.post(f"/reservations/{released}/release")
    await client.post(f"/reservations/{committed}/commit")
    before = await stock(client, sku)
    for oid, status in ((released, "RELEASED"), (committed, "COMMITTED")):
        resp = await client.post(f"/reservations/{oid}/{path}", json={"sku": sku, **body})
        assert resp.status_code == 409
        assert resp.json()["type"] == "ReservationNotActive"
        assert resp.json()["status"] == status
    missing = await client.post(f"/reservations/{uuid.uuid4().hex}/{path}", json={"sku": sku, **body})
    assert missing.status_code == 404
    assert await stock(client, sku) == before


async def test_commit_after_a_write_off_commits_what_is_held(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=10)
    oid = await reserve(client, sku, 5)
    await client.post(f"/reservations/{oid}/write-off", json={"sku": sku, "quantity": 2, "reason": "short"})
    resp = await client.post(f"/reservations/{oid}/commit")
    assert resp.json()["status"] == "COMMITTED"
    assert held(resp, sku) == 3
    assert await stock(client, sku) == (5, 5, 0)


async def test_adjustment_with_idempotency_key_happens_once(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=10)
    oid = await reserve(client, sku, 5)
    headers = {"Idempotency-Key": f"order-{oid}:write_off:t1"}
    body = {"sku": sku, "quantity": 2, "reason": "short"}
    first = await client.post(f"/reservations/{oid}/write-off", json=body, headers=headers)
    second = await client.post(f"/reservations/{oid}/write-off", json=body, headers=headers)
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await stock(client, sku) == (8, 5, 3)


async def test_stock_totals_list_every_sku(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=7)
    await reserve(client, sku, 3)
    totals = (await client.get("/stock/totals")).json()
    assert {"sku": sku, "on_hand": 7, "available": 4, "reserved": 3} in totals
    assert [t["sku"] for t in totals] == sorted(t["sku"] for t in totals)


async def test_dimensions_are_optional_on_put_and_kept(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=1)
    body = (await client.get(f"/products/{sku}")).json()
    assert (body["weight_grams"], body["volume_cm3"]) == (0, 0)
    await client.put(
        f"/products/{sku}",
        json={"name": "Mug", "price_cents": 1, "on_hand": 1, "weight_grams": 350, "volume_cm3": 1200},
    )
    await client.put(f"/products/{sku}", json={"name": "Mug", "price_cents": 2, "on_hand": 1})
    body = (await client.get(f"/products/{sku}")).json()
    assert (body["weight_grams"], body["volume_cm3"]) == (350, 1200)
    bad = await client.put(f"/products/{sku}", json={"name": "Mug", "price_cents": 2, "on_hand": 1, "weight_grams": -1})
    assert bad.status_code == 422


async def test_seed_gives_every_demo_sku_its_dimensions(database_url: str) -> None:
    async with rolled_back_client(create_app, "inventory", database_url) as (client, sessions):
        async with sessions() as session:
            await seed(session)
        for sku in DEMO_PRODUCTS:
            body = (await client.get(f"/products/{sku}")).json()
            assert body["weight_grams"] > 0, sku
            assert body["volume_cm3"] > 0, sku

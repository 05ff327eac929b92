"""Returns after a failed delivery: issued units come back into on_hand and available, once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.inventory.app import create_app
from tests.conftest import FreshDatabase, ServiceDatabases
from tests.services.inventory.test_adjustments import make_product, stock
from tests.support import committing_client, rolled_back_client


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["inventory"]


@pytest.fixture
async def pair(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]]]:
    async with rolled_back_client(create_app, "inventory", database_url) as pair:
        yield pair


@pytest.fixture
def client(pair: tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]]) -> httpx.AsyncClient:
    return pair[0]


async def reserve(client: httpx.AsyncClient, lines: dict[str, int]) -> str:
    oid = uuid.uuid4().hex[:16]
    body = {"order_id": oid, "lines": [{"sku": sku, "quantity": q} for sku, q in lines.items()]}
    resp = await client.post("/reservations", json=body)
    assert resp.status_code == 201, resp.text
    return oid


async def issued(client: httpx.AsyncClient, lines: dict[str, int]) -> str:
    """An order whose reservation of ``lines`` was committed (goods issue)."""
    oid = await reserve(client, lines)
    resp = await client.post(f"/reservations/{oid}/commit")
    assert resp.json()["status"] == "COMMITTED", resp.text
    return oid


async def give_back(
    client: httpx.AsyncClient, oid: str, lines: list[tuple[str, int]], **headers: str
) -> httpx.Response:
    body = {"lines": [{"sku": sku, "quantity": q} for sku, q in lines]}
    return await client.post(f"/reservations/{oid}/return", json=body, headers=headers)


async def test_a_return_puts_the_issued_units_back(client: httpx.AsyncClient) -> None:
    mug, pen = await make_product(client, on_hand=10), await make_product(client, on_hand=5)
    oid = await issued(client, {mug: 3, pen: 2})
    assert await stock(client, mug) == (7, 7, 0)
    resp = await give_back(client, oid, [(mug, 3), (pen, 2)])
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "order_id": oid,
        "status": "RETURNED",
        "lines": [{"sku": sku, "quantity": q} for sku, q in sorted({mug: 3, pen: 2}.items())],
    }
    assert await stock(client, mug) == (10, 10, 0)
    assert await stock(client, pen) == (5, 5, 0)
    assert (await client.get(f"/reservations/{oid}")).json()["status"] == "RETURNED"


async def test_a_partial_return_and_lines_of_one_sku_add_up(client: httpx.AsyncClient) -> None:
    mug, pen = await make_product(client, on_hand=10), await make_product(client, on_hand=5)
    oid = await issued(client, {mug: 4, pen: 2})
    resp = await give_back(client, oid, [(mug, 1), (mug, 2)])
    assert resp.json()["status"] == "RETURNED"
    assert await stock(client, mug) == (9, 9, 0)
    assert await stock(client, pen) == (3, 3, 0)


async def test_other_orders_reservations_are_left_alone(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=10)
    oid = await issued(client, {sku: 3})
    await reserve(client, {sku: 4})
    assert await stock(client, sku) == (7, 3, 4)
    await give_back(client, oid, [(sku, 3)])
    assert await stock(client, sku) == (10, 6, 4)


async def test_a_repeat_answers_the_returned_reservation_unchanged(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=10)
    oid = await issued(client, {sku: 3})
    first = await give_back(client, oid, [(sku, 3)])
    again = await give_back(client, oid, [(sku, 3)])
    assert (again.status_code, again.json()) == (200, first.json())
    # Whatever the repeat names: the units came back once.
    other = await give_back(client, oid, [(sku, 1)])
    assert (other.status_code, other.json()) == (200, first.json())
    assert await stock(client, sku) == (10, 10, 0)


async def test_a_return_replays_under_its_key(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=10)
    oid = await issued(client, {sku: 3})
    key = {"Idempotency-Key": f"order-{oid}:inventory-return"}
    first = await give_back(client, oid, [(sku, 3)], **key)
    replay = await give_back(client, oid, [(sku, 3)], **key)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    reused = await give_back(client, oid, [(sku, 2)], **key)
    assert (reused.status_code, reused.json()["type"]) == (409, "IdempotencyKeyReused")
    assert await stock(client, sku) == (10, 10, 0)


async def test_more_than_issued_is_refused_and_changes_nothing(client: httpx.AsyncClient) -> None:
    mug, pen = await make_product(client, on_hand=10), await make_product(client, on_hand=10)
    oid = await issued(client, {mug: 3})
    for lines, sku, requested, was_issued in (
        ([(mug, 4)], mug, 4, 3),
        ([(mug, 2), (mug, 2)], mug, 4, 3),
        # A SKU of the catalogue the order never had: nothing of it was issued.
        ([(mug, 1), (pen, 1)], pen, 1, 0),
    ):
        resp = await give_back(client, oid, lines)
        assert resp.status_code == 409, resp.text
        body = resp.json()
        assert (body["type"], body["sku"], body["requested"], body["issued"]) == (
            "ReturnExceedsIssued",
            sku,
            requested,
            was_issued,
        )
    assert await stock(client, mug) == (7, 7, 0)
    assert await stock(client, pen) == (10, 10, 0)
    assert (await client.get(f"/reservations/{oid}")).json()["status"] == "COMMITTED"
    # Refused returns leave the way open for the right one.
    assert (await give_back(client, oid, [(mug, 3)])).json()["status"] == "RETURNED"


async def test_unknown_sku_is_422_and_changes_nothing(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=10)
    oid = await issued(client, {sku: 3})
    resp = await give_back(client, oid, [(sku, 3), ("NO-SUCH-SKU", 1)])
    assert resp.status_code == 422, resp.text
    assert (resp.json()["type"], resp.json()["skus"]) == ("UnknownSku", ["NO-SUCH-SKU"])
    assert await stock(client, sku) == (7, 7, 0)
    assert (await client.get(f"/reservations/{oid}")).json()["status"] == "COMMITTED"


@pytest.mark.parametrize(
    "body",
    [
        {"lines": []},
        {"lines": [{"sku": "MUG-RED", "quantity": 0}]},
        {"lines": [{"sku": "MUG-RED", "quantity": -1}]},
        {"lines": [{"sku": "mug red", "quantity": 1}]},
        {"lines": [{"sku": "MUG-RED", "quantity": "1"}]},
        {"lines": [{"sku": "MUG-RED", "quantity": 1}], "extra": True},
        {},
    ],
)
async def test_bad_return_bodies_are_422(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    resp = await client.post("/reservations/any-order/return", json=body)
    assert resp.status_code == 422
    assert resp.json()["type"] == "ValidationError"


async def test_only_a_committed_reservation_takes_a_return(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=10)
    active = await reserve(client, {sku: 2})
    released = await reserve(client, {sku: 1})
    await client.post(f"/reservations/{released}/release")
    for oid, status in ((active, "ACTIVE"), (released, "RELEASED")):
        resp = await give_back(client, oid, [(sku, 1)])
        assert resp.status_code == 409, resp.text
        assert (resp.json()["type"], resp.json()["status"]) == ("ReservationNotCommitted", status)
    assert await stock(client, sku) == (10, 8, 2)
    missing = await give_back(client, "never-reserved", [(sku, 1)])
    assert (missing.status_code, missing.json()["type"]) == (404, "ReservationNotFound")


async def test_a_returned_reservation_is_final(client: httpx.AsyncClient) -> None:
    sku = await make_product(client, on_hand=10)
    oid = await issued(client, {sku: 3})
    await give_back(client, oid, [(sku, 3)])
    # Late repeats of the earlier steps hold or take nothing again.
    for step in ("release", "commit"):
        resp = await client.post(f"/reservations/{oid}/{step}")
        assert (resp.status_code, resp.json()["status"]) == (200, "RETURNED")
    for op, body in (("top-up", {"sku": sku, "quantity": 1}), ("release-units", {"sku": sku, "quantity": 1})):
        resp = await client.post(f"/reservations/{oid}/{op}", json=body)
        assert (resp.status_code, resp.json()["type"], resp.json()["status"]) == (
            409,
            "ReservationNotActive",
            "RETURNED",
        )
    again = await client.post("/reservations", json={"order_id": oid, "lines": [{"sku": sku, "quantity": 3}]})
    assert again.json()["status"] == "RETURNED"
    assert await stock(client, sku) == (10, 10, 0)


async def test_the_database_keeps_returns_within_what_was_issued(
    pair: tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]],
) -> None:
    client, sessions = pair
    sku = await make_product(client, on_hand=10)
    oid = await issued(client, {sku: 3})
    for statement in (
        "UPDATE reservation_lines SET returned = quantity + 1 WHERE order_id = :oid",
        "UPDATE reservation_lines SET returned = -1 WHERE order_id = :oid",
        "UPDATE reservations SET status = 'LOST' WHERE order_id = :oid",
    ):
        async with sessions() as session:
            try:
                async with session.begin():
                    await session.exec(text(statement).bindparams(oid=oid))  # type: ignore[call-overload]
            except IntegrityError:
                pass
            else:
                raise AssertionError(f"the database accepted: {statement}")


async def test_returns_at_once_count_once(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("inventory")
    async with committing_client(create_app, "inventory", url) as client:
        sku = await make_product(client, on_hand=10)
        oid = await issued(client, {sku: 3})
        results = await asyncio.gather(*(give_back(client, oid, [(sku, 3)]) for _ in range(6)))
        assert {r.status_code for r in results} == {200}
        assert {r.json()["status"] for r in results} == {"RETURNED"}
        assert await stock(client, sku) == (10, 10, 0)

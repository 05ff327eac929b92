"""Orders: the ERP's document number rides on the move to AWAITING_WAVE, set once; migration 0004 down and up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from common import migrations
from common.settings import asyncpg_url
from services.orders.app import create_app
from tests.conftest import FreshDatabase, ServiceDatabases
from tests.services.orders.test_orders import create, move
from tests.support import committing_client, rolled_back_client

NUMBER = "0000500001"


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["orders"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "orders", database_url) as (client, _):
        yield client


async def authorized(client: httpx.AsyncClient) -> str:
    order_id: str = (await create(client))["order_id"]
    for status in ("RESERVED", "PAYMENT_AUTHORIZED"):
        assert (await move(client, order_id, status)).status_code == 200
    return order_id


async def await_wave(client: httpx.AsyncClient, order_id: str, number: Any, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post(
        f"/orders/{order_id}/transition",
        json={"status": "AWAITING_WAVE", "erp_document_number": number},
        headers=headers,
    )


async def order(client: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/orders/{order_id}")).json()
    return body


async def test_the_number_is_null_until_the_order_awaits_its_wave_and_then_shown(client: httpx.AsyncClient) -> None:
    created = await create(client)
    assert created["erp_document_number"] is None
    order_id = await authorized(client)
    assert (await order(client, order_id))["erp_document_number"] is None
    key = f"order-{order_id}:status:AWAITING_WAVE"
    moved = await await_wave(client, order_id, NUMBER, key=key)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["status"], moved.json()["erp_document_number"]) == ("AWAITING_WAVE", NUMBER)
    got = await order(client, order_id)
    assert (got["status"], got["erp_document_number"]) == ("AWAITING_WAVE", NUMBER)
    assert [h["to_status"] for h in got["history"]][-1] == "AWAITING_WAVE"
    replay = await await_wave(client, order_id, NUMBER, key=key)
    assert (replay.headers["Idempotent-Replayed"], replay.json()) == ("true", moved.json())
    # It stays with the order through the floor, and through a cancel.
    for status in ("PICKING", "PACKED"):
        assert (await move(client, order_id, status)).json()["erp_document_number"] == NUMBER
    cancelled = await client.post(f"/orders/{order_id}/cancel", json={"reason": "CUSTOMER_CANCELLED"})
    assert (cancelled.json()["status"], cancelled.json()["erp_document_number"]) == ("CANCELLED", NUMBER)
    listed = (await client.get("/orders", params={"customer_id": "alice", "limit": 500})).json()["items"]
    assert next(o for o in listed if o["order_id"] == order_id)["erp_document_number"] == NUMBER


async def test_the_same_number_again_is_a_no_op_and_another_one_a_409(client: httpx.AsyncClient) -> None:
    order_id = await authorized(client)
    assert (await await_wave(client, order_id, NUMBER)).status_code == 200
    before = await order(client, order_id)
    again = await await_wave(client, order_id, NUMBER)
    assert (again.status_code, again.json()["erp_document_number"]) == (200, NUMBER)
    other = await await_wave(client, order_id, "0000500002")
    assert other.status_code == 409
    assert (other.json()["type"], other.json()["erp_document_number"]) == ("ErpDocumentMismatch", NUMBER)
    # Without a number the move repeats as before, and the number stays.
    bare = await move(client, order_id, "AWAITING_WAVE")
    assert (bare.status_code, bare.json()["erp_document_number"]) == (200, NUMBER)
    assert await order(client, order_id) == before


async def test_an_order_moved_without_a_number_takes_the_first_one_given(client: httpx.AsyncClient) -> None:
    order_id = await authorized(client)
    assert (await move(client, order_id, "AWAITING_WAVE")).json()["erp_document_number"] is None
    late = await await_wave(client, order_id, NUMBER)
    assert (late.status_code, late.json()["erp_document_number"]) == (200, NUMBER)
    assert len((await order(client, order_id))["history"]) == 4  # no second AWAITING_WAVE change
    assert (await await_wave(client, order_id, "0000500002")).json()["type"] == "ErpDocumentMismatch"


@pytest.mark.parametrize("status", ["RESERVED", "PAYMENT_AUTHORIZED", "PICKING", "SHIPPED"])
async def test_the_number_goes_only_with_awaiting_wave(client: httpx.AsyncClient, status: str) -> None:
    order_id = (await create(client))["order_id"]
    resp = await client.post(f"/orders/{order_id}/transition", json={"status": status, "erp_document_number": NUMBER})
    assert resp.status_code == 422
    assert (await order(client, order_id))["status"] == "PENDING"


@pytest.mark.parametrize("number", ["", "00005000011", "0000-50001", "abc", 500001, None])
async def test_a_number_that_is_not_one_is_422(client: httpx.AsyncClient, number: Any) -> None:
    order_id = await authorized(client)
    resp = await await_wave(client, order_id, number)
    if number is None:  # null is the same as leaving it out
        assert (resp.status_code, resp.json()["erp_document_number"]) == (200, None)
        return
    assert resp.status_code == 422
    assert (await order(client, order_id))["status"] == "PAYMENT_AUTHORIZED"


async def test_the_move_to_awaiting_wave_is_still_one_legal_step(client: httpx.AsyncClient) -> None:
    order_id = (await create(client))["order_id"]
    resp = await await_wave(client, order_id, NUMBER)
    assert (resp.status_code, resp.json()["type"]) == (409, "IllegalTransition")
    assert (await order(client, order_id))["erp_document_number"] is None


async def test_migration_0004_goes_down_and_up_with_numbers_stored(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("orders")
    async with committing_client(create_app, "orders", url) as client:
        order_id = await authorized(client)
        assert (await await_wave(client, order_id, NUMBER)).status_code == 200

    await asyncio.to_thread(migrations.downgrade, "orders", url, "0003")
    conn = await asyncpg.connect(asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        status = await conn.fetchval("SELECT status FROM orders WHERE order_id = $1", order_id)
        columns = await conn.fetch("SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'")
    finally:
        await conn.close()
    assert status == "AWAITING_WAVE"
    assert "erp_document_number" not in {c["column_name"] for c in columns}

    await asyncio.to_thread(migrations.upgrade, "orders", url)
    async with committing_client(create_app, "orders", url) as client:
        assert (await order(client, order_id))["erp_document_number"] is None
        assert (await await_wave(client, order_id, NUMBER)).json()["erp_document_number"] == NUMBER

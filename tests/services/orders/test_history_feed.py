"""``GET /history``: every order's changes in commit order, after a cursor, long-polled on LISTEN/NOTIFY.

Real commits on a fresh database (a reader only hands out rows of ended
transactions, so the rolled-back client of the other tests would see none).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from common import migrations
from common.db import create_engine
from common.settings import ServiceSettings
from services.orders.api import close_history_bell
from services.orders.app import create_app
from tests.conftest import FreshDatabase
from tests.services.orders.test_orders import create, move
from tests.support import committing_client, service_credential


@dataclass
class Orders:
    client: httpx.AsyncClient
    app: FastAPI
    dsn: str

    async def head(self) -> str:
        resp = await self.client.get("/history")
        assert resp.status_code == 200, resp.text
        assert resp.json()["items"] == []
        cursor: str = resp.json()["next"]
        return cursor

    async def after(self, cursor: str, **params: Any) -> dict[str, Any]:
        resp = await self.client.get("/history", params={"after": cursor, **params}, timeout=60)
        assert resp.status_code == 200, resp.text
        page: dict[str, Any] = resp.json()
        return page

    async def waiting(self, count: int) -> None:
        """Return once ``count`` reads wait on the bell (looked, found nothing, now waiting)."""
        for _ in range(500):
            bell = getattr(self.app.state, "history_bell", None)
            if bell is not None and bell.waiting == count:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{count} reads never waited")


@asynccontextmanager
async def history_app(url: str) -> AsyncIterator[Orders]:
    """The orders service on ``url`` with real commits; its LISTEN connection closed afterwards."""
    settings = ServiceSettings(service="orders", database_url=url, environment="test")
    app = create_app(settings)
    engine = create_engine(url, pool_size=5)
    app.state.engine = engine
    app.state.sessionmaker = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://orders", headers=service_credential(settings)
        ) as client:
            yield Orders(client, app, url.replace("postgresql+asyncpg://", "postgresql://", 1))
    finally:
        await close_history_bell(app)
        await engine.dispose()


@pytest.fixture
async def orders(fresh_database: FreshDatabase) -> AsyncIterator[Orders]:
    async with history_app(await fresh_database("orders")) as app:
        yield app


def trail(page: dict[str, Any]) -> list[tuple[str, str]]:
    return [(item["order_id"], item["to_status"]) for item in page["items"]]


async def test_without_a_cursor_it_answers_now_and_then_each_later_change_with_its_order(orders: Orders) -> None:
    before = await create(orders.client, customer_id="carol")
    head = await orders.head()
    assert (await orders.after(head))["items"] == []  # what committed before "now" is not handed out again
    later = await create(orders.client, customer_id="dave")
    assert (await move(orders.client, before["order_id"], "RESERVED")).status_code == 200
    page = await orders.after(head)
    assert trail(page) == [(later["order_id"], "PENDING"), (before["order_id"], "RESERVED")]
    first, second = page["items"]
    assert (first["customer_id"], first["seq"], first["from_status"]) == ("dave", 1, None)
    assert (second["customer_id"], second["seq"], second["from_status"]) == ("carol", 2, "PENDING")
    assert page["next"] == second["cursor"]
    # Paging by the cursor: one at a time, the same order.
    one = await orders.after(head, limit=1)
    assert trail(one) == trail(page)[:1]
    assert trail(await orders.after(one["next"])) == trail(page)[1:]


async def test_a_waiting_read_wakes_at_the_insert(orders: Orders) -> None:
    head = await orders.head()
    reading = asyncio.create_task(orders.after(head, wait_seconds=20))
    await orders.waiting(1)  # it looked, found nothing and waits on the notification
    order = await create(orders.client)
    page = await reading
    assert trail(page) == [(order["order_id"], "PENDING")]


async def test_a_wait_that_ends_empty_answers_the_same_cursor(orders: Orders) -> None:
    head = await orders.head()
    page = await orders.after(head, wait_seconds=0.2)
    assert page == {"items": [], "next": head}


async def _history_row(db: asyncpg.Connection, order_id: str, status: str) -> int:
    row_id: int = await db.fetchval(
        "INSERT INTO order_status_history (order_id, from_status, to_status, at)"
        " VALUES ($1, 'PENDING', $2, $3) RETURNING id",
        order_id,
        status,
        datetime.now(UTC),
    )
    return row_id


@pytest.mark.parametrize("waiting", [False, True], ids=["read-again", "long-poll"])
async def test_a_change_committed_after_a_later_one_is_not_skipped(orders: Orders, waiting: bool) -> None:
    order = await create(orders.client)
    head = await orders.head()
    slow, fast = await asyncpg.connect(orders.dsn), await asyncpg.connect(orders.dsn)
    try:
        slow_tx = slow.transaction()
        await slow_tx.start()
        early_id = await _history_row(slow, order["order_id"], "RESERVED")  # the lower id, committed last
        async with fast.transaction():
            late_id = await _history_row(fast, order["order_id"], "PICKING")
        assert late_id > early_id
        reading = asyncio.create_task(orders.after(head, wait_seconds=20)) if waiting else None
        if reading is None:
            # Committed, but behind a transaction still open: not handed out yet (else 11 would be skipped).
            assert (await orders.after(head))["items"] == []
        else:
            await orders.waiting(1)
        await slow_tx.commit()
        page = await reading if reading is not None else await orders.after(head)
    finally:
        await slow.close()
        await fast.close()
    assert [item["to_status"] for item in page["items"]] == ["RESERVED", "PICKING"]
    assert [int(item["cursor"].split(".")[1]) for item in page["items"]] == [early_id, late_id]
    assert (await orders.after(page["next"]))["items"] == []


async def test_rows_written_before_the_migration_come_first_in_id_order(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("orders")
    await asyncio.to_thread(migrations.downgrade, "orders", url, "0005")
    async with committing_client(create_app, "orders", url) as client:
        old = await create(client)
        assert (await move(client, old["order_id"], "RESERVED")).status_code == 200
    await asyncio.to_thread(migrations.upgrade, "orders", url)
    async with history_app(url) as orders:
        assert (await move(orders.client, old["order_id"], "PAYMENT_AUTHORIZED")).status_code == 200
        page = await orders.after("0.0")
    assert [(item["cursor"].split(".")[0] == "0", item["to_status"]) for item in page["items"]] == [
        (True, "PENDING"),
        (True, "RESERVED"),
        (False, "PAYMENT_AUTHORIZED"),
    ]
    assert [item["seq"] for item in page["items"]] == [1, 2, 3]


@pytest.mark.parametrize("cursor", ["abc", "12", "1.2.3", "-1.2", f"{2**64}.1", f"1.{2**63}", "1.2 "])
async def test_a_malformed_cursor_is_422_invalid_cursor(orders: Orders, cursor: str) -> None:
    resp = await orders.client.get("/history", params={"after": cursor, "wait_seconds": 5})
    assert resp.status_code == 422, resp.text
    assert resp.json()["type"] == "InvalidCursor"


async def test_bounds_of_the_query_are_422(orders: Orders) -> None:
    for params in ({"after": "1" * 42}, {"limit": 0}, {"limit": 501}, {"wait_seconds": 31}, {"wait_seconds": -1}):
        resp = await orders.client.get("/history", params=params)
        assert resp.status_code == 422, (params, resp.text)
        assert set(resp.json()) >= {"type", "detail"}

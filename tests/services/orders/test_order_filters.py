"""``GET /orders`` filters: the cancel ``reason`` and the time placed (``since`` / ``until``), in SQL.

They combine with ``customer_id``, ``status`` and the cursor walk: a walk
with filters sees each matching order once, and the total counts the matches.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.orders.app import create_app
from services.orders.models import Order
from tests.conftest import ServiceDatabases
from tests.services.orders.test_orders import create
from tests.support import rolled_back_client

T0 = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["orders"]  # made outside the event loop (the fixture runs its own)


@pytest.fixture
async def orders(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]]]:
    async with rolled_back_client(create_app, "orders", database_url) as pair:
        yield pair


async def placed_at(sessions: async_sessionmaker[AsyncSession], order_id: str, at: datetime) -> None:
    """Back-date an order (orders are stamped with the time they are created)."""
    async with sessions() as session, session.begin():
        await session.exec(update(Order).where(col(Order.order_id) == order_id).values(created_at=at))


async def seed(client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], customer: str) -> dict[str, str]:
    """Six orders of one customer an hour apart (a = T0 ... f = T0+5h); b, d, e cancelled for reasons."""
    ids: dict[str, str] = {}
    for hour, name in enumerate("abcdef"):
        ids[name] = (await create(client, customer_id=customer))["order_id"]
        await placed_at(sessions, ids[name], T0 + timedelta(hours=hour))
    for name, reason in (("b", "PAYMENT_DECLINED"), ("d", "OUT_OF_STOCK"), ("e", "PAYMENT_DECLINED")):
        resp = await client.post(f"/orders/{ids[name]}/cancel", json={"reason": reason})
        assert resp.status_code == 200, resp.text
    return ids


async def listed(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    resp = await client.get("/orders", params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def names(ids: dict[str, str], page: dict[str, Any]) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[o["order_id"]] for o in page["items"]]


async def test_reason_filters_cancelled_orders_and_combines_with_status(
    orders: tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]],
) -> None:
    client, sessions = orders
    customer = f"c-{uuid.uuid4().hex[:8]}"
    ids = await seed(client, sessions, customer)
    declined = await listed(client, customer_id=customer, reason="PAYMENT_DECLINED")
    assert (names(ids, declined), declined["total"]) == (["e", "b"], 2)
    both = await listed(client, customer_id=customer, reason="OUT_OF_STOCK", status="CANCELLED")
    assert names(ids, both) == ["d"]
    assert (await listed(client, customer_id=customer, reason="OUT_OF_STOCK", status="PENDING"))["total"] == 0


async def test_since_is_inclusive_and_until_exclusive(
    orders: tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]],
) -> None:
    client, sessions = orders
    customer = f"c-{uuid.uuid4().hex[:8]}"
    ids = await seed(client, sessions, customer)
    window = {"since": (T0 + timedelta(hours=1)).isoformat(), "until": (T0 + timedelta(hours=4)).isoformat()}
    page = await listed(client, customer_id=customer, **window)
    assert (names(ids, page), page["total"]) == (["d", "c", "b"], 3)
    # The same instant in another zone is the same bound.
    berlin = (T0 + timedelta(hours=4)).astimezone(timezone(timedelta(hours=1)))
    assert names(ids, await listed(client, customer_id=customer, until=berlin.isoformat())) == ["d", "c", "b", "a"]
    assert names(ids, await listed(client, customer_id=customer, since=window["until"])) == ["f", "e"]
    declined = await listed(client, customer_id=customer, reason="PAYMENT_DECLINED", **window)
    assert names(ids, declined) == ["b"]


async def test_a_cursor_walk_with_filters_sees_each_match_once(
    orders: tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]],
) -> None:
    client, sessions = orders
    customer = f"c-{uuid.uuid4().hex[:8]}"
    ids = await seed(client, sessions, customer)
    params: dict[str, Any] = {
        "customer_id": customer,
        "status": "CANCELLED",
        "since": (T0 + timedelta(hours=1)).isoformat(),
        "until": (T0 + timedelta(hours=5)).isoformat(),
        "limit": 1,
    }
    seen: list[str] = []
    while True:
        page = await listed(client, **params)
        if not seen:
            assert page["total"] == 3
        seen += names(ids, page)
        # A new matching order placed meanwhile (inside the window) is not seen by the walk.
        late = (await create(client, customer_id=customer))["order_id"]
        await client.post(f"/orders/{late}/cancel", json={"reason": "OUT_OF_STOCK"})
        await placed_at(sessions, late, T0 + timedelta(hours=4, minutes=30))
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == ["e", "d", "b"]


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        ({"since": "2031-03-01T12:00:00+00:00", "until": "2031-03-01T12:00:00+00:00"}, "InvalidTimeRange"),
        ({"since": "2031-03-02T00:00:00Z", "until": "2031-03-01T00:00:00Z"}, "InvalidTimeRange"),
        ({"since": "2031-03-01T12:00:00"}, "ValidationError"),
        ({"until": "yesterday"}, "ValidationError"),
        ({"reason": "BORED"}, "ValidationError"),
        ({"until": "0.5"}, "ValidationError"),  # not read as a Unix time
        ({"since": "1700000000"}, "ValidationError"),
    ],
)
async def test_bad_filters_are_422(
    orders: tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]], params: dict[str, str], kind: str
) -> None:
    client, _ = orders
    resp = await client.get("/orders", params=params)
    assert resp.status_code == 422, resp.text
    assert resp.json()["type"] == kind

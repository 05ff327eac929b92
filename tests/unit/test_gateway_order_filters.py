"""``GET /api/orders`` with ``reason``, ``since`` and ``until`` through the gateway and the real orders service.

The orders service runs over ASGI on its migrated test database, every write
rolled back after the test; orders are written through its API (as the
workflow's steps write them) and back-dated in the database.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from common.db import create_engine
from common.security import TokenIssuer, TokenVerifier
from common.settings import ServiceSettings
from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.settings import GatewaySettings
from services.orders.app import create_app as create_orders_app
from services.orders.models import Order
from tests.conftest import ServiceDatabases
from tests.services.orders.test_orders import new_order
from tests.support import service_credential

SECRET = secrets.token_urlsafe(48)
T0 = datetime(2031, 5, 1, 8, 0, tzinfo=UTC)


@dataclass
class Door:
    http: httpx.AsyncClient
    orders: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]
    tokens: dict[str, str]
    orders_calls: list[httpx.URL]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def place(self, customer: str, hours: int, reason: str | None = None) -> str:
        """An order of ``customer`` placed ``hours`` after T0, cancelled for ``reason`` if given."""
        resp = await self.orders.post("/orders", json=new_order(customer_id=customer))
        assert resp.status_code == 201, resp.text
        order_id: str = resp.json()["order_id"]
        if reason is not None:
            cancelled = await self.orders.post(f"/orders/{order_id}/cancel", json={"reason": reason})
            assert cancelled.status_code == 200, cancelled.text
        async with self.sessions() as session, session.begin():
            await session.exec(
                update(Order).where(col(Order.order_id) == order_id).values(created_at=T0 + timedelta(hours=hours))
            )
        return order_id

    async def list(self, user: str, **params: Any) -> httpx.Response:
        return await self.http.get("/api/orders", params=params, headers=self.auth(user))


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["orders"]


@pytest.fixture
async def door(database_url: str) -> AsyncIterator[Door]:
    orders_settings = ServiceSettings(service="orders", database_url=database_url, environment="test")
    orders_app = create_orders_app(orders_settings)
    engine = create_engine(database_url, pool_size=2)
    calls: list[httpx.URL] = []

    async def seen(request: httpx.Request) -> None:
        if request.url.path == "/orders" and request.method == "GET":
            calls.append(request.url)

    async with engine.connect() as connection:
        outer = await connection.begin()
        sessions = async_sessionmaker(
            bind=connection, class_=AsyncSession, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        orders_app.state.engine = engine
        orders_app.state.sessionmaker = sessions
        settings = GatewaySettings(jwt_secret=SECRET, orders_url="http://orders.test")
        upstream = httpx.AsyncClient(
            mounts={"http://orders.test": httpx.ASGITransport(app=orders_app)}, event_hooks={"request": [seen]}
        )
        app = create_app(settings)
        app.state.clients = ServiceClients(upstream, settings)
        app.state.verifier = TokenVerifier(secret=SECRET)
        issuer = TokenIssuer(secret=SECRET)
        tokens = {
            name: issuer.issue(username=name, user_id=f"u-{name}", role=role, email=f"{name}@example.com", name=name)
            for name, role in (("alice", "customer"), ("bob", "customer"), ("olivia", "operator"))
        }
        try:
            async with (
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http,
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=orders_app),
                    base_url="http://orders",
                    headers=service_credential(orders_settings),
                ) as orders,
            ):
                yield Door(http, orders, sessions, tokens, calls)
        finally:
            await upstream.aclose()
            await outer.rollback()
    await engine.dispose()


def ids(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [o["order_id"] for o in resp.json()["items"]]


async def test_an_operator_filters_by_reason_and_time_in_one_query(door: Door) -> None:
    alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    a0 = await door.place(alice, 0)
    a1 = await door.place(alice, 1, "PAYMENT_DECLINED")
    b2 = await door.place(bob, 2, "PAYMENT_DECLINED")
    a3 = await door.place(alice, 3, "OUT_OF_STOCK")
    b4 = await door.place(bob, 4, "PAYMENT_DECLINED")
    ours = {a0, a1, b2, a3, b4}
    window = {"since": (T0 + timedelta(hours=1)).isoformat(), "until": (T0 + timedelta(hours=4)).isoformat()}

    declined = await door.list("olivia", reason="PAYMENT_DECLINED", **window, limit=200)
    assert [i for i in ids(declined) if i in ours] == [b2, a1]
    # The filters reach the orders service (it filters in SQL), not a page filtered afterwards.
    sent = door.orders_calls[-1].params
    assert (sent["reason"], sent["since"], sent["until"]) == (
        "PAYMENT_DECLINED",
        "2031-05-01T09:00:00+00:00",
        "2031-05-01T12:00:00+00:00",
    )
    just_alice = await door.list("olivia", reason="PAYMENT_DECLINED", customer_id=alice, **window)
    assert (ids(just_alice), just_alice.json()["total"]) == ([a1], 1)
    cancelled = await door.list("olivia", status="CANCELLED", customer_id=alice)
    assert ids(cancelled) == [a3, a1]


async def test_a_cursor_walk_with_filters_sees_each_match_once(door: Door) -> None:
    customer = f"c-{uuid.uuid4().hex[:6]}"
    matching = [await door.place(customer, hour, "OUT_OF_STOCK") for hour in range(5)]
    await door.place(customer, 2, "PAYMENT_DECLINED")
    await door.place(customer, 6, "OUT_OF_STOCK")  # after until
    params: dict[str, Any] = {
        "customer_id": customer,
        "reason": "OUT_OF_STOCK",
        "since": T0.isoformat(),
        "until": (T0 + timedelta(hours=5)).isoformat(),
        "limit": 2,
    }
    seen: list[str] = []
    while True:
        resp = await door.list("olivia", **params)
        seen += ids(resp)
        if resp.json()["next_cursor"] is None:
            break
        params["cursor"] = resp.json()["next_cursor"]
    assert seen == matching[::-1]


async def test_a_customer_filters_only_their_own_orders(door: Door) -> None:
    mine = await door.place("alice", 1, "CUSTOMER_CANCELLED")
    theirs = await door.place("bob", 1, "CUSTOMER_CANCELLED")
    window = {"since": T0.isoformat(), "until": (T0 + timedelta(hours=2)).isoformat()}
    # customer_id names someone else: a customer still sees only their own.
    resp = await door.list("alice", reason="CUSTOMER_CANCELLED", customer_id="bob", **window)
    assert mine in ids(resp)
    assert theirs not in ids(resp)
    assert all(o["customer_id"] == "alice" for o in resp.json()["items"])


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        ({"since": "2031-05-01T10:00:00Z", "until": "2031-05-01T10:00:00Z"}, "InvalidTimeRange"),
        ({"since": "2031-05-01T10:00:00+00:00", "until": "2031-05-01T11:00:00+02:00"}, "InvalidTimeRange"),
        ({"since": "2031-05-01T10:00:00"}, "ValidationError"),
        ({"until": "2031-05-01"}, "ValidationError"),
        ({"reason": "BORED"}, "ValidationError"),
        ({"until": "0.5"}, "ValidationError"),  # not read as a Unix time
        ({"since": "1700000000"}, "ValidationError"),
    ],
)
async def test_bad_filters_are_422_and_never_reach_the_service(door: Door, params: dict[str, str], kind: str) -> None:
    resp = await door.list("olivia", **params)
    assert resp.status_code == 422, resp.text
    assert resp.json()["type"] == kind
    assert door.orders_calls == []

"""The operator stream ``GET /api/orders/events`` through the real gateway and the real orders service.

The orders service runs on a fresh PostgreSQL database with real commits
(its history feed hands out only committed changes), reached over ASGI and
wrapped to count the history long-polls it is serving. Orders are written
through its API as the workflow's ``orders.*`` steps write them. The gateway
is served by uvicorn on a free port (an ASGI transport would buffer a stream
until it ends).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.sse import ServerSentEvent
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from common.db import create_engine
from common.security import TokenIssuer, TokenVerifier
from common.settings import ServiceSettings
from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.feed import OrderFeed, Subscription, operator_events
from gateway.settings import GatewaySettings
from services.orders.api import close_history_bell
from services.orders.app import create_app as create_orders_app
from tests.conftest import FreshDatabase
from tests.services.orders.test_orders import new_order
from tests.support import service_credential

SECRET = secrets.token_urlsafe(48)


class LongPolls:
    """The orders service, counting the history long-polls (``wait_seconds`` > 0) it is serving at once."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.in_flight = 0
        self.most = 0
        self.served = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        query = parse_qs(scope.get("query_string", b"").decode()) if scope["type"] == "http" else {}
        if scope["type"] != "http" or scope["path"] != "/history" or float(query.get("wait_seconds", ["0"])[0]) == 0:
            await self.app(scope, receive, send)
            return
        self.in_flight += 1
        self.served += 1
        self.most = max(self.most, self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


@dataclass
class Platform:
    url: str
    http: httpx.AsyncClient
    orders: httpx.AsyncClient
    orders_app: FastAPI
    polls: LongPolls
    app: FastAPI
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    @property
    def feed(self) -> OrderFeed:
        order_feed: OrderFeed = self.app.state.order_feed
        return order_feed

    async def place(self, customer: str) -> str:
        resp = await self.orders.post("/orders", json=new_order(customer_id=customer))
        assert resp.status_code == 201, resp.text
        order_id: str = resp.json()["order_id"]
        return order_id

    async def move(self, order_id: str, status: str) -> None:
        resp = await self.orders.post(f"/orders/{order_id}/transition", json={"status": status})
        assert resp.status_code == 200, resp.text

    async def cancel(self, order_id: str, reason: str = "CUSTOMER_CANCELLED") -> None:
        resp = await self.orders.post(f"/orders/{order_id}/cancel", json={"reason": reason, "requested_by": "olivia"})
        assert resp.status_code == 200, resp.text

    async def following(self, streams: int) -> None:
        """Return once ``streams`` streams have joined the feed and its long-poll waits on the orders service."""
        for _ in range(500):
            order_feed = getattr(self.app.state, "order_feed", None)
            bell = getattr(self.orders_app.state, "history_bell", None)
            if order_feed is not None and order_feed.subscribers() == streams and bell is not None and bell.waiting:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{streams} streams never followed the feed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def platform(url: str) -> AsyncIterator[Platform]:
    orders_settings = ServiceSettings(service="orders", database_url=url, environment="test")
    orders_app = create_orders_app(orders_settings)
    engine = create_engine(url, pool_size=5)
    orders_app.state.engine = engine
    orders_app.state.sessionmaker = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    polls = LongPolls(orders_app)
    settings = GatewaySettings(
        jwt_secret=SECRET,
        stream_heartbeat_seconds=0.5,
        streams_per_principal=2,
        history_wait_seconds=5,
        orders_url="http://orders.test",
    )
    upstream = httpx.AsyncClient(mounts={"http://orders.test": httpx.ASGITransport(app=polls)})
    app = create_app(settings)
    app.state.clients = ServiceClients(upstream, settings)
    app.state.verifier = TokenVerifier(secret=SECRET)
    issuer = TokenIssuer(secret=SECRET)
    roles = {"alice": "customer", "olivia": "operator", "ada": "admin"}
    tokens = {
        name: issuer.issue(username=name, user_id=f"u-{name}", role=role, email=f"{name}@example.com", name=name)
        for name, role in roles.items()
    }
    tokens["erp"] = issuer.issue(
        username="erp", user_id="c-erp", role="partner", email="erp@example.com", name="erp", scopes=["erp:events"]
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=orders_app),
                base_url="http://orders",
                headers=service_credential(orders_settings),
            ) as orders,
        ):
            for _ in range(500):
                if server.started:
                    break
                await asyncio.sleep(0.02)
            yield Platform(f"http://127.0.0.1:{port}", http, orders, orders_app, polls, app, tokens)
    finally:
        server.should_exit = True
        await serving
        await upstream.aclose()
        await close_history_bell(orders_app)
        await engine.dispose()


@pytest.fixture
async def gw(fresh_database: FreshDatabase) -> AsyncIterator[Platform]:
    async with platform(await fresh_database("orders")) as running:
        yield running


@dataclass
class Event:
    id: str | None = None
    event: str | None = None
    data: dict[str, Any] | None = None


async def read_events(
    gw: Platform, count: int, *, user: str = "olivia", last_event_id: str | None = None, params: Any = None
) -> list[Event]:
    """The first ``count`` events of a new stream (then it is closed)."""
    headers = gw.auth(user) | ({"Last-Event-ID": last_event_id} if last_event_id is not None else {})
    events: list[Event] = []
    current = Event()
    async with gw.http.stream("GET", "/api/orders/events", headers=headers, params=params) as resp:
        assert resp.status_code == 200, await resp.aread()
        assert resp.headers["content-type"].startswith("text/event-stream")
        async for line in resp.aiter_lines():
            if line.startswith("id: "):
                current.id = line[4:]
            elif line.startswith("event: "):
                current.event = line[7:]
            elif line.startswith("data: "):
                current.data = json.loads(line[6:])
            elif line == "" and current.data is not None:
                events.append(current)
                current = Event()
                if len(events) == count:
                    return events
    raise AssertionError(f"the stream ended after {len(events)} events")


def statuses(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.data["order_id"], e.data["status"]) for e in events if e.data]


def key(cursor: str | None) -> tuple[int, int]:
    assert cursor is not None
    xid, row_id = cursor.split(".")
    return int(xid), int(row_id)


async def test_an_operator_sees_every_customers_changes_live_in_commit_order(gw: Platform) -> None:
    reading = asyncio.create_task(read_events(gw, 4))
    await gw.following(1)
    alices = await gw.place("alice")
    bobs = await gw.place("bob")
    await gw.move(alices, "RESERVED")
    await gw.cancel(bobs)
    events = await asyncio.wait_for(reading, 30)
    assert statuses(events) == [(alices, "PENDING"), (bobs, "PENDING"), (alices, "RESERVED"), (bobs, "CANCELLED")]
    assert {e.event for e in events} == {"status"}
    assert [key(e.id) for e in events] == sorted(key(e.id) for e in events)
    last = events[-1].data
    assert last == {
        "seq": 2,
        "order_id": bobs,
        "customer_id": "bob",
        "status": "CANCELLED",
        "from_status": "PENDING",
        "reason": "CUSTOMER_CANCELLED",
        "actor": "olivia",
        "at": last["at"] if last else None,
        "cursor": events[-1].id,
    }


async def test_changes_from_before_the_stream_opened_are_not_sent(gw: Platform) -> None:
    before = await gw.place("alice")
    reading = asyncio.create_task(read_events(gw, 1))
    await gw.following(1)
    after = await gw.place("alice")
    assert statuses(await asyncio.wait_for(reading, 30)) == [(after, "PENDING")]
    assert before != after


@pytest.mark.parametrize("feed_kept_running", [False, True], ids=["feed-stopped", "feed-running"])
async def test_a_reconnect_with_last_event_id_loses_no_change(gw: Platform, feed_kept_running: bool) -> None:
    # Another operator's stream keeps the feed running (ahead of the cursor) while this one is away, or none does.
    other = asyncio.create_task(read_events(gw, 6, user="ada")) if feed_kept_running else None
    reading = asyncio.create_task(read_events(gw, 2))
    await gw.following(2 if feed_kept_running else 1)
    order_id = await gw.place("alice")
    await gw.move(order_id, "RESERVED")
    first = await asyncio.wait_for(reading, 30)
    # While disconnected: two changes (and another order's).
    await gw.move(order_id, "PAYMENT_AUTHORIZED")
    another = await gw.place("bob")
    await gw.move(order_id, "AWAITING_WAVE")
    if other is not None:
        missed = (await gw.orders.get("/history", params={"after": first[-1].id})).json()["items"]
        assert len(missed) == 3
        for _ in range(500):  # the feed has moved past them before the reconnect: the resume catches up
            if key(gw.feed.cursor) >= key(missed[-1]["cursor"]):
                break
            await asyncio.sleep(0.02)
        assert key(gw.feed.cursor) >= key(missed[-1]["cursor"])
    resumed = asyncio.create_task(read_events(gw, 4, last_event_id=first[-1].id))
    await gw.following(2 if feed_kept_running else 1)
    await gw.cancel(another)  # and one live
    rest = await asyncio.wait_for(resumed, 30)
    assert statuses(first) == [(order_id, "PENDING"), (order_id, "RESERVED")]
    assert statuses(rest) == [
        (order_id, "PAYMENT_AUTHORIZED"),
        (another, "PENDING"),
        (order_id, "AWAITING_WAVE"),
        (another, "CANCELLED"),
    ]
    if other is not None:
        assert statuses(await asyncio.wait_for(other, 30)) == statuses(first) + statuses(rest)


async def test_after_in_the_query_resumes_too_and_filters_narrow_the_stream(gw: Platform) -> None:
    reading = asyncio.create_task(read_events(gw, 1))
    await gw.following(1)
    mark = await gw.place("alice")
    (marker,) = await asyncio.wait_for(reading, 30)
    alices, bobs = await gw.place("alice"), await gw.place("bob")
    await gw.cancel(bobs)
    await gw.cancel(alices)
    await gw.move(mark, "RESERVED")
    params = [("after", marker.id), ("status", "CANCELLED"), ("status", "RESERVED"), ("customer", "alice")]
    events = await asyncio.wait_for(read_events(gw, 2, params=params), 30)
    assert statuses(events) == [(alices, "CANCELLED"), (mark, "RESERVED")]


async def test_two_operator_streams_share_one_long_poll(gw: Platform) -> None:
    readers = [asyncio.create_task(read_events(gw, 3, user=user)) for user in ("olivia", "ada")]
    await gw.following(2)
    order_id = await gw.place("alice")
    await gw.move(order_id, "RESERVED")
    await gw.cancel(order_id)
    first, second = await asyncio.wait_for(asyncio.gather(*readers), 30)
    assert (
        statuses(first) == statuses(second) == [(order_id, "PENDING"), (order_id, "RESERVED"), (order_id, "CANCELLED")]
    )
    assert gw.polls.most == 1  # one long-poll at a time for both streams
    # The last stream gone, the feed stops: no long-poll waits on the orders service any more.
    for _ in range(500):
        if gw.polls.in_flight == 0 and not gw.feed.running:
            break
        await asyncio.sleep(0.02)
    assert (gw.polls.in_flight, gw.feed.running, gw.feed.subscribers()) == (0, False, 0)


async def test_who_may_open_it(gw: Platform) -> None:
    assert (await gw.http.get("/api/orders/events")).status_code == 401
    customer = await gw.http.get("/api/orders/events", headers=gw.auth("alice"))
    assert (customer.status_code, customer.json()["type"]) == (403, "StaffOnly")
    partner = await gw.http.get("/api/orders/events", headers=gw.auth("erp"))
    assert (partner.status_code, partner.json()["type"]) == (403, "PartnerToken")
    assert getattr(gw.app.state, "order_feed", None) is None  # refused before joining any feed


@pytest.mark.parametrize(
    ("header", "params"),
    [("x", None), ("1.2.3", None), (f"{2**64}.1", None), ("12", None), (None, {"after": "1.-2"})],
)
async def test_a_malformed_cursor_is_422_before_streaming(gw: Platform, header: str | None, params: Any) -> None:
    headers = gw.auth("olivia") | ({"Last-Event-ID": header} if header is not None else {})
    resp = await gw.http.get("/api/orders/events", headers=headers, params=params)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["type"] == "InvalidCursor"


async def test_operator_streams_count_against_the_callers_stream_slots(gw: Platform) -> None:
    readers = [asyncio.create_task(read_events(gw, 1)) for _ in range(2)]
    await gw.following(2)
    over = await gw.http.get("/api/orders/events", headers=gw.auth("olivia"))
    assert (over.status_code, over.json()["type"]) == (429, "TooManyStreams")
    assert "Retry-After" in over.headers
    await gw.place("alice")
    await asyncio.wait_for(asyncio.gather(*readers), 30)


async def test_a_stream_that_falls_behind_is_dropped_and_ends_with_an_overflow_event(gw: Platform) -> None:
    clients: ServiceClients = gw.app.state.clients
    order_feed = OrderFeed(clients, wait_seconds=5)
    slow = Subscription(statuses=(), customer=None, backlog=2)
    keeping_up = Subscription(statuses=(), customer=None, backlog=10)
    joined = await order_feed.subscribe(slow)
    await order_feed.subscribe(keeping_up)
    try:
        order_id = await gw.place("alice")
        for status in ("RESERVED", "PAYMENT_AUTHORIZED"):
            await gw.move(order_id, status)
        seen = [(await asyncio.wait_for(keeping_up.queue.get(), 30)).status for _ in range(3)]
        # The slow one never read: past its backlog it is out of the feed; the other one got everything.
        assert [s.value for s in seen] == ["PENDING", "RESERVED", "PAYMENT_AUTHORIZED"]
        assert slow.overflowed
        assert order_feed.subscribers() == 1
        stream = operator_events(clients, slow, joined=joined, after=None, heartbeat_seconds=5)
        events = [event async for event in stream]
    finally:
        order_feed.unsubscribe(slow)
        order_feed.unsubscribe(keeping_up)
    assert [e.event for e in events] == ["status", "status", "overflow"]
    assert events[-1].data["resume_after"] == events[1].id
    assert events[-1].id is None  # Last-Event-ID stays the last change received


class BrokenAfterHead(ServiceClients):
    """The real clients, but the feed's long-poll meets a bug (anything but a service's error answer)."""

    async def order_history(self, *, after: str | None, limit: int, wait_seconds: float = 0) -> Any:
        if wait_seconds:
            raise RuntimeError("a bug")
        return await super().order_history(after=after, limit=limit, wait_seconds=wait_seconds)


async def test_a_feed_that_fails_ends_its_streams_and_the_next_one_starts_it_again(gw: Platform) -> None:
    real: ServiceClients = gw.app.state.clients
    broken = BrokenAfterHead(real.http, real.urls)
    order_feed = OrderFeed(broken, wait_seconds=5)
    subscription = Subscription(statuses=(), customer=None, backlog=10)
    joined = await order_feed.subscribe(subscription)
    stream = operator_events(broken, subscription, joined=joined, after=None, heartbeat_seconds=0.2)

    async def until_it_ends() -> list[ServerSentEvent]:
        return [event async for event in stream if event.comment is None]

    events = await asyncio.wait_for(until_it_ends(), 30)
    assert [e.event for e in events] == ["overflow"]  # ended: the client resumes with its Last-Event-ID
    assert (order_feed.subscribers(), order_feed.running) == (0, False)
    again = Subscription(statuses=(), customer=None, backlog=10)
    order_feed.clients = real
    await order_feed.subscribe(again)
    try:
        assert order_feed.running
        order_id = await gw.place("alice")
        change = await asyncio.wait_for(again.queue.get(), 30)
        assert (change.order_id, change.status.value) == (order_id, "PENDING")
    finally:
        order_feed.unsubscribe(again)

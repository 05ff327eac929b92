"""Checkout (``POST /api/orders?wait=accepted``) and live order events (SSE) through the real gateway.

The real ``OrderFulfillment`` runs on the time-skipping test server with the
fake activities of ``tests/workflows/fakes.py``, except the orders service's
steps: they write an in-memory order book that a stand-in orders service
answers from (the record and its history), so the gateway streams what it
would in production. The gateway is served by uvicorn on a free port (an
ASGI transport would buffer a stream until it ends).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI, Response
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.inventory import ReservationState, ReserveStock
from activities.orders import CancelOrder, CreateOrder, OrderState, TransitionOrder
from common.security import TokenIssuer, TokenVerifier
from gateway.app import create_app
from gateway.auth import verified_principal
from gateway.clients import ServiceClients
from gateway.ratelimit import RouteLimits
from gateway.settings import GatewaySettings
from tests.workflows.fakes import TEST_SERVER, Fakes
from workflows.order_fulfillment import OrderFulfillment
from workflows.pick_pack_ship import PickPackShip
from workflows.wave_release import WaveRelease

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")
pytestmark = MODULE_LOOP

SECRET = secrets.token_urlsafe(48)
SOLD_OUT = "SOLD-OUT"
ACCEPTED_TRAIL = ["PENDING", "RESERVED", "PAYMENT_AUTHORIZED", "AWAITING_WAVE"]


@dataclass
class OrderBook:
    """The orders service's records, written by the workflow's ``orders.*`` steps."""

    orders: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _move(self, order_id: str, status: str, reason: str | None = None) -> None:
        order = self.orders[order_id]
        order["history"].append({"from_status": order["status"], "to_status": status, "reason": reason, "at": _now()})
        order["status"], order["cancel_reason"] = status, reason or order["cancel_reason"]

    def activities(self) -> list[Any]:
        @activity.defn(name="orders.create")
        async def create(params: CreateOrder) -> OrderState:
            self.orders.setdefault(
                params.order_id,
                {
                    "order_id": params.order_id,
                    "customer_id": params.customer_id,
                    "status": "PENDING",
                    "cancel_reason": None,
                    "lines": [
                        {"sku": line.sku, "quantity": line.quantity, "unit_price_cents": line.unit_price_cents}
                        for line in params.lines
                    ],
                    "total_cents": sum(line.quantity * line.unit_price_cents for line in params.lines),
                    "currency": params.currency,
                    "history": [{"from_status": None, "to_status": "PENDING", "reason": None, "at": _now()}],
                },
            )
            return OrderState(order_id=params.order_id, status="PENDING")

        @activity.defn(name="orders.transition")
        async def transition(params: TransitionOrder) -> OrderState:
            self._move(params.order_id, params.status)
            return OrderState(order_id=params.order_id, status=params.status)

        @activity.defn(name="orders.cancel")
        async def cancel(params: CancelOrder) -> OrderState:
            if self.orders[params.order_id]["status"] != "CANCELLED":
                self._move(params.order_id, "CANCELLED", params.reason)
            return OrderState(order_id=params.order_id, status="CANCELLED", cancel_reason=params.reason)

        @activity.defn(name="inventory.reserve")
        async def reserve(params: ReserveStock) -> ReservationState:
            if any(line.sku == SOLD_OUT for line in params.lines):
                raise ApplicationError(f"not enough {SOLD_OUT}", type="OutOfStock", non_retryable=True)
            return ReservationState(order_id=params.order_id, status="ACTIVE")

        return [create, transition, cancel, reserve]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def services(book: OrderBook) -> FastAPI:
    """The orders, payments and inventory services, as far as these routes read them."""
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def order(order_id: str) -> Any:
        if order_id not in book.orders:
            return Response(status_code=404, content=b'{"type":"OrderNotFound","detail":"no"}')
        return book.orders[order_id]

    @app.get("/payments")
    async def payments(order_id: str) -> Any:
        return []

    @app.get("/products/{sku}")
    async def product(sku: str) -> Any:
        return {
            "sku": sku,
            "name": sku,
            "price_cents": 1200,
            "currency": "EUR",
            "on_hand": 0 if sku == SOLD_OUT else 100,
            "available": 0 if sku == SOLD_OUT else 100,
            "reserved": 0,
        }

    return app


@dataclass
class Gateway:
    url: str
    http: httpx.AsyncClient
    tokens: dict[str, str]
    book: OrderBook
    app: FastAPI

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def gw() -> AsyncIterator[Gateway]:
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEST_SERVER))
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    book = OrderBook()
    settings = GatewaySettings(
        jwt_secret=SECRET,
        task_queue=task_queue,
        update_wait_seconds=20,
        stream_heartbeat_seconds=0.5,
        streams_per_principal=2,
        orders_url="http://services.test",
        payments_url="http://services.test",
        inventory_url="http://services.test",
    )
    upstream = httpx.AsyncClient(mounts={"http://services.test": httpx.ASGITransport(app=services(book))})
    app = create_app(settings, temporal=env.client)
    app.state.clients = ServiceClients(upstream, settings)
    app.state.verifier = TokenVerifier(secret=SECRET)
    app.state.temporal = env.client
    issuer = TokenIssuer(secret=SECRET)
    tokens = {
        name: issuer.issue(username=name, user_id=f"u-{name}", role=role, email=f"{name}@example.com", name=name)
        for name, role in (("alice", "customer"), ("bob", "customer"), ("olivia", "operator"))
    }
    tokens["erp"] = issuer.issue(
        username="erp", user_id="c-erp", role="partner", email="erp@example.com", name="erp", scopes=["erp:events"]
    )
    by_name = {fn.__temporal_activity_definition.name: fn for fn in Fakes().activities()}  # type: ignore[attr-defined]
    for fn in book.activities():
        by_name[fn.__temporal_activity_definition.name] = fn
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        async with (
            Worker(
                env.client,
                task_queue=task_queue,
                workflows=[OrderFulfillment, PickPackShip, WaveRelease],
                activities=list(by_name.values()),
            ),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
        ):
            for _ in range(500):
                if server.started:
                    break
                await asyncio.sleep(0.02)
            yield Gateway(f"http://127.0.0.1:{port}", http, tokens, book, app)
    finally:
        server.should_exit = True
        await serving
        await upstream.aclose()
        await env.shutdown()


def order_body(sku: str = "MUG-RED", card: str = "tok_visa") -> dict[str, Any]:
    return {
        "lines": [{"sku": sku, "quantity": 2}],
        "shipping_address": {
            "name": "Alice",
            "line1": "1 Main St",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
        "payment": {"card_token": card},
    }


async def checkout(gw: Gateway, body: dict[str, Any], key: str | None = None, user: str = "alice") -> httpx.Response:
    headers = gw.auth(user) | ({"Idempotency-Key": key} if key else {})
    return await gw.http.post("/api/orders", params={"wait": "accepted"}, json=body, headers=headers)


# -- checkout ----------------------------------------------------------------------------
async def test_checkout_answers_201_once_accepted(gw: Gateway) -> None:
    resp = await checkout(gw, order_body())
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] in ("PAYMENT_AUTHORIZED", "AWAITING_WAVE")
    assert body["cancel_reason"] is None
    assert body["workflow_id"] == f"order-{body['order_id']}"
    # Stock reserved and payment authorized before the answer.
    assert gw.book.orders[body["order_id"]]["history"][2]["to_status"] == "PAYMENT_AUTHORIZED"


@pytest.mark.parametrize(
    ("sku", "card", "reason"), [("MUG-RED", "tok_declined", "PAYMENT_DECLINED"), (SOLD_OUT, "tok_visa", "OUT_OF_STOCK")]
)
async def test_checkout_answers_the_rejection_with_its_reason(gw: Gateway, sku: str, card: str, reason: str) -> None:
    resp = await checkout(gw, order_body(sku=sku, card=card))
    assert resp.status_code == 201, resp.text
    assert (resp.json()["status"], resp.json()["cancel_reason"]) == ("CANCELLED", reason)


async def test_checkout_repeated_with_its_key_answers_the_same_order(gw: Gateway) -> None:
    key = f"co-{uuid.uuid4().hex}"
    first = await checkout(gw, order_body(card="tok_declined"), key)
    again = await checkout(gw, order_body(card="tok_declined"), key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() | {"status": "CANCELLED", "cancel_reason": "PAYMENT_DECLINED"}
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await checkout(gw, order_body(), key)
    assert other.status_code == 409
    assert other.json()["type"] == "IdempotencyKeyReused"


async def test_without_wait_the_answer_is_still_202_pending(gw: Gateway) -> None:
    resp = await gw.http.post("/api/orders", json=order_body(), headers=gw.auth("alice"))
    assert resp.status_code == 202
    assert set(resp.json()) == {"order_id", "workflow_id", "status"}
    assert resp.json()["status"] == "PENDING"


# -- live events -----------------------------------------------------------------------------
@dataclass
class Event:
    id: str | None = None
    event: str | None = None
    data: dict[str, Any] | None = None


async def read_events(
    gw: Gateway,
    order_id: str,
    *,
    user: str = "alice",
    last_event_id: int | None = None,
    count: int | None = None,
    comments: list[str] | None = None,
) -> tuple[list[Event], bool]:
    """Events of the stream: ``count`` of them (then it is closed), or all until the server ends it (True)."""
    headers = gw.auth(user) | ({"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {})
    events: list[Event] = []
    current = Event()
    async with gw.http.stream("GET", f"/api/orders/{order_id}/events", headers=headers) as resp:
        assert resp.status_code == 200, await resp.aread()
        assert resp.headers["content-type"].startswith("text/event-stream")
        async for line in resp.aiter_lines():
            if line.startswith(":"):
                if comments is not None:
                    comments.append(line)
            elif line.startswith("id: "):
                current.id = line[4:]
            elif line.startswith("event: "):
                current.event = line[7:]
            elif line.startswith("data: "):
                current.data = json.loads(line[6:])
            elif line == "" and current.data is not None:
                events.append(current)
                current = Event()
                if count is not None and len(events) == count:
                    return events, False
    return events, True


async def placed(gw: Gateway) -> str:
    resp = await checkout(gw, order_body())
    assert resp.status_code == 201
    order_id: str = resp.json()["order_id"]
    for _ in range(200):  # the saga goes on to AWAITING_WAVE after the answer
        if gw.book.orders[order_id]["status"] == "AWAITING_WAVE":
            return order_id
        await asyncio.sleep(0.05)
    raise AssertionError("the order never reached AWAITING_WAVE")


async def test_the_stream_sends_the_changes_so_far_then_each_live_one_and_ends_at_cancelled(gw: Gateway) -> None:
    order_id = await placed(gw)
    comments: list[str] = []
    reading = asyncio.create_task(read_events(gw, order_id, count=5, comments=comments))
    for _ in range(100):  # the four changes so far are sent; the stream waits on the workflow (heartbeats)
        if comments:
            break
        await asyncio.sleep(0.05)
    assert comments, "no heartbeat while waiting"
    assert not reading.done()
    cancel = await gw.http.post(f"/api/orders/{order_id}/cancel", headers=gw.auth("alice"))
    assert cancel.status_code == 200, cancel.text
    events, _ = await asyncio.wait_for(reading, 20)
    assert [e.data["status"] for e in events if e.data] == [*ACCEPTED_TRAIL, "CANCELLED"]
    assert [e.id for e in events] == ["1", "2", "3", "4", "5"]
    assert {e.event for e in events} == {"status"}
    assert events[-1].data == {
        "seq": 5,
        "order_id": order_id,
        "status": "CANCELLED",
        "from_status": "AWAITING_WAVE",
        "reason": "CUSTOMER_CANCELLED",
        "at": events[-1].data["at"] if events[-1].data else None,
    }
    # Terminal: a stream opened now sends the history and ends.
    again, ended = await asyncio.wait_for(read_events(gw, order_id), 20)
    assert ended
    assert len(again) == 5


async def test_a_reconnect_with_last_event_id_gets_every_later_change_and_no_earlier_one(gw: Gateway) -> None:
    order_id = await placed(gw)
    first, ended = await read_events(gw, order_id, count=2)
    assert not ended
    assert [e.id for e in first] == ["1", "2"]
    # While disconnected, the order is cancelled (by an operator).
    cancel = await gw.http.post(f"/api/orders/{order_id}/cancel", headers=gw.auth("olivia"))
    assert cancel.status_code == 200, cancel.text
    rest, ended = await asyncio.wait_for(read_events(gw, order_id, last_event_id=2), 20)
    assert ended
    assert [(e.id, e.data["status"] if e.data else None) for e in rest] == [
        ("3", "PAYMENT_AUTHORIZED"),
        ("4", "AWAITING_WAVE"),
        ("5", "CANCELLED"),
    ]
    operator_view, _ = await asyncio.wait_for(read_events(gw, order_id, user="olivia", last_event_id=4), 20)
    assert [e.id for e in operator_view] == ["5"]


async def test_someone_elses_order_is_404_and_unknown_ones_too(gw: Gateway) -> None:
    order_id = await placed(gw)
    for user, path in (("bob", order_id), ("alice", "no-such-order")):
        resp = await gw.http.get(f"/api/orders/{path}/events", headers=gw.auth(user))
        assert resp.status_code == 404, resp.text
        assert resp.json()["type"] == "OrderNotFound"
    assert (await gw.http.get(f"/api/orders/{order_id}/events")).status_code == 401
    partner = await gw.http.get(f"/api/orders/{order_id}/events", headers=gw.auth("erp"))
    assert (partner.status_code, partner.json()["type"]) == (403, "PartnerToken")


async def test_open_streams_are_bounded_per_principal(gw: Gateway) -> None:
    order_id = await placed(gw)
    readers = [asyncio.create_task(read_events(gw, order_id, user="alice")) for _ in range(2)]
    slots = gw.app.state.stream_slots
    for _ in range(100):
        if slots.held("alice") == 2:
            break
        await asyncio.sleep(0.05)
    assert slots.held("alice") == 2
    over = await gw.http.get(f"/api/orders/{order_id}/events", headers=gw.auth("alice"))
    assert over.status_code == 429
    assert over.json()["type"] == "TooManyStreams"
    # Another principal is not affected; the slots come back when the streams end.
    assert (await gw.http.post(f"/api/orders/{order_id}/cancel", headers=gw.auth("olivia"))).status_code == 200
    await asyncio.wait_for(asyncio.gather(*readers), 20)
    for _ in range(100):
        if slots.held("alice") == 0:
            break
        await asyncio.sleep(0.05)
    assert slots.held("alice") == 0


async def test_the_stream_carries_the_security_headers_and_opening_it_counts_as_a_read(gw: Gateway) -> None:
    order_id = await placed(gw)
    defaults = gw.app.state.route_limits
    gw.app.state.route_limits = RouteLimits(
        writes="0", reads="1/minute", webhooks="0", verifies_token=verified_principal
    )
    try:
        async with gw.http.stream("GET", f"/api/orders/{order_id}/events", headers=gw.auth("alice")) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            assert resp.headers.get_list("cache-control") == ["no-store"]  # not the stream's own no-cache
            assert resp.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
            for name, value in (
                ("x-content-type-options", "nosniff"),
                ("referrer-policy", "no-referrer"),
                ("x-frame-options", "DENY"),
                ("cross-origin-opener-policy", "same-origin"),
                ("cross-origin-resource-policy", "same-origin"),
            ):
                assert resp.headers[name] == value, name
        again = await gw.http.get(f"/api/orders/{order_id}/events", headers=gw.auth("alice"))
        assert (again.status_code, again.json()["type"]) == (429, "RateLimited")
        assert int(again.headers["Retry-After"]) >= 1
        assert again.headers["x-frame-options"] == "DENY"
    finally:
        gw.app.state.route_limits = defaults


# -- compensations on an order opened later ------------------------------------------------------
async def test_a_cancelled_order_opened_later_lists_its_compensations_from_its_workflow(gw: Gateway) -> None:
    order_id = await placed(gw)
    before = await gw.http.get(f"/api/orders/{order_id}", headers=gw.auth("alice"))
    assert (before.json()["compensations"], before.json()["compensation_failures"]) == (None, None)  # not cancelled
    cancelled = await gw.http.post(f"/api/orders/{order_id}/cancel", headers=gw.auth("alice"))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["compensations"]  # something was undone
    for user in ("alice", "olivia"):  # the owner, and an operator
        later = await gw.http.get(f"/api/orders/{order_id}", headers=gw.auth(user))
        assert later.status_code == 200, later.text
        body = later.json()
        assert body["status"] == "CANCELLED"
        assert body["compensations"] == cancelled.json()["compensations"]
        assert body["compensation_failures"] == cancelled.json()["compensation_failures"] == []
    # The workflow has closed by now; its query still answers (a worker replays it).
    handle = gw.app.state.temporal.get_workflow_handle(f"order-{order_id}")
    assert (await handle.describe()).status.name == "COMPLETED"
    assert (await gw.http.get(f"/api/orders/{order_id}", headers=gw.auth("alice"))).json()["compensations"]
    # Someone else's cancelled order is still not found.
    assert (await gw.http.get(f"/api/orders/{order_id}", headers=gw.auth("bob"))).status_code == 404


async def test_a_rejected_order_lists_what_its_rejection_undid(gw: Gateway) -> None:
    resp = await checkout(gw, order_body(card="tok_declined"))
    order_id = resp.json()["order_id"]
    body = (await gw.http.get(f"/api/orders/{order_id}", headers=gw.auth("alice"))).json()
    assert (body["status"], body["cancel_reason"]) == ("CANCELLED", "PAYMENT_DECLINED")
    assert isinstance(body["compensations"], list)
    assert "inventory.release" in body["compensations"]


def cancelled_record(order_id: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": "alice",
        "status": "CANCELLED",
        "cancel_reason": "CUSTOMER_CANCELLED",
        "lines": [],
        "total_cents": 0,
        "currency": "EUR",
        "history": [],
    }


async def test_a_cancelled_order_whose_workflow_cannot_answer_is_shown_without_compensations(gw: Gateway) -> None:
    # No workflow at all (e.g. its history was deleted after the retention period).
    gone = uuid.uuid4().hex[:20]
    gw.book.orders[gone] = cancelled_record(gone)
    resp = await gw.http.get(f"/api/orders/{gone}", headers=gw.auth("alice"))
    assert resp.status_code == 200, resp.text
    assert (resp.json()["status"], resp.json()["compensations"], resp.json()["compensation_failures"]) == (
        "CANCELLED",
        None,
        None,
    )
    # A workflow no worker serves: the query waits, the page does not (beyond the short timeout).
    stuck = uuid.uuid4().hex[:20]
    gw.book.orders[stuck] = cancelled_record(stuck)
    client = gw.app.state.temporal
    handle = await client.start_workflow(
        "OrderFulfillment", {"order_id": stuck}, id=f"order-{stuck}", task_queue=f"nobody-{uuid.uuid4().hex[:6]}"
    )
    try:
        resp = await gw.http.get(f"/api/orders/{stuck}", headers=gw.auth("alice"))
        assert resp.status_code == 200, resp.text
        assert (resp.json()["status"], resp.json()["compensations"]) == ("CANCELLED", None)
    finally:
        await handle.terminate()

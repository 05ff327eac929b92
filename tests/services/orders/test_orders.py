from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.orders.app import create_app
from services.orders.models import OrderStatus
from services.orders.service import can_move
from tests.conftest import FreshDatabase, ServiceDatabases
from tests.support import committing_client, rolled_back_client

FORWARD = ["RESERVED", "PAYMENT_AUTHORIZED", "AWAITING_WAVE", "PICKING", "PACKED", "SHIPPED", "DELIVERED"]


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["orders"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "orders", database_url) as (client, _):
        yield client


def new_order(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": uuid.uuid4().hex[:16],
        "customer_id": "alice",
        "customer_email": "alice@example.com",
        "currency": "EUR",
        "lines": [
            {"sku": "MUG-RED", "quantity": 2, "unit_price_cents": 1200},
            {"sku": "PEN-BLK", "quantity": 1, "unit_price_cents": 300},
        ],
        "shipping_address": {
            "name": "Alice",
            "line1": "1 Street",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
    }
    body.update(overrides)
    return body


async def create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    resp = await client.post("/orders", json=new_order(**overrides))
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def move(client: httpx.AsyncClient, order_id: str, status: str) -> httpx.Response:
    return await client.post(f"/orders/{order_id}/transition", json={"status": status})


async def test_create_records_pending_with_total_and_history(client: httpx.AsyncClient) -> None:
    order = await create(client)
    assert order["status"] == "PENDING"
    assert order["total_cents"] == 2 * 1200 + 300
    assert [line["sku"] for line in order["lines"]] == ["MUG-RED", "PEN-BLK"]
    assert [(h["from_status"], h["to_status"]) for h in order["history"]] == [(None, "PENDING")]
    fetched = (await client.get(f"/orders/{order['order_id']}")).json()
    assert fetched == order


async def test_the_whole_forward_path_is_legal_and_recorded(client: httpx.AsyncClient) -> None:
    order_id = (await create(client))["order_id"]
    for status in FORWARD:
        resp = await move(client, order_id, status)
        assert resp.status_code == 200, resp.text
    history = (await client.get(f"/orders/{order_id}")).json()["history"]
    assert [h["to_status"] for h in history] == ["PENDING", *FORWARD]


@pytest.mark.parametrize(
    ("path", "target"),
    [([], "PAYMENT_AUTHORIZED"), ([], "SHIPPED"), (["RESERVED"], "PENDING"), (FORWARD[:2], "RESERVED")],
)
async def test_illegal_transitions_are_409_and_change_nothing(
    client: httpx.AsyncClient, path: list[str], target: str
) -> None:
    order_id = (await create(client))["order_id"]
    for status in path:
        await move(client, order_id, status)
    before = (await client.get(f"/orders/{order_id}")).json()
    resp = await move(client, order_id, target)
    assert resp.status_code == 409
    assert resp.json()["type"] == "IllegalTransition"
    assert (await client.get(f"/orders/{order_id}")).json() == before


async def test_repeating_a_transition_adds_no_history(client: httpx.AsyncClient) -> None:
    order_id = (await create(client))["order_id"]
    await move(client, order_id, "RESERVED")
    again = await move(client, order_id, "RESERVED")
    assert again.status_code == 200
    assert again.json()["status"] == "RESERVED"
    assert len((await client.get(f"/orders/{order_id}")).json()["history"]) == 2


@pytest.mark.parametrize("reached", [[], FORWARD[:1], FORWARD[:3], FORWARD[:5]])
async def test_cancel_before_shipping_records_the_reason(client: httpx.AsyncClient, reached: list[str]) -> None:
    order_id = (await create(client))["order_id"]
    for status in reached:
        await move(client, order_id, status)
    resp = await client.post(f"/orders/{order_id}/cancel", json={"reason": "PAYMENT_DECLINED"})
    assert resp.status_code == 200
    assert (resp.json()["status"], resp.json()["cancel_reason"]) == ("CANCELLED", "PAYMENT_DECLINED")
    again = await client.post(f"/orders/{order_id}/cancel", json={"reason": "CUSTOMER_CANCELLED"})
    assert again.status_code == 200
    assert again.json()["cancel_reason"] == "PAYMENT_DECLINED"
    assert (await move(client, order_id, "RESERVED")).status_code == 409


async def test_cancel_after_shipping_is_refused(client: httpx.AsyncClient) -> None:
    order_id = (await create(client))["order_id"]
    for status in FORWARD[:6]:
        await move(client, order_id, status)
    resp = await client.post(f"/orders/{order_id}/cancel", json={"reason": "CUSTOMER_CANCELLED"})
    assert resp.status_code == 409
    assert (await client.get(f"/orders/{order_id}")).json()["status"] == "SHIPPED"


async def test_unknown_order_is_404(client: httpx.AsyncClient) -> None:
    for resp in (
        await client.get("/orders/nope"),
        await client.post("/orders/nope/cancel", json={"reason": "CUSTOMER_CANCELLED"}),
        await move(client, "nope", "RESERVED"),
    ):
        assert resp.status_code == 404
        assert resp.json()["type"] == "OrderNotFound"


async def test_same_order_again_is_harmless_but_different_content_conflicts(client: httpx.AsyncClient) -> None:
    body = new_order()
    first = await client.post("/orders", json=body)
    second = await client.post("/orders", json=body)
    assert first.json()["order_id"] == second.json()["order_id"]
    assert len(second.json()["history"]) == 1
    changed = await client.post(
        "/orders", json={**body, "lines": [{"sku": "MUG-RED", "quantity": 9, "unit_price_cents": 1}]}
    )
    assert changed.status_code == 409
    assert changed.json()["type"] == "OrderExists"


async def test_idempotency_key_replays_and_rejects_reuse(client: httpx.AsyncClient) -> None:
    order_id = (await create(client))["order_id"]
    headers = {"Idempotency-Key": f"order-{order_id}:status:RESERVED"}
    first = await client.post(f"/orders/{order_id}/transition", json={"status": "RESERVED"}, headers=headers)
    replay = await client.post(f"/orders/{order_id}/transition", json={"status": "RESERVED"}, headers=headers)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert first.json() == replay.json()
    reused = await client.post(f"/orders/{order_id}/transition", json={"status": "PAYMENT_AUTHORIZED"}, headers=headers)
    assert reused.status_code == 409
    assert reused.json()["type"] == "IdempotencyKeyReused"


@pytest.mark.parametrize(
    "overrides",
    [
        {"lines": []},
        {"lines": [{"sku": "MUG-RED", "quantity": 0, "unit_price_cents": 1}]},
        {"lines": [{"sku": "MUG-RED", "quantity": -1, "unit_price_cents": 1}]},
        {"currency": "euro"},
        {"order_id": "has spaces"},
        {"customer_id": "x" * 65},
        {"unexpected": True},
    ],
)
async def test_bad_input_is_422(client: httpx.AsyncClient, overrides: dict[str, Any]) -> None:
    resp = await client.post("/orders", json=new_order(**overrides))
    assert resp.status_code == 422
    assert set(resp.json()) >= {"type", "detail"}


async def test_list_filters_by_customer_and_status(client: httpx.AsyncClient) -> None:
    customer = f"c-{uuid.uuid4().hex[:8]}"
    a = (await create(client, customer_id=customer))["order_id"]
    b = (await create(client, customer_id=customer))["order_id"]
    await create(client, customer_id="someone-else")
    await move(client, b, "RESERVED")
    listed = (await client.get("/orders", params={"customer_id": customer})).json()
    assert {o["order_id"] for o in listed["items"]} == {a, b}
    assert (listed["total"], listed["next_cursor"]) == (2, None)
    reserved = (await client.get("/orders", params={"customer_id": customer, "status": "RESERVED"})).json()
    assert [o["order_id"] for o in reserved["items"]] == [b]
    assert reserved["total"] == 1


async def test_a_cursor_walk_sees_each_order_once_while_orders_arrive(client: httpx.AsyncClient) -> None:
    customer = f"c-{uuid.uuid4().hex[:8]}"
    before = {(await create(client, customer_id=customer))["order_id"] for _ in range(7)}
    seen: list[str] = []
    arrived: set[str] = set()
    params: dict[str, Any] = {"customer_id": customer, "limit": 2}
    while True:
        page = (await client.get("/orders", params=params)).json()
        assert page["limit"] == 2
        seen += [o["order_id"] for o in page["items"]]
        # An order placed between two pages shifts every offset page by one; a cursor page not at all.
        arrived.add((await create(client, customer_id=customer))["order_id"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert len(seen) == len(set(seen)), f"duplicates: {seen}"
    assert set(seen) == before
    assert not arrived & set(seen)
    # offset still works, for callers that page that way
    first = (await client.get("/orders", params={"customer_id": customer, "limit": 3, "offset": 3})).json()
    assert (first["offset"], len(first["items"]), first["total"]) == (3, 3, len(before | arrived))


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "bm90IGpzb24",  # base64 of "not json"
        base64.urlsafe_b64encode(b'{"v": 1, "t": "2026-01-01T00:00:00+00:00"}').decode(),
        base64.urlsafe_b64encode(b'{"v": 1, "t": "2026-01-01T00:00:00", "id": "a"}').decode(),
        base64.urlsafe_b64encode(b'{"v": 1, "t": "yesterday", "id": "a"}').decode(),
        base64.urlsafe_b64encode(b'{"v": 1, "t": "2026-01-01T00:00:00+00:00", "id": "a\\u0000"}').decode(),
        base64.urlsafe_b64encode(b'{"v": 2, "t": "2026-01-01T00:00:00+00:00", "id": "a"}').decode(),
        "A" * 300,
    ],
)
async def test_a_cursor_not_given_out_is_422(client: httpx.AsyncClient, cursor: str) -> None:
    resp = await client.get("/orders", params={"cursor": cursor})
    assert resp.status_code == 422, resp.text
    assert resp.json()["type"] in {"InvalidCursor", "ValidationError"}


def test_state_machine_table() -> None:
    assert can_move(OrderStatus.PACKED, OrderStatus.CANCELLED)
    assert not can_move(OrderStatus.SHIPPED, OrderStatus.CANCELLED)
    assert not can_move(OrderStatus.CANCELLED, OrderStatus.RESERVED)
    assert not can_move(OrderStatus.PENDING, OrderStatus.AWAITING_WAVE)


async def test_racing_transitions_record_one_change(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("orders")
    async with committing_client(create_app, "orders", url) as client:
        order_id = (await create(client))["order_id"]
        results = await asyncio.gather(*(move(client, order_id, "RESERVED") for _ in range(8)))
        assert {r.status_code for r in results} == {200}
        history = (await client.get(f"/orders/{order_id}")).json()["history"]
        assert [h["to_status"] for h in history] == ["PENDING", "RESERVED"]

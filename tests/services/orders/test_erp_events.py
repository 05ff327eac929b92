"""The ERP's sales-order events in orders: recorded once per event id, newest wins, unknown orders kept aside."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from common.settings import asyncpg_url
from services.orders.app import create_app
from tests.conftest import FreshDatabase, ServiceDatabases
from tests.services.orders.test_orders import create
from tests.support import committing_client, rolled_back_client

T0 = datetime(2027, 1, 12, 9, 0, tzinfo=UTC)


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["orders"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "orders", database_url) as (client, _):
        yield client


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def event(order_id: str, status: str, seconds: float, *, event_id: str | None = None) -> dict[str, Any]:
    """As the gateway hands it over: the envelope, the order id and status it read, the event as received."""
    event_id = event_id or str(uuid.uuid4())
    data = {"SalesOrder": "0000500001", "PurchaseOrderByCustomer": order_id, "OverallStatus": status}
    return {
        "event_id": event_id,
        "type": "SalesOrderStatusChanged",
        "object_id": "0000500001",
        "occurred_at": at(seconds),
        "order_id": order_id,
        "status": status,
        "body": {
            "event_id": event_id,
            "type": "SalesOrderStatusChanged",
            "object_id": "0000500001",
            "occurred_at": at(seconds),
            "data": {**data, "LastChangedAt": at(seconds)},
        },
    }


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/erp-events", json=body)
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


async def test_the_newest_status_applies_once_and_older_ones_are_stale(client: httpx.AsyncClient) -> None:
    order_id = (await create(client))["order_id"]
    hold = event(order_id, "CREDIT_HOLD", 10)
    first = await post(client, hold)
    assert first == {
        "event_id": hold["event_id"],
        "type": "SalesOrderStatusChanged",
        "object_id": "0000500001",
        "result": "applied",
        "status": "applied",
        "reason": None,
        "order_id": order_id,
        "erp_status": "CREDIT_HOLD",
        "signal": True,
        "forwarded": False,
    }
    # Delivered twice: recorded once, the first outcome kept (its workflow is still to hear of it).
    again = await post(client, hold)
    assert (again["result"], again["status"], again["signal"], again["forwarded"]) == (
        "duplicate",
        "applied",
        True,
        False,
    )
    # Out of order: the OPEN that came before the hold arrives late and changes nothing.
    late = await post(client, event(order_id, "OPEN", 5))
    assert (late["result"], late["erp_status"], late["signal"]) == ("stale", "CREDIT_HOLD", False)
    same_time = await post(client, event(order_id, "OPEN", 10))
    assert same_time["result"] == "stale"
    newer = await post(client, event(order_id, "OPEN", 20))
    assert (newer["result"], newer["erp_status"]) == ("applied", "OPEN")

    stale = (await client.get("/erp-events", params={"status": "stale"})).json()
    assert {e["event_id"] for e in stale["items"]} >= {late["event_id"], same_time["event_id"]}


async def test_an_unknown_order_is_a_dead_letter_kept_with_its_body(client: httpx.AsyncClient) -> None:
    lost = event("no-such-order", "CANCELLED", 1)
    answer = await post(client, lost)
    assert (answer["result"], answer["status"], answer["reason"], answer["signal"], answer["erp_status"]) == (
        "dead_letter",
        "dead_letter",
        "UnknownOrder",
        False,
        None,
    )
    assert (await post(client, lost))["result"] == "duplicate"
    # A PurchaseOrderByCustomer that could never be a PakLog order id is just as lost, not an error.
    odd = await post(client, event("ordered by phone: #12", "OPEN", 2))
    assert (odd["result"], odd["reason"]) == ("dead_letter", "UnknownOrder")

    page = (await client.get("/erp-events", params={"status": "dead_letter", "limit": 1})).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (2, 1, 0, 1)
    assert page["items"][0]["event_id"] == odd["event_id"]  # newest received first
    second = (await client.get("/erp-events", params={"status": "dead_letter", "limit": 1, "offset": 1})).json()
    kept = second["items"][0]
    assert (kept["event_id"], kept["object_id"], kept["reason"]) == (lost["event_id"], "0000500001", "UnknownOrder")
    assert kept["body"] == lost["body"]
    assert (await client.get("/erp-events", params={"status": "lost"})).status_code == 422


async def test_the_same_id_with_another_body_is_409(client: httpx.AsyncClient) -> None:
    order_id = (await create(client))["order_id"]
    first = event(order_id, "OPEN", 1)
    await post(client, first)
    other = event(order_id, "CANCELLED", 2, event_id=first["event_id"])
    resp = await client.post("/erp-events", json=other)
    assert (resp.status_code, resp.json()["type"]) == (409, "EventMismatch")


async def test_forwarded_is_remembered_and_a_repeat_then_asks_for_no_signal(client: httpx.AsyncClient) -> None:
    order_id = (await create(client))["order_id"]
    cancelled = event(order_id, "CANCELLED", 1)
    await post(client, cancelled)
    marked = await client.post(f"/erp-events/{cancelled['event_id']}/forwarded")
    assert marked.json() == {"event_id": cancelled["event_id"], "forwarded": True}
    assert (await client.post(f"/erp-events/{cancelled['event_id']}/forwarded")).status_code == 200
    repeat = await post(client, cancelled)
    assert (repeat["result"], repeat["forwarded"]) == ("duplicate", True)
    missing = await client.post(f"/erp-events/{uuid.uuid4()}/forwarded")
    assert (missing.status_code, missing.json()["type"]) == (404, "EventNotFound")


@pytest.mark.parametrize(
    "change",
    [
        {"status": "credit hold"},
        {"occurred_at": "2027-01-12T09:00:00"},  # no offset
        {"event_id": "has spaces"},
        {"type": "MaterialChanged"},
        {"extra": 1},
        {"order_id": ""},
    ],
)
async def test_malformed_events_are_422(client: httpx.AsyncClient, change: dict[str, Any]) -> None:
    resp = await client.post("/erp-events", json={**event("o-1", "OPEN", 1), **change})
    assert (resp.status_code, resp.json()["type"]) == (422, "ValidationError")


async def test_concurrent_deliveries_apply_once_and_the_newest_wins(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("orders")
    async with committing_client(create_app, "orders", url) as client:
        order_id = (await create(client))["order_id"]
        twice = event(order_id, "CREDIT_HOLD", 30)
        # The same event eight times, and older and newer ones of the same order, all at once.
        bodies = [twice] * 8 + [event(order_id, "OPEN", s) for s in (10, 20, 40, 25)]
        answers = await asyncio.gather(*(client.post("/erp-events", json=b) for b in bodies))
        assert {a.status_code for a in answers} == {200}
        results = [a.json()["result"] for a in answers[:8]]
        assert results.count("duplicate") == 7
        assert results.count("duplicate") + results.count("applied") + results.count("stale") == 8

    db = await asyncpg.connect(asyncpg_url(url).replace("+asyncpg", ""))
    try:
        status, status_at = await db.fetchrow(
            "SELECT erp_status, erp_status_at FROM orders WHERE order_id = $1", order_id
        )
        recorded = await db.fetchval("SELECT count(*) FROM erp_events")
    finally:
        await db.close()
    assert (status, status_at) == ("OPEN", T0 + timedelta(seconds=40))
    assert recorded == 5

"""The ERP's CustomerChanged events in identity: once per event id, newest wins, the watermark untouched."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.identity.app import create_app
from tests.conftest import ServiceDatabases
from tests.services.identity.test_customers import at, customer, number, one, post
from tests.support import rolled_back_client


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["identity"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "identity", database_url) as (client, _):
        yield client


def event(customer_number: str, seconds: float, *, event_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    event_id = event_id or str(uuid.uuid4())
    item = customer(customer_number, seconds, **overrides)
    data = {"Customer": customer_number, "CustomerName": item["name"]}
    return {
        "event_id": event_id,
        "type": "CustomerChanged",
        "object_id": customer_number,
        "occurred_at": at(seconds),
        "customer": item,
        "body": {
            "event_id": event_id,
            "type": "CustomerChanged",
            "object_id": customer_number,
            "occurred_at": at(seconds),
            "data": data,
        },
    }


async def deliver(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    resp = await client.post("/erp/events", json=body)
    assert resp.status_code == 200, resp.text
    result: str = resp.json()["result"]
    return result


async def test_customer_events_apply_once_newest_wins_and_a_new_customer_is_created(client: httpx.AsyncClient) -> None:
    code = number()
    blocked = event(code, 20, credit_blocked=True, name="Blocked Buyer")
    assert await deliver(client, blocked) == "applied"  # a customer the read model did not have yet
    assert (await one(client, code))["credit_blocked"] is True
    assert await deliver(client, blocked) == "duplicate"
    assert await deliver(client, event(code, 10, credit_blocked=False)) == "stale"  # came late
    assert (await one(client, code))["credit_blocked"] is True
    assert await deliver(client, event(code, 30, credit_blocked=False)) == "applied"
    assert (await one(client, code))["credit_blocked"] is False


async def test_events_and_pages_never_undo_each_other_and_the_watermark_stays(client: httpx.AsyncClient) -> None:
    code = number()
    await post(client, [customer(code, 30, name="From the page")])
    before = (await client.get("/erp/watermarks")).json()["customers"]
    assert await deliver(client, event(code, 20, name="Overtaken")) == "stale"
    assert await deliver(client, event(code, 40, name="From the event")) == "applied"
    assert (await post(client, [customer(code, 35, name="A late page")]))[2] == 1  # unchanged
    assert (await one(client, code))["name"] == "From the event"
    after = (await client.get("/erp/watermarks")).json()["customers"]
    assert (after["changed_at"], after["key"]) != (at(40), code)
    assert after["changed_at"] == at(35)
    assert after["rows"] == before["rows"] + 1
    stale = (await client.get("/erp/events", params={"status": "stale"})).json()
    assert stale["total"] == 1


async def test_malformed_customer_events_are_422_and_a_reused_id_409(client: httpx.AsyncClient) -> None:
    code = number()
    mismatch = {**event(code, 1), "object_id": number()}
    resp = await client.post("/erp/events", json=mismatch)
    assert (resp.status_code, resp.json()["type"]) == (422, "ValidationError")
    first = event(code, 1)
    assert await deliver(client, first) == "applied"
    resp = await client.post("/erp/events", json=event(code, 2, event_id=first["event_id"]))
    assert (resp.status_code, resp.json()["type"]) == (409, "EventMismatch")

"""Notifications: the shipping templates (order_shipped, order_short_shipped) through the service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.notifications.app import create_app
from tests.conftest import ServiceDatabases
from tests.services.notifications.test_notifications import confirmed, order_id
from tests.support import rolled_back_client


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["notifications"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "notifications", database_url) as (client, _):
        yield client


async def test_order_shipped_names_the_carrier_and_tracking_code(client: httpx.AsyncClient) -> None:
    oid = order_id()
    context = {"order_id": oid, "name": "Alice", "tracking_code": "PN123456789012", "carrier": "PARCELNET"}
    resp = await client.post("/messages", json=confirmed(oid, template="order_shipped", context=context))
    assert resp.status_code == 201, resp.text
    message = resp.json()
    assert message["subject"] == f"Your PakLog order {oid} is on its way"
    assert "PARCELNET" in message["body"]
    assert "PN123456789012" in message["body"]
    assert message["status"] == "SENT"


async def test_order_short_shipped_names_the_sku_and_quantities(client: httpx.AsyncClient) -> None:
    oid = order_id()
    context = {"order_id": oid, "sku": "MUG-RED", "ordered": 3, "shipped": 1}
    resp = await client.post("/messages", json=confirmed(oid, template="order_short_shipped", context=context))
    assert resp.status_code == 201, resp.text
    body = resp.json()["body"]
    assert "3 x MUG-RED" in body
    assert "only 1" in body
    assert "{" not in body  # every placeholder was filled

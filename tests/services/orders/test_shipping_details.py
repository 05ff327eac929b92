"""Orders: what shipped (tracking code, carrier, shipped lines) and the address change until packing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.orders.app import create_app
from tests.conftest import ServiceDatabases
from tests.services.orders.test_orders import FORWARD, create, move
from tests.support import rolled_back_client

NEW_ADDRESS = {"name": "Alice B", "line1": "2 Other Street", "city": "Hamburg", "postal_code": "20095", "country": "DE"}


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["orders"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "orders", database_url) as (client, _):
        yield client


async def packed(client: httpx.AsyncClient, **overrides: Any) -> str:
    order_id: str = (await create(client, **overrides))["order_id"]
    for status in FORWARD[: FORWARD.index("PACKED") + 1]:
        assert (await move(client, order_id, status)).status_code == 200
    return order_id


async def ship(client: httpx.AsyncClient, order_id: str, key: str | None = None, **details: Any) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post(f"/orders/{order_id}/transition", json={"status": "SHIPPED", **details}, headers=headers)


async def test_shipping_details_are_null_until_shipped(client: httpx.AsyncClient) -> None:
    order = await create(client)
    assert (order["tracking_code"], order["carrier"], order["shipped_lines"]) == (None, None, None)
    order_id = await packed(client)
    got = (await client.get(f"/orders/{order_id}")).json()
    assert (got["tracking_code"], got["carrier"], got["shipped_lines"]) == (None, None, None)


async def test_shipped_records_tracking_code_carrier_and_short_shipped_lines(client: httpx.AsyncClient) -> None:
    order_id = await packed(client)
    lines = [{"sku": "MUG-RED", "quantity": 1}, {"sku": "PEN-BLK", "quantity": 1}]
    key = f"order-{order_id}:ship"
    resp = await ship(
        client, order_id, key=key, tracking_code="PN123456789012", carrier="PARCELNET", shipped_lines=lines
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["status"], body["tracking_code"], body["carrier"]) == ("SHIPPED", "PN123456789012", "PARCELNET")
    assert body["shipped_lines"] == lines
    got = (await client.get(f"/orders/{order_id}")).json()
    assert (got["tracking_code"], got["shipped_lines"]) == ("PN123456789012", lines)
    assert [h["to_status"] for h in got["history"]][-1] == "SHIPPED"
    replay = await ship(
        client, order_id, key=key, tracking_code="PN123456789012", carrier="PARCELNET", shipped_lines=lines
    )
    assert (replay.headers["Idempotent-Replayed"], replay.json()) == ("true", body)
    # Another request to ship it again changes nothing that was recorded.
    again = await ship(client, order_id, tracking_code="SW000", carrier="SWIFT")
    assert (again.status_code, again.json()["tracking_code"]) == (200, "PN123456789012")
    history = (await client.get(f"/orders/{order_id}")).json()["history"]
    assert [h["to_status"] for h in history].count("SHIPPED") == 1


async def test_shipped_without_lines_means_everything_ordered_shipped(client: httpx.AsyncClient) -> None:
    lines = [
        {"sku": "MUG-RED", "quantity": 2, "unit_price_cents": 1200},
        {"sku": "PEN-BLK", "quantity": 1, "unit_price_cents": 300},
        {"sku": "MUG-RED", "quantity": 1, "unit_price_cents": 1200},
    ]
    order_id = await packed(client, lines=lines)
    resp = await ship(client, order_id, tracking_code="SW1", carrier="SWIFT")
    assert resp.json()["shipped_lines"] == [{"sku": "MUG-RED", "quantity": 3}, {"sku": "PEN-BLK", "quantity": 1}]
    plain = await packed(client)
    assert (await ship(client, plain)).json()["shipped_lines"] == [
        {"sku": "MUG-RED", "quantity": 2},
        {"sku": "PEN-BLK", "quantity": 1},
    ]


@pytest.mark.parametrize(
    "lines",
    [[{"sku": "MUG-RED", "quantity": 3}], [{"sku": "CAP-GRN", "quantity": 1}]],
)
async def test_shipped_lines_must_match_the_order(client: httpx.AsyncClient, lines: list[dict[str, Any]]) -> None:
    order_id = await packed(client)
    resp = await ship(client, order_id, shipped_lines=lines)
    assert (resp.status_code, resp.json()["type"]) == (422, "ShippedLinesMismatch")
    assert (await client.get(f"/orders/{order_id}")).json()["status"] == "PACKED"


async def test_shipping_details_go_only_with_shipped(client: httpx.AsyncClient) -> None:
    order_id = (await create(client))["order_id"]
    resp = await client.post(f"/orders/{order_id}/transition", json={"status": "RESERVED", "tracking_code": "SW1"})
    assert (resp.status_code, resp.json()["type"]) == (422, "ValidationError")
    twice = await ship(client, order_id, shipped_lines=[{"sku": "MUG-RED", "quantity": 1}] * 2)
    assert twice.status_code == 422
    early = await ship(client, order_id, tracking_code="SW1", carrier="SWIFT")
    assert (early.status_code, early.json()["type"]) == (409, "IllegalTransition")


async def test_the_address_changes_until_packed(client: httpx.AsyncClient) -> None:
    order_id = (await create(client))["order_id"]
    for status in FORWARD[: FORWARD.index("PICKING") + 1]:
        await move(client, order_id, status)
    changed = await client.put(f"/orders/{order_id}/shipping-address", json={"shipping_address": NEW_ADDRESS})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["shipping_address"], changed.json()["status"]) == (NEW_ADDRESS, "PICKING")
    again = await client.put(f"/orders/{order_id}/shipping-address", json={"shipping_address": NEW_ADDRESS})
    assert again.json() == changed.json()  # the same address again changes nothing
    assert (await client.get(f"/orders/{order_id}")).json()["shipping_address"] == NEW_ADDRESS
    await move(client, order_id, "PACKED")
    locked = await client.put(f"/orders/{order_id}/shipping-address", json={"shipping_address": NEW_ADDRESS})
    assert (locked.status_code, locked.json()["type"], locked.json()["status"]) == (409, "AddressLocked", "PACKED")
    missing = await client.put("/orders/nope/shipping-address", json={"shipping_address": NEW_ADDRESS})
    assert (missing.status_code, missing.json()["type"]) == (404, "OrderNotFound")
    bad = await client.put(f"/orders/{order_id}/shipping-address", json={"shipping_address": {"name": "x"}})
    assert bad.status_code == 422


async def test_a_cancelled_order_keeps_its_address(client: httpx.AsyncClient) -> None:
    order_id = (await create(client))["order_id"]
    await client.post(f"/orders/{order_id}/cancel", json={"reason": "CUSTOMER_CANCELLED"})
    locked = await client.put(f"/orders/{order_id}/shipping-address", json={"shipping_address": NEW_ADDRESS})
    assert (locked.status_code, locked.json()["type"]) == (409, "AddressLocked")

"""Orders after the dock: DELIVERED is final; a failed delivery cancels a SHIPPED order (DELIVERY_FAILED only)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from common.vocabulary import CancelReason, OrderStatus
from services.orders.app import create_app
from services.orders.service import can_move
from tests.conftest import FreshDatabase, ServiceDatabases
from tests.services.orders.test_orders import FORWARD, create, move
from tests.services.orders.test_shipping_details import NEW_ADDRESS, packed, ship
from tests.support import committing_client, rolled_back_client

OTHER_REASONS = [r.value for r in CancelReason if r != CancelReason.DELIVERY_FAILED]


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["orders"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "orders", database_url) as (client, _):
        yield client


async def shipped(client: httpx.AsyncClient) -> str:
    order_id = await packed(client)
    resp = await ship(client, order_id, tracking_code="SW123456789012", carrier="SWIFT")
    assert resp.status_code == 200, resp.text
    return order_id


async def cancel(client: httpx.AsyncClient, order_id: str, reason: str, **extra: str) -> httpx.Response:
    return await client.post(f"/orders/{order_id}/cancel", json={"reason": reason, **extra})


async def test_shipped_to_delivered_is_recorded_once(client: httpx.AsyncClient) -> None:
    order_id = await shipped(client)
    resp = await move(client, order_id, "DELIVERED")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "DELIVERED"
    # What shipped stays on the delivered order.
    assert (resp.json()["tracking_code"], resp.json()["carrier"]) == ("SW123456789012", "SWIFT")
    assert (await move(client, order_id, "DELIVERED")).status_code == 200
    history = (await client.get(f"/orders/{order_id}")).json()["history"]
    assert [(h["from_status"], h["to_status"]) for h in history[-2:]] == [
        ("PACKED", "SHIPPED"),
        ("SHIPPED", "DELIVERED"),
    ]


async def test_delivered_only_from_shipped(client: httpx.AsyncClient) -> None:
    order_id = await packed(client)
    resp = await move(client, order_id, "DELIVERED")
    assert (resp.status_code, resp.json()["type"]) == (409, "IllegalTransition")
    assert (await client.get(f"/orders/{order_id}")).json()["status"] == "PACKED"


async def test_a_failed_delivery_cancels_a_shipped_order(client: httpx.AsyncClient) -> None:
    order_id = await shipped(client)
    resp = await cancel(client, order_id, "DELIVERY_FAILED", requested_by="carrier")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["status"], body["cancel_reason"]) == ("CANCELLED", "DELIVERY_FAILED")
    # The order still shows what went out with the carrier.
    assert (body["tracking_code"], body["carrier"]) == ("SW123456789012", "SWIFT")
    assert body["shipped_lines"] == [{"sku": "MUG-RED", "quantity": 2}, {"sku": "PEN-BLK", "quantity": 1}]
    history = (await client.get(f"/orders/{order_id}")).json()["history"]
    last = history[-1]
    assert (last["from_status"], last["to_status"], last["reason"], last["actor"]) == (
        "SHIPPED",
        "CANCELLED",
        "DELIVERY_FAILED",
        "carrier",
    )


async def test_a_repeated_delivery_failed_cancel_changes_nothing(client: httpx.AsyncClient) -> None:
    order_id = await shipped(client)
    first = await cancel(client, order_id, "DELIVERY_FAILED")
    before = (await client.get(f"/orders/{order_id}")).json()
    again = await cancel(client, order_id, "DELIVERY_FAILED")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert (await client.get(f"/orders/{order_id}")).json() == before


async def test_a_delivery_failed_cancel_replays_under_its_key(client: httpx.AsyncClient) -> None:
    order_id = await shipped(client)
    headers = {"Idempotency-Key": f"order-{order_id}:cancel-delivery"}
    body = {"reason": "DELIVERY_FAILED", "requested_by": "carrier"}
    first = await client.post(f"/orders/{order_id}/cancel", json=body, headers=headers)
    replay = await client.post(f"/orders/{order_id}/cancel", json=body, headers=headers)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    other = await client.post(f"/orders/{order_id}/cancel", json={"reason": "DELIVERY_FAILED"}, headers=headers)
    assert (other.status_code, other.json()["type"]) == (409, "IdempotencyKeyReused")


@pytest.mark.parametrize("reason", OTHER_REASONS)
async def test_a_shipped_order_refuses_every_other_cancel_reason(client: httpx.AsyncClient, reason: str) -> None:
    order_id = await shipped(client)
    before = (await client.get(f"/orders/{order_id}")).json()
    resp = await cancel(client, order_id, reason)
    assert (resp.status_code, resp.json()["type"]) == (409, "IllegalTransition")
    assert (resp.json()["status"], resp.json()["requested"]) == ("SHIPPED", "CANCELLED")
    assert (await client.get(f"/orders/{order_id}")).json() == before


@pytest.mark.parametrize("reason", ["DELIVERY_FAILED", "CUSTOMER_CANCELLED"])
async def test_delivered_stays_final(client: httpx.AsyncClient, reason: str) -> None:
    order_id = await shipped(client)
    await move(client, order_id, "DELIVERED")
    before = (await client.get(f"/orders/{order_id}")).json()
    resp = await cancel(client, order_id, reason)
    assert (resp.status_code, resp.json()["type"], resp.json()["status"]) == (409, "IllegalTransition", "DELIVERED")
    for status in ("SHIPPED", "CANCELLED"):
        assert (await move(client, order_id, status)).status_code == 409
    assert (await client.get(f"/orders/{order_id}")).json() == before


async def test_a_cancelled_shipped_order_is_never_delivered_nor_readdressed(client: httpx.AsyncClient) -> None:
    order_id = await shipped(client)
    await cancel(client, order_id, "DELIVERY_FAILED")
    late = await move(client, order_id, "DELIVERED")
    assert (late.status_code, late.json()["type"], late.json()["status"]) == (409, "IllegalTransition", "CANCELLED")
    address = await client.put(f"/orders/{order_id}/shipping-address", json={"shipping_address": NEW_ADDRESS})
    assert (address.status_code, address.json()["type"], address.json()["status"]) == (
        409,
        "AddressLocked",
        "CANCELLED",
    )


async def test_the_address_stays_locked_once_shipped_or_delivered(client: httpx.AsyncClient) -> None:
    order_id = await shipped(client)
    change = {"shipping_address": NEW_ADDRESS}
    resp = await client.put(f"/orders/{order_id}/shipping-address", json=change)
    assert (resp.status_code, resp.json()["type"], resp.json()["status"]) == (409, "AddressLocked", "SHIPPED")
    await move(client, order_id, "DELIVERED")
    resp = await client.put(f"/orders/{order_id}/shipping-address", json=change)
    assert (resp.status_code, resp.json()["type"], resp.json()["status"]) == (409, "AddressLocked", "DELIVERED")


async def test_delivery_failed_before_shipping_is_an_ordinary_cancel(client: httpx.AsyncClient) -> None:
    order_id = (await create(client))["order_id"]
    for status in FORWARD[:3]:
        await move(client, order_id, status)
    resp = await cancel(client, order_id, "DELIVERY_FAILED")
    assert (resp.status_code, resp.json()["cancel_reason"]) == (200, "DELIVERY_FAILED")


def test_state_machine_after_shipping() -> None:
    assert can_move(OrderStatus.SHIPPED, OrderStatus.CANCELLED, CancelReason.DELIVERY_FAILED)
    assert not can_move(OrderStatus.SHIPPED, OrderStatus.CANCELLED)
    assert not can_move(OrderStatus.SHIPPED, OrderStatus.CANCELLED, CancelReason.CUSTOMER_CANCELLED)
    assert not can_move(OrderStatus.DELIVERED, OrderStatus.CANCELLED, CancelReason.DELIVERY_FAILED)
    assert can_move(OrderStatus.SHIPPED, OrderStatus.DELIVERED)
    assert not can_move(OrderStatus.DELIVERED, OrderStatus.SHIPPED)


async def test_delivered_and_delivery_failed_at_once_one_wins(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("orders")
    async with committing_client(create_app, "orders", url) as client:
        order_id = await shipped(client)
        delivered, cancelled = await asyncio.gather(
            move(client, order_id, "DELIVERED"), cancel(client, order_id, "DELIVERY_FAILED")
        )
        assert sorted([delivered.status_code, cancelled.status_code]) == [200, 409]
        final = (await client.get(f"/orders/{order_id}")).json()
        winner = "DELIVERED" if delivered.status_code == 200 else "CANCELLED"
        assert final["status"] == winner
        assert [h["to_status"] for h in final["history"]][-2:] == ["SHIPPED", winner]

"""Live order events (SSE) and checkout (``?wait=accepted``) on the real platform, through the gateway only."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

ADDRESS = {
    "name": "Alice Customer",
    "line1": "1 Example Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


def order_body(sku: str = "MUG-RED", card: str = "tok_visa") -> dict[str, Any]:
    return {"lines": [{"sku": sku, "quantity": 1}], "shipping_address": ADDRESS, "payment": {"card_token": card}}


async def events(
    http: httpx.AsyncClient, order_id: str, *, last_event_id: int | None = None, until: str | None = None
) -> list[tuple[str, str]]:
    """(id, status) of each event until the stream ends, or until one with status ``until``."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    seen: list[tuple[str, str]] = []
    event_id, status = "", ""
    async with http.stream("GET", f"/api/orders/{order_id}/events", headers=headers, timeout=60) as resp:
        assert resp.status_code == 200, await resp.aread()
        async for line in resp.aiter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                status = json.loads(line[6:])["status"]
            elif line == "" and status:  # an event ends at its blank line
                seen.append((event_id, status))
                if status == until:
                    return seen
                event_id, status = "", ""
    return seen


async def test_a_stream_sees_an_order_placed_and_cancelled_in_order_and_resumes(alice: httpx.AsyncClient) -> None:
    placed = await alice.post("/api/orders", json=order_body())
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    watching = asyncio.create_task(events(alice, order_id))  # open while the saga runs: live changes
    for _ in range(300):
        if (await alice.get(f"/api/orders/{order_id}")).json()["status"] == "AWAITING_WAVE":
            break
        await asyncio.sleep(0.1)
    cancelled = await alice.post(f"/api/orders/{order_id}/cancel")
    assert cancelled.status_code in (200, 202), cancelled.text
    seen = await asyncio.wait_for(watching, 60)  # CANCELLED ends the stream
    statuses = [status for _, status in seen]
    assert statuses == ["PENDING", "RESERVED", "PAYMENT_AUTHORIZED", "AWAITING_WAVE", "CANCELLED"]
    assert [event_id for event_id, _ in seen] == ["1", "2", "3", "4", "5"]
    # Resuming after the third change: the rest, nothing before it.
    assert await asyncio.wait_for(events(alice, order_id, last_event_id=3), 60) == [
        ("4", "AWAITING_WAVE"),
        ("5", "CANCELLED"),
    ]


async def test_checkout_answers_accepted_or_rejected_and_repeats(alice: httpx.AsyncClient) -> None:
    key = f"e2e-checkout-{uuid.uuid4().hex}"
    accepted = await alice.post(
        "/api/orders", params={"wait": "accepted"}, json=order_body(), headers={"Idempotency-Key": key}
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["status"] in ("PAYMENT_AUTHORIZED", "AWAITING_WAVE")
    assert accepted.json()["cancel_reason"] is None
    again = await alice.post(
        "/api/orders", params={"wait": "accepted"}, json=order_body(), headers={"Idempotency-Key": key}
    )
    assert again.status_code == 201
    assert again.json()["order_id"] == accepted.json()["order_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    declined = await alice.post("/api/orders", params={"wait": "accepted"}, json=order_body(card="tok_declined"))
    assert declined.status_code == 201, declined.text
    assert (declined.json()["status"], declined.json()["cancel_reason"]) == ("CANCELLED", "PAYMENT_DECLINED")


async def operator_changes(
    http: httpx.AsyncClient,
    opened: asyncio.Event,
    order_id: asyncio.Future[str],
    *,
    last_event_id: str | None = None,
) -> list[tuple[str, str]]:
    """(id, status) of the operator stream's changes of ``order_id`` (known once placed), until ``CANCELLED``."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    seen: list[tuple[str, str]] = []
    event_id, data = "", None
    params = {"customer": "alice"}
    async with http.stream("GET", "/api/orders/events", params=params, headers=headers, timeout=60) as resp:
        assert resp.status_code == 200, await resp.aread()
        opened.set()  # joined the feed: every change from now on comes
        async for line in resp.aiter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and data is not None:
                if data["order_id"] == await order_id:
                    seen.append((event_id, data["status"]))
                    if data["status"] == "CANCELLED":
                        return seen
                event_id, data = "", None
    raise AssertionError(f"the operator stream ended after {seen}")


async def test_an_operator_stream_sees_an_order_placed_and_cancelled_go_through_its_statuses(
    alice: httpx.AsyncClient, olivia: httpx.AsyncClient
) -> None:
    opened, order_id = asyncio.Event(), asyncio.get_running_loop().create_future()
    watching = asyncio.create_task(operator_changes(olivia, opened, order_id))
    await asyncio.wait_for(opened.wait(), 60)
    placed = await alice.post("/api/orders", params={"wait": "accepted"}, json=order_body())
    assert placed.status_code == 201, placed.text
    order_id.set_result(placed.json()["order_id"])
    for _ in range(300):
        if (await alice.get(f"/api/orders/{order_id.result()}")).json()["status"] == "AWAITING_WAVE":
            break
        await asyncio.sleep(0.1)
    cancelled = await alice.post(f"/api/orders/{order_id.result()}/cancel")
    assert cancelled.status_code in (200, 202), cancelled.text
    seen = await asyncio.wait_for(watching, 60)
    assert [status for _, status in seen] == ["PENDING", "RESERVED", "PAYMENT_AUTHORIZED", "AWAITING_WAVE", "CANCELLED"]
    # Resuming after the second change: the rest of them, none before.
    resumed = await asyncio.wait_for(operator_changes(olivia, asyncio.Event(), order_id, last_event_id=seen[1][0]), 60)
    assert resumed == seen[2:]
    # A customer may not open it.
    refused = await alice.get("/api/orders/events")
    assert (refused.status_code, refused.json()["type"]) == (403, "StaffOnly")

"""The platform driven only through the gateway; then every service's own state is checked."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client
from temporalio.service import RPCError

from common.service_auth import service_headers
from paklog.platform import LocalPlatform
from tests.e2e.conftest import login

pytestmark = pytest.mark.e2e

ADDRESS = {
    "name": "Alice Customer",
    "line1": "1 Example Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}
SETTLED = {"AWAITING_WAVE", "CANCELLED"}


def order_body(*lines: tuple[str, int], card: str = "tok_visa") -> dict[str, Any]:
    return {
        "lines": [{"sku": sku, "quantity": q} for sku, q in lines],
        "shipping_address": ADDRESS,
        "payment": {"card_token": card},
    }


async def settle(http: httpx.AsyncClient, order_id: str, wait_seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        resp = await http.get(f"/api/orders/{order_id}")
        if resp.status_code == 200 and resp.json()["status"] in SETTLED:
            body: dict[str, Any] = resp.json()
            return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"order {order_id} did not settle: {resp.status_code} {resp.text}")


async def place(http: httpx.AsyncClient, body: dict[str, Any], key: str | None = None) -> str:
    headers = {"Idempotency-Key": key} if key else {}
    resp = await http.post("/api/orders", json=body, headers=headers)
    assert resp.status_code == 202, resp.text
    accepted = resp.json()
    assert accepted["workflow_id"] == f"order-{accepted['order_id']}"
    order_id: str = accepted["order_id"]
    return order_id


async def stock(services: httpx.AsyncClient, platform: LocalPlatform, sku: str) -> tuple[int, int, int]:
    body = (await services.get(f"{platform.service_url('inventory')}/products/{sku}")).json()
    assert body["on_hand"] == body["available"] + body["reserved"]
    return body["on_hand"], body["available"], body["reserved"]


async def payments_of(services: httpx.AsyncClient, platform: LocalPlatform, order_id: str) -> list[dict[str, Any]]:
    resp = await services.get(f"{platform.service_url('payments')}/payments", params={"order_id": order_id})
    assert resp.status_code == 200
    result: list[dict[str, Any]] = resp.json()
    return result


async def messages_of(services: httpx.AsyncClient, platform: LocalPlatform, order_id: str) -> list[dict[str, Any]]:
    resp = await services.get(f"{platform.service_url('notifications')}/messages", params={"order_id": order_id})
    assert resp.status_code == 200
    result: list[dict[str, Any]] = resp.json()
    return result


async def test_catalogue_is_seeded(alice: httpx.AsyncClient) -> None:
    products = (await alice.get("/api/products")).json()
    skus = {p["sku"] for p in products["items"]}
    assert len(skus) >= 10
    assert {"MUG-RED", "TEE-BLK-M"} <= skus
    mug = (await alice.get("/api/products/MUG-RED")).json()
    assert set(mug) == {"sku", "name", "price_cents", "currency", "on_hand", "available", "reserved"}


async def test_happy_path_reserves_authorizes_and_notifies(
    platform: LocalPlatform, alice: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    before = await stock(services, platform, "TEE-BLK-M")
    order_id = await place(alice, order_body(("TEE-BLK-M", 2), ("MUG-RED", 1)))
    order = await settle(alice, order_id)
    assert order["status"] == "AWAITING_WAVE"
    assert order["cancel_reason"] is None
    assert order["payment_status"] == "AUTHORIZED"
    assert order["total_cents"] == 2 * 2500 + 1200
    assert [h["to_status"] for h in order["history"]] == ["PENDING", "RESERVED", "PAYMENT_AUTHORIZED", "AWAITING_WAVE"]
    on_hand, available, reserved = await stock(services, platform, "TEE-BLK-M")
    assert (on_hand, available, reserved) == (before[0], before[1] - 2, before[2] + 2)
    payments = await payments_of(services, platform, order_id)
    assert [p["status"] for p in payments] == ["AUTHORIZED"]
    assert payments[0]["amount_cents"] == 6200
    # The confirmation goes out right after AWAITING_WAVE is recorded: give it a moment.
    for _ in range(100):
        if messages := await messages_of(services, platform, order_id):
            break
        await asyncio.sleep(0.1)
    assert [(m["template"], m["recipient"]) for m in messages] == [("order_confirmed", "alice@example.com")]
    listed = (await alice.get("/api/orders")).json()
    assert order_id in {o["order_id"] for o in listed["items"]}


async def test_declined_card_rolls_everything_back(
    platform: LocalPlatform, alice: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    before = await stock(services, platform, "MUG-RED")
    order_id = await place(alice, order_body(("MUG-RED", 3), card="tok_declined"))
    order = await settle(alice, order_id)
    assert (order["status"], order["cancel_reason"]) == ("CANCELLED", "PAYMENT_DECLINED")
    assert order["payment_status"] == "DECLINED"
    assert await stock(services, platform, "MUG-RED") == before
    reservation = await services.get(f"{platform.service_url('inventory')}/reservations/{order_id}")
    assert reservation.json()["status"] == "RELEASED"
    payments = await payments_of(services, platform, order_id)
    assert all(p["status"] == "DECLINED" for p in payments)
    assert not any(op["operation"] == "capture" for p in payments for op in p["operations"])
    templates = [m["template"] for m in await messages_of(services, platform, order_id)]
    assert templates == ["order_cancelled"]


async def test_out_of_stock_cancels_before_any_payment(
    platform: LocalPlatform, alice: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    before = await stock(services, platform, "LAMP-DESK")
    order_id = await place(alice, order_body(("LAMP-DESK", before[1] + 1)))
    order = await settle(alice, order_id)
    assert (order["status"], order["cancel_reason"]) == ("CANCELLED", "OUT_OF_STOCK")
    assert await payments_of(services, platform, order_id) == []
    assert await stock(services, platform, "LAMP-DESK") == before


async def test_flaky_card_recovers_after_backoff(
    platform: LocalPlatform, alice: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    order_id = await place(alice, order_body(("NOTE-A5", 1), card="tok_flaky"))
    order = await settle(alice, order_id)
    assert order["status"] == "AWAITING_WAVE"
    payments = await payments_of(services, platform, order_id)
    assert [p["status"] for p in payments] == ["AUTHORIZED"]
    assert [op["operation"] for op in payments[0]["operations"]] == ["authorize"]


async def test_customer_cancel_runs_the_compensations(
    platform: LocalPlatform, alice: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    before = await stock(services, platform, "CAP-GRN")
    order_id = await place(alice, order_body(("CAP-GRN", 2)))
    assert (await settle(alice, order_id))["status"] == "AWAITING_WAVE"
    resp = await alice.post(f"/api/orders/{order_id}/cancel")
    assert resp.status_code == 200, resp.text
    cancelled = resp.json()
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("CANCELLED", "CUSTOMER_CANCELLED")
    undos = ["erp.cancel_sales_order", "payments.void", "inventory.release", "orders.cancel"]
    # Once the order went to the wave backlog (right after AWAITING_WAVE), it leaves it first.
    assert cancelled["compensations"] in (undos, ["warehouse.withdraw", *undos])
    order = (await alice.get(f"/api/orders/{order_id}")).json()
    assert (order["status"], order["payment_status"]) == ("CANCELLED", "VOIDED")
    assert await stock(services, platform, "CAP-GRN") == before
    again = await alice.post(f"/api/orders/{order_id}/cancel")
    assert again.status_code == 409
    templates = sorted(m["template"] for m in await messages_of(services, platform, order_id))
    assert templates == ["order_cancelled", "order_confirmed"]


async def test_idempotency_key_gives_one_order_and_one_workflow(
    platform: LocalPlatform, alice: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    key = f"e2e-{uuid.uuid4()}"
    body = order_body(("PEN-BLK", 1))
    before = await stock(services, platform, "PEN-BLK")
    first, second = await asyncio.gather(place(alice, body, key), place(alice, body, key))
    assert first == second
    await settle(alice, first)
    assert await stock(services, platform, "PEN-BLK") == (before[0], before[1] - 1, before[2] + 1)
    assert len(await payments_of(services, platform, first)) == 1
    reused = await alice.post("/api/orders", json=order_body(("PEN-BLK", 2)), headers={"Idempotency-Key": key})
    assert reused.status_code == 409
    assert reused.json()["type"] == "IdempotencyKeyReused"


@pytest.mark.parametrize(
    ("content", "status", "error_type"),
    [
        (b"{not json", 422, "ValidationError"),
        (b'{"lines": [], "shipping_address": {}, "payment": {}}', 422, "ValidationError"),
    ],
)
async def test_malformed_bodies_are_rejected(
    alice: httpx.AsyncClient, content: bytes, status: int, error_type: str
) -> None:
    resp = await alice.post("/api/orders", content=content, headers={"Content-Type": "application/json"})
    assert resp.status_code == status
    assert resp.json()["type"] == error_type


async def test_bad_orders_change_nothing(
    platform: LocalPlatform, alice: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    before_orders = (await alice.get("/api/orders", params={"limit": 1})).json()["total"]
    before_stock = await stock(services, platform, "MUG-RED")
    cases: list[tuple[dict[str, Any], int, str]] = [
        (order_body(("NOPE-404", 1)), 422, "UnknownSku"),
        (order_body(("MUG-RED", 0)), 422, "ValidationError"),
        (order_body(("MUG-RED", -2)), 422, "ValidationError"),
        (order_body(("MUG-RED", 1), card="not-a-token"), 422, "ValidationError"),
        ({**order_body(("MUG-RED", 1)), "extra": True}, 422, "ValidationError"),
    ]
    for body, status, error_type in cases:
        resp = await alice.post("/api/orders", json=body)
        assert (resp.status_code, resp.json()["type"]) == (status, error_type), resp.text
    huge = order_body(("MUG-RED", 1))
    huge["shipping_address"] = {**ADDRESS, "line1": "x" * 200_000}
    resp = await alice.post("/api/orders", json=huge)
    assert resp.status_code == 413
    assert resp.json()["type"] == "PayloadTooLarge"
    await asyncio.sleep(1)
    assert (await alice.get("/api/orders", params={"limit": 1})).json()["total"] == before_orders
    assert await stock(services, platform, "MUG-RED") == before_stock


async def test_tokens_and_roles(platform: LocalPlatform, alice: httpx.AsyncClient, olivia: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=platform.gateway_url) as anonymous:
        assert (await anonymous.get("/api/orders")).status_code == 401
        bad_login = await anonymous.post("/api/auth/token", data={"username": "alice", "password": "wrong"})
        assert bad_login.status_code == 401
        expired = jwt.encode(
            {
                "sub": "alice",
                "uid": "x",
                "role": "customer",
                "email": "a@example.com",
                "name": "A",
                "iss": "paklog-identity",
                "aud": "paklog",
                "iat": 1,
                "exp": 2,
            },
            platform.jwt_secret,
            algorithm="HS256",
        )
        resp = await anonymous.get("/api/orders", headers={"Authorization": f"Bearer {expired}"})
        assert resp.status_code == 401
        assert set(resp.json()) >= {"type", "detail"}
        garbage = await anonymous.get("/api/orders", headers={"Authorization": "Bearer not.a.token"})
        assert garbage.status_code == 401

    order_id = await place(alice, order_body(("BAG-TOTE", 1)))
    await settle(alice, order_id)
    # Operators see everyone's orders.
    assert (await olivia.get(f"/api/orders/{order_id}")).status_code == 200
    listed = (await olivia.get("/api/orders", params={"limit": 200})).json()["items"]
    assert order_id in {o["order_id"] for o in listed}

    # Another customer sees neither the order nor may cancel it.
    admin = await login(platform, "admin", "admin-pass")
    token = admin.headers["Authorization"]
    await admin.aclose()
    async with httpx.AsyncClient(timeout=30, headers=service_headers(platform.service_token)) as raw:
        bob = f"bob{uuid.uuid4().hex[:6]}"
        created = await raw.post(
            f"{platform.service_url('identity')}/users",
            json={
                "username": bob,
                "email": f"{bob}@example.com",
                "full_name": "Bob",
                "password": "bob-pass-123",
                "role": "customer",
            },
            headers={"Authorization": token},
        )
        assert created.status_code == 201, created.text
    bob_http = await login(platform, bob, "bob-pass-123")
    try:
        assert (await bob_http.get(f"/api/orders/{order_id}")).status_code == 404
        assert (await bob_http.post(f"/api/orders/{order_id}/cancel")).status_code == 404
        assert order_id not in {o["order_id"] for o in (await bob_http.get("/api/orders")).json()["items"]}
    finally:
        await bob_http.aclose()
    assert (await alice.get(f"/api/orders/{order_id}")).json()["status"] == "AWAITING_WAVE"


async def activity_started(client: Client, workflow_id: str, activity: str) -> bool:
    """Whether Temporal reports ``activity`` of the workflow started on a worker right now."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return False  # not started yet
    return any(
        pending.activity_type.name == activity and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        for pending in description.raw_description.pending_activities
    )


async def authorizing(services: httpx.AsyncClient, platform: LocalPlatform, order_id: str) -> bool:
    """Whether the order's authorization is at the card processor right now (its payment ``PENDING``)."""
    return any(p["status"] == "PENDING" for p in await payments_of(services, platform, order_id))


async def workflow_task_lost(client: Client, workflow_id: str) -> bool:
    """Whether a workflow task of the workflow timed out or failed (its worker died holding it)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return any(
        event.HasField("workflow_task_timed_out_event_attributes")
        or event.HasField("workflow_task_failed_event_attributes")
        for event in history.events
    )


async def activity_attempts(client: Client, workflow_id: str, activity: str) -> list[int]:
    """The attempt number of every start of ``activity`` in the workflow's history."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = {
        event.event_id
        for event in history.events
        if event.activity_task_scheduled_event_attributes.activity_type.name == activity
    }
    return [
        event.activity_task_started_event_attributes.attempt
        for event in history.events
        if event.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]


async def test_killing_the_worker_mid_flight_completes_each_order_once(
    platform: LocalPlatform, alice: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    temporal = await Client.connect(platform.temporal_address)
    before = await stock(services, platform, "BTL-STEEL")
    order_ids = [await place(alice, order_body(("BTL-STEEL", 1), card="tok_slow")) for _ in range(4)]
    # The kill must land while the authorizations run (tok_slow answers after 3 s). They are local
    # activities, inside the worker's open workflow task, so Temporal does not see them: the payments
    # service does. Wait until it holds every payment PENDING at the card processor, then kill at once.
    deadline = time.monotonic() + 30
    while not all([await authorizing(services, platform, oid) for oid in order_ids]):
        assert time.monotonic() < deadline, "authorizations never all ran at once"
        await asyncio.sleep(0.05)
    platform.kill("worker")
    platform.respawn_worker()
    orders = [await settle(alice, oid, wait_seconds=120) for oid in order_ids]
    assert {o["status"] for o in orders} == {"AWAITING_WAVE"}
    for oid in order_ids:
        # The workflow task that ran the steps died with the worker: Temporal timed it out, and the
        # next one, on the new worker, ran the steps again (each service answered its key once).
        assert await workflow_task_lost(temporal, f"order-{oid}")
        payments = await payments_of(services, platform, oid)
        assert len(payments) == 1
        assert [op["operation"] for op in payments[0]["operations"]] == ["authorize"]
        statuses = [h["to_status"] for h in (await alice.get(f"/api/orders/{oid}")).json()["history"]]
        assert statuses == ["PENDING", "RESERVED", "PAYMENT_AUTHORIZED", "AWAITING_WAVE"]
        assert len(await messages_of(services, platform, oid)) == 1
    assert await stock(services, platform, "BTL-STEEL") == (before[0], before[1] - 4, before[2] + 4)

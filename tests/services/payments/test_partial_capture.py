"""Payments: partial capture at shipment, the remainder released; never two captures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from services.payments.app import create_app
from tests.conftest import FreshDatabase, ServiceDatabases
from tests.services.payments.test_payments import authorize, oid, payments
from tests.support import committing_client, rolled_back_client


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["payments"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "payments", database_url) as (client, _):
        yield client


async def test_a_partial_capture_releases_the_remainder(client: httpx.AsyncClient) -> None:
    order_id = oid()
    await authorize(client, order_id, amount=5000)
    key = f"pps-{order_id}:capture"
    first = await client.post(
        "/payments/capture", json={"order_id": order_id, "amount_cents": 3800}, headers={"Idempotency-Key": key}
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["status"], body["amount_cents"], body["captured_cents"]) == ("CAPTURED", 5000, 3800)
    assert [(op["operation"], op["amount_cents"]) for op in body["operations"]] == [
        ("authorize", 5000),
        ("capture", 3800),
        ("release", 1200),
    ]
    replay = await client.post(
        "/payments/capture", json={"order_id": order_id, "amount_cents": 3800}, headers={"Idempotency-Key": key}
    )
    assert (replay.headers["Idempotent-Replayed"], replay.json()) == ("true", body)
    # Another request to capture answers the captured payment: never a second capture.
    again = await client.post("/payments/capture", json={"order_id": order_id, "amount_cents": 1000})
    assert again.json() == body
    # Refunds are bounded by what was captured, not by what was authorized.
    too_much = await client.post("/payments/refund", json={"order_id": order_id, "amount_cents": 3801})
    assert too_much.json()["type"] == "RefundExceedsCapture"
    refunded = await client.post("/payments/refund", json={"order_id": order_id, "amount_cents": 3800})
    assert refunded.json()["status"] == "REFUNDED"


async def test_a_capture_without_amount_takes_everything(client: httpx.AsyncClient) -> None:
    order_id = oid()
    await authorize(client, order_id, amount=5000)
    body = (await client.post("/payments/capture", json={"order_id": order_id})).json()
    assert body["captured_cents"] == 5000
    assert [op["operation"] for op in body["operations"]] == ["authorize", "capture"]


async def test_capturing_more_than_authorized_is_refused(client: httpx.AsyncClient) -> None:
    order_id = oid()
    await authorize(client, order_id, amount=5000)
    resp = await client.post("/payments/capture", json={"order_id": order_id, "amount_cents": 5001})
    assert (resp.status_code, resp.json()["type"]) == (422, "CaptureExceedsAuthorization")
    assert [p["status"] for p in await payments(client, order_id)] == ["AUTHORIZED"]
    for bad in (0, -1, "10"):
        assert (
            await client.post("/payments/capture", json={"order_id": order_id, "amount_cents": bad})
        ).status_code == 422


async def test_racing_partial_captures_capture_once(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("payments")
    async with committing_client(create_app, "payments", url) as client:
        order_id = oid()
        await authorize(client, order_id, amount=5000)
        results = await asyncio.gather(
            *(client.post("/payments/capture", json={"order_id": order_id, "amount_cents": 2000 + i}) for i in range(6))
        )
        assert {r.status_code for r in results} == {200}
        assert len({r.json()["captured_cents"] for r in results}) == 1
        ops = (await payments(client, order_id))[0]["operations"]
        assert [op["operation"] for op in ops] == ["authorize", "capture", "release"]
        assert ops[1]["amount_cents"] + ops[2]["amount_cents"] == 5000

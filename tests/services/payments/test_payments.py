from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.payments.app import create_app
from tests.conftest import FreshDatabase, ServiceDatabases
from tests.support import committing_client, rolled_back_client


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["payments"]


@pytest.fixture
async def client(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("PAKLOG_SLOW_CARD_SECONDS", "0.3")
    async with rolled_back_client(create_app, "payments", database_url) as (client, _):
        yield client


def oid() -> str:
    return uuid.uuid4().hex[:16]


async def authorize(
    client: httpx.AsyncClient, order_id: str, card: str = "tok_visa", amount: int = 5000, key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post(
        "/payments/authorize",
        json={"order_id": order_id, "amount_cents": amount, "currency": "EUR", "card_token": card},
        headers=headers,
    )


async def payments(client: httpx.AsyncClient, order_id: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = (await client.get("/payments", params={"order_id": order_id})).json()
    return result


async def test_visa_authorizes_and_records_the_ledger(client: httpx.AsyncClient) -> None:
    order_id = oid()
    resp = await authorize(client, order_id)
    assert resp.status_code == 201
    body = resp.json()
    assert (body["status"], body["amount_cents"], body["card_brand"]) == ("AUTHORIZED", 5000, "visa")
    assert [op["operation"] for op in body["operations"]] == ["authorize"]
    assert (await client.get(f"/payments/{body['payment_id']}")).json() == body


async def test_declined_is_402_and_recorded(client: httpx.AsyncClient) -> None:
    order_id = oid()
    resp = await authorize(client, order_id, "tok_declined")
    assert resp.status_code == 402
    assert resp.json()["type"] == "PaymentDeclined"
    assert resp.json()["payment"]["status"] == "DECLINED"
    listed = await payments(client, order_id)
    assert [(p["status"], p["operations"]) for p in listed] == [("DECLINED", [])]


async def test_declined_answer_is_replayed_for_the_same_key(client: httpx.AsyncClient) -> None:
    order_id = oid()
    key = f"order-{order_id}:authorize"
    first = await authorize(client, order_id, "tok_declined", key=key)
    second = await authorize(client, order_id, "tok_declined", key=key)
    assert (first.status_code, second.status_code) == (402, 402)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(await payments(client, order_id)) == 1


async def test_flaky_fails_twice_then_approves(client: httpx.AsyncClient) -> None:
    order_id = oid()
    key = f"order-{order_id}:authorize"
    codes = [(await authorize(client, order_id, "tok_flaky", key=key)).status_code for _ in range(3)]
    assert codes == [503, 503, 201]
    listed = await payments(client, order_id)
    assert [p["status"] for p in listed] == ["AUTHORIZED"]
    replay = await authorize(client, order_id, "tok_flaky", key=key)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"


async def test_flaky_failure_body_is_retryable_error(client: httpx.AsyncClient) -> None:
    resp = await authorize(client, oid(), "tok_flaky")
    assert resp.status_code == 503
    assert resp.json()["type"] == "ProcessorUnavailable"


async def test_slow_card_takes_its_time_then_approves(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    resp = await authorize(client, oid(), "tok_slow")
    assert resp.status_code == 201
    assert time.monotonic() - started >= 0.3


async def test_unknown_card_is_422(client: httpx.AsyncClient) -> None:
    order_id = oid()
    resp = await authorize(client, order_id, "tok_monopoly_money")
    assert resp.status_code == 422
    assert resp.json()["type"] == "UnknownCardToken"
    assert await payments(client, order_id) == []


async def test_a_second_authorize_never_charges_twice(client: httpx.AsyncClient) -> None:
    order_id = oid()
    first = await authorize(client, order_id, key="a")
    second = await authorize(client, order_id, key="b")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["payment_id"] == second.json()["payment_id"]
    assert len(await payments(client, order_id)) == 1
    different = await authorize(client, order_id, amount=1)
    assert different.status_code == 409


async def test_capture_once_then_refund_partially_and_fully(client: httpx.AsyncClient) -> None:
    order_id = oid()
    await authorize(client, order_id)
    first = await client.post("/payments/capture", json={"order_id": order_id})
    again = await client.post("/payments/capture", json={"order_id": order_id})
    assert first.json()["status"] == again.json()["status"] == "CAPTURED"
    assert [op["operation"] for op in again.json()["operations"]] == ["authorize", "capture"]
    part = await client.post("/payments/refund", json={"order_id": order_id, "amount_cents": 2000})
    assert (part.json()["status"], part.json()["refunded_cents"]) == ("PARTIALLY_REFUNDED", 2000)
    too_much = await client.post("/payments/refund", json={"order_id": order_id, "amount_cents": 3001})
    assert too_much.status_code == 422
    assert too_much.json()["type"] == "RefundExceedsCapture"
    rest = await client.post("/payments/refund", json={"order_id": order_id, "amount_cents": 3000})
    assert rest.json()["status"] == "REFUNDED"
    voided = await client.post("/payments/void", json={"order_id": order_id})
    assert voided.status_code == 409


async def test_void_is_safe_when_there_is_nothing_to_void(client: httpx.AsyncClient) -> None:
    nothing = await client.post("/payments/void", json={"order_id": oid()})
    assert nothing.status_code == 200
    assert nothing.json()["status"] is None
    declined_order = oid()
    await authorize(client, declined_order, "tok_declined")
    declined = await client.post("/payments/void", json={"order_id": declined_order})
    assert (declined.status_code, declined.json()["status"]) == (200, "DECLINED")


async def test_void_then_capture_is_refused(client: httpx.AsyncClient) -> None:
    order_id = oid()
    await authorize(client, order_id)
    voided = await client.post("/payments/void", json={"order_id": order_id})
    assert voided.json()["status"] == "VOIDED"
    twice = await client.post("/payments/void", json={"order_id": order_id})
    assert [op["operation"] for op in twice.json()["operations"]] == ["authorize", "void"]
    capture = await client.post("/payments/capture", json={"order_id": order_id})
    assert capture.status_code == 409
    assert (await client.post("/payments/capture", json={"order_id": oid()})).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"order_id": "x", "amount_cents": 0, "currency": "EUR", "card_token": "tok_visa"},
        {"order_id": "x", "amount_cents": -5, "currency": "EUR", "card_token": "tok_visa"},
        {"order_id": "x", "amount_cents": 5, "currency": "eur", "card_token": "tok_visa"},
        {"order_id": "x", "amount_cents": 5, "currency": "EUR"},
        {"order_id": "bad id!", "amount_cents": 5, "currency": "EUR", "card_token": "tok_visa"},
    ],
)
async def test_bad_input_is_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    resp = await client.post("/payments/authorize", json=body)
    assert resp.status_code == 422
    assert resp.json()["type"] == "ValidationError"


async def test_racing_authorizations_make_one_live_payment(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("payments")
    async with committing_client(create_app, "payments", url) as client:
        order_id = oid()
        results = await asyncio.gather(*(authorize(client, order_id, key=f"k{i}") for i in range(8)))
        assert sorted(r.status_code for r in results) == [200] * 7 + [201]
        assert len({r.json()["payment_id"] for r in results}) == 1
        captures = await asyncio.gather(
            *(client.post("/payments/capture", json={"order_id": order_id}) for _ in range(5))
        )
        assert {c.status_code for c in captures} == {200}
        ops = (await payments(client, order_id))[0]["operations"]
        assert [op["operation"] for op in ops] == ["authorize", "capture"]

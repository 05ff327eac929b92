from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.dialects.postgresql import insert

from common.idempotency import IDEMPOTENCY_LEASE, IdempotencyRecord, fingerprint
from common.settings import ServiceSettings
from services.payments.app import create_app
from services.payments.processor import Approved, Declined
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


def capturing(apps: list[FastAPI]) -> Callable[[ServiceSettings], FastAPI]:
    """``create_app`` that keeps the app, so a test can look at its simulated processor."""

    def make(settings: ServiceSettings) -> FastAPI:
        app = create_app(settings)
        apps.append(app)
        return app

    return make


async def test_void_before_authorize_leaves_a_tombstone(client: httpx.AsyncClient) -> None:
    order_id = oid()
    voided = await client.post("/payments/void", json={"order_id": order_id}, headers={"Idempotency-Key": "v"})
    assert (voided.status_code, voided.json()["status"]) == (200, None)
    late = await authorize(client, order_id, key=f"order-{order_id}:authorize")
    assert late.status_code == 409
    assert late.json()["type"] == "PaymentVoided"
    assert await payments(client, order_id) == []
    again = await client.post("/payments/void", json={"order_id": order_id}, headers={"Idempotency-Key": "v"})
    assert again.json() == voided.json()


async def test_authorize_after_a_void_is_refused(client: httpx.AsyncClient) -> None:
    order_id = oid()
    assert (await authorize(client, order_id, key="a1")).status_code == 201
    assert (await client.post("/payments/void", json={"order_id": order_id})).json()["status"] == "VOIDED"
    late = await authorize(client, order_id, key="a2")
    assert (late.status_code, late.json()["type"]) == (409, "PaymentVoided")
    assert [p["status"] for p in await payments(client, order_id)] == ["VOIDED"]


async def test_void_wins_over_a_slow_authorization(
    fresh_database: FreshDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAKLOG_SLOW_CARD_SECONDS", "1.5")
    url = await fresh_database("payments")
    apps: list[FastAPI] = []
    async with committing_client(capturing(apps), "payments", url) as client:
        order_id = oid()
        key = f"order-{order_id}:authorize"
        processor = apps[0].state.processor
        decide: Callable[[str, int], Awaitable[Approved | Declined]] = processor._decide
        answer = asyncio.Event()  # the processor answers only when the test says so

        async def held(card_token: str, attempt: int) -> Approved | Declined:
            await answer.wait()
            return await decide(card_token, attempt)

        processor._decide = held
        slow = asyncio.create_task(authorize(client, order_id, "tok_slow", key=key))
        done, _ = await asyncio.wait({slow}, timeout=0.3)
        assert not done  # the activity's client has given up; the service is still at it

        # The void does not wait for the processor: were it to, it would wait here until the timeout.
        voided = await asyncio.wait_for(client.post("/payments/void", json={"order_id": order_id}), timeout=30)
        assert not slow.done()
        assert (voided.status_code, voided.json()["status"]) == (200, "VOIDED")
        answer.set()

        late = await slow
        assert (late.status_code, late.json()["type"]) == (409, "PaymentVoided")
        retry = await authorize(client, order_id, "tok_slow", key=key)
        assert (retry.status_code, retry.json()["type"]) == (409, "PaymentVoided")
        listed = await payments(client, order_id)
        assert [(p["status"], p["operations"]) for p in listed] == [("VOIDED", [])]
        assert apps[0].state.processor.holds == {}  # the money is back on the card


async def test_twenty_slow_cards_do_not_exhaust_a_pool_of_two(fresh_database: FreshDatabase) -> None:
    """All twenty card calls are at the processor at once on a pool of two: none holds a connection through it.

    Each card call waits at a gate until all twenty have arrived. Were a
    connection held through the call, at most the pool's few could arrive and
    the gate's wait would run out (a 5xx, not twenty 201s).
    """
    cards = 20
    url = await fresh_database("payments")
    apps: list[FastAPI] = []
    async with committing_client(capturing(apps), "payments", url, pool_size=2) as client:
        processor = apps[0].state.processor
        decide: Callable[[str, int], Awaitable[Approved | Declined]] = processor._decide
        in_flight: list[int] = [0, 0]  # now, most at once
        everyone = asyncio.Event()

        async def gated(card_token: str, attempt: int) -> Approved | Declined:
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
            if in_flight[0] == cards:
                everyone.set()
            try:
                await asyncio.wait_for(everyone.wait(), timeout=30)
                return await decide(card_token, attempt)
            finally:
                in_flight[0] -= 1

        processor._decide = gated
        orders = [oid() for _ in range(cards)]
        results = await asyncio.gather(*(authorize(client, o, "tok_visa", key=f"order-{o}:authorize") for o in orders))
    assert [r.status_code for r in results] == [201] * cards
    assert in_flight == [0, cards]


async def test_a_retried_attempt_reuses_the_processor_key_and_holds_once(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("payments")
    apps: list[FastAPI] = []
    async with committing_client(capturing(apps), "payments", url) as client:
        order_id = oid()
        key = f"order-{order_id}:authorize"
        codes = [(await authorize(client, order_id, "tok_flaky", key=key)).status_code for _ in range(3)]
        assert codes == [503, 503, 201]
        racing = await asyncio.gather(*(authorize(client, order_id, "tok_flaky", key=f"k{i}") for i in range(5)))
        assert {r.status_code for r in racing} == {200}
        processor = apps[0].state.processor
        payment_id = racing[0].json()["payment_id"]
        assert processor.calls == [payment_id] * 3  # one key for every try of this payment
        assert processor.holds == {payment_id: 5000}


async def test_an_unfinished_claim_is_taken_over_after_its_lease(database_url: str) -> None:
    async with rolled_back_client(create_app, "payments", database_url) as (client, sessions):
        order_id = oid()
        stale, fresh = f"order-{order_id}:authorize", f"order-{order_id}:other"
        body = {"order_id": order_id, "amount_cents": 5000, "currency": "EUR", "card_token": "tok_visa"}
        async with sessions() as session, session.begin():
            # Claimed by an attempt that crashed between its phases, one long ago and one just now.
            for key, age in ((stale, IDEMPOTENCY_LEASE + timedelta(seconds=1)), (fresh, timedelta(0))):
                await session.exec(
                    insert(IdempotencyRecord.__table__).values(  # type: ignore[attr-defined]
                        key=key, fingerprint=fingerprint("authorize", body), created_at=datetime.now(UTC) - age
                    )
                )
        busy = await authorize(client, order_id, key=fresh)
        assert (busy.status_code, busy.json()["type"]) == (409, "IdempotencyKeyInProgress")
        taken_over = await authorize(client, order_id, key=stale)
        assert taken_over.status_code == 201
        replay = await authorize(client, order_id, key=stale)
        assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (201, "true")
        assert replay.json() == taken_over.json()

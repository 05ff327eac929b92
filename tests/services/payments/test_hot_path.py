"""The saga's payments calls stay cheap: few round trips, none through the ORM."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.payments.app import create_app
from tests.conftest import FreshDatabase
from tests.services.payments.test_payments import authorize, oid
from tests.services.round_trips import RoundTrips, counting_round_trips
from tests.support import committing_client


@pytest.fixture
def round_trips() -> Iterator[RoundTrips]:
    with counting_round_trips() as seen:
        yield seen


async def test_a_keyed_authorize_is_two_transactions_of_three_statements(
    fresh_database: FreshDatabase, round_trips: RoundTrips
) -> None:
    url = await fresh_database("payments")
    async with committing_client(create_app, "payments", url, pool_size=1) as client:
        # The connection's first use of a statement also sends asyncpg's one-off type look-ups.
        warm = oid()
        assert (await authorize(client, warm, key=f"order-{warm}:authorize")).status_code == 201
        order_id = oid()
        round_trips.clear()
        resp = await authorize(client, order_id, key=f"order-{order_id}:authorize")
        assert resp.status_code == 201, resp.text
        assert (resp.json()["status"], [op["operation"] for op in resp.json()["operations"]]) == (
            "AUTHORIZED",
            ["authorize"],
        )
        # claim, lock, start (tombstone, open payment, PENDING) | the card processor | lock, finish, store
        assert (round_trips.transactions, len(round_trips.work), round_trips.orm) == (2, 6, []), str(round_trips)
        assert round_trips.count == 10, str(round_trips)


async def test_capture_and_void_send_one_statement_of_work_after_the_lock(
    fresh_database: FreshDatabase, round_trips: RoundTrips
) -> None:
    url = await fresh_database("payments")
    async with committing_client(create_app, "payments", url, pool_size=1) as client:
        captured, voided = oid(), oid()
        for order_id in (captured, voided, oid()):
            assert (await authorize(client, order_id, key=f"order-{order_id}:authorize")).status_code == 201
        warm = oid()
        await authorize(client, warm, key=f"order-{warm}:authorize")
        await client.post("/payments/capture", json={"order_id": warm}, headers={"Idempotency-Key": f"{warm}:c"})
        await client.post("/payments/void", json={"order_id": warm}, headers={"Idempotency-Key": f"{warm}:v"})

        round_trips.clear()
        resp = await client.post(
            "/payments/capture",
            json={"order_id": captured, "amount_cents": 3000},
            headers={"Idempotency-Key": f"order-{captured}:capture"},
        )
        assert [op["operation"] for op in resp.json()["operations"]] == ["authorize", "capture", "release"]
        # claim, lock, capture (status, ledger rows, answer), store: one transaction
        assert (round_trips.transactions, len(round_trips.work), round_trips.orm) == (1, 4, []), str(round_trips)

        round_trips.clear()
        resp = await client.post(
            "/payments/void", json={"order_id": voided}, headers={"Idempotency-Key": f"order-{voided}:void"}
        )
        assert [op["operation"] for op in resp.json()["operations"]] == ["authorize", "void"]
        # claim, lock, void (tombstone, status, ledger row, answer) | the processor | store
        assert (round_trips.transactions, len(round_trips.work), round_trips.orm) == (2, 4, []), str(round_trips)

"""The saga's notifications stay cheap: few round trips, none through the ORM."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.notifications.app import create_app
from tests.conftest import FreshDatabase
from tests.services.notifications.test_notifications import confirmed, order_id
from tests.services.round_trips import RoundTrips, counting_round_trips
from tests.support import committing_client


@pytest.fixture
def round_trips() -> Iterator[RoundTrips]:
    with counting_round_trips() as seen:
        yield seen


async def test_a_keyed_send_is_two_transactions_of_two_statements(
    fresh_database: FreshDatabase, round_trips: RoundTrips
) -> None:
    url = await fresh_database("notifications")
    async with committing_client(create_app, "notifications", url, pool_size=1) as client:
        # The connection's first use of a statement also sends asyncpg's one-off type look-ups.
        warm = order_id()
        resp = await client.post("/messages", json=confirmed(warm), headers={"Idempotency-Key": f"order-{warm}:n"})
        assert resp.status_code == 201
        oid = order_id()
        round_trips.clear()
        resp = await client.post("/messages", json=confirmed(oid), headers={"Idempotency-Key": f"order-{oid}:n"})
        assert (resp.status_code, resp.json()["status"]) == (201, "SENT")
        # claim, record the message | the sender | record SENT, store
        assert (round_trips.transactions, len(round_trips.work), round_trips.orm) == (2, 4, []), str(round_trips)
        assert round_trips.count == 8, str(round_trips)

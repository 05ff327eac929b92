"""The stock-adjustment bin X-00-00-0: made by migration 0004, locked for good, never allocated, fed by ERP adjustments.

Its bin rows may go below zero (the ERP wrote off units a count has yet to
find); every other bin may not. ``POST /stock/adjustments`` applies each of
inventory's adjustment ids once, whoever carries it and however often.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common import migrations
from services.warehouse.app import create_app
from services.warehouse.models import AppliedAdjustment
from services.warehouse.seed import seed
from tests.conftest import FreshDatabase
from tests.services.round_trips import Statements
from tests.services.warehouse.factories import bins, enqueue, make_bin, make_location, new_sku, plan
from tests.support import committing_client, wait_for_lock_waiters

Sessions = async_sessionmaker[AsyncSession]
ADJ = "X-00-00-0"
# Inventory's ids are one sequence; every test takes ids of its own from a range no other test uses.
_next_id = iter(range(1_000_000, 2**40, 10_000))


def ids(n: int) -> list[int]:
    """``n`` adjustment ids no other test uses."""
    start = next(_next_id)
    return list(range(start, start + n))


def item(id_: int, sku: str, delta: int) -> dict[str, Any]:
    return {"id": id_, "sku": sku, "delta": delta}


async def adjust(client: httpx.AsyncClient, *items: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post("/stock/adjustments", json={"items": list(items)}, headers=headers)


async def applied(client: httpx.AsyncClient, *items: dict[str, Any]) -> dict[str, int]:
    resp = await adjust(client, *items)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def execute(sessions: Sessions, statement: str, **params: Any) -> None:
    async with sessions() as session, session.begin():
        await (await session.connection()).execute(text(statement), params)


async def totals(client: httpx.AsyncClient) -> dict[str, int]:
    return {t["sku"]: t["quantity"] for t in (await client.get("/stock/totals")).json()}


def pg_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


# --- the location -------------------------------------------------------------------------------------------------


async def test_the_adjustment_bin_is_a_locked_location_first_on_the_path(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    body = (await client.get(f"/locations/{ADJ}")).json()
    assert body == {
        "code": ADJ,
        "zone": "X",
        "aisle": 0,
        "rack": 0,
        "level": 0,
        "pick_seq": 0,
        "type": "ADJUST",
        "locked": True,
        "lock_reason": "stock-adjustment bin",
    }
    # The demo floor numbers its bins from 10 on: seeding beside the bin works and keeps it first.
    async with sessions() as session:
        assert await seed(session) >= 200
    locations = (await client.get("/locations", params={"limit": 500})).json()
    assert locations[0]["code"] == ADJ
    assert [loc["code"] for loc in locations].count(ADJ) == 1
    assert [loc["code"] for loc in (await client.get("/locations", params={"zone": "X"})).json()] == [ADJ]


async def test_lock_and_unlock_of_the_adjustment_bin_are_refused(client: httpx.AsyncClient) -> None:
    for resp in (
        await client.post(f"/locations/{ADJ}/unlock"),
        await client.post(f"/locations/{ADJ}/lock", json={"reason": "cycle count"}),
        await client.post(f"/locations/{ADJ}/unlock", headers={"Idempotency-Key": "adj-unlock"}),
    ):
        assert (resp.status_code, resp.json()["type"]) == (409, "AdjustmentBin")
    assert (await client.get(f"/locations/{ADJ}")).json()["lock_reason"] == "stock-adjustment bin"


# --- the table's checks -------------------------------------------------------------------------------------------


async def test_only_the_adjustment_bin_may_go_below_zero(sessions: Sessions) -> None:
    sku = new_sku()
    loc = await make_location(sessions, 10)
    await make_bin(sessions, loc, sku, 3)
    with pytest.raises(IntegrityError, match="violates check constraint"):
        await execute(
            sessions, "UPDATE bin_stock SET quantity = -1 WHERE location = :loc AND sku = :sku", loc=loc, sku=sku
        )
    await execute(
        sessions,
        "INSERT INTO bin_stock (location, sku, received_at, quantity, allocated) VALUES (:loc, :sku, now(), -7, 0)",
        loc=ADJ,
        sku=sku,
    )


async def test_the_adjustment_bin_never_holds_an_allocation(sessions: Sessions) -> None:
    sku = new_sku()
    await make_bin(sessions, ADJ, sku, 5)
    loc = await make_location(sessions, 10)
    await make_bin(sessions, loc, sku, 5)
    with pytest.raises(IntegrityError, match="bin_allocated_within_quantity"):
        await execute(
            sessions, "UPDATE bin_stock SET allocated = 1 WHERE location = :loc AND sku = :sku", loc=ADJ, sku=sku
        )
    # Everywhere else 0 ≤ allocated ≤ quantity as before.
    await execute(sessions, "UPDATE bin_stock SET allocated = 5 WHERE location = :loc AND sku = :sku", loc=loc, sku=sku)
    with pytest.raises(IntegrityError, match="bin_allocated_within_quantity"):
        await execute(
            sessions, "UPDATE bin_stock SET allocated = 6 WHERE location = :loc AND sku = :sku", loc=loc, sku=sku
        )
    with pytest.raises(IntegrityError, match="bin_allocated_not_negative"):
        await execute(
            sessions, "UPDATE bin_stock SET allocated = -1 WHERE location = :loc AND sku = :sku", loc=ADJ, sku=sku
        )


# --- allocation ---------------------------------------------------------------------------------------------------


async def test_allocation_never_takes_units_from_the_adjustment_bin(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    sku = new_sku()
    assert await applied(client, item(ids(1)[0], sku, 50)) == {"applied": 1, "duplicate": 0}
    real = await make_location(sessions, 10)
    await make_bin(sessions, real, sku, 2)
    order = await enqueue(client, [(sku, 5)])
    allocation = (await client.post(f"/waves/{(await plan(client))['wave_id']}/allocate")).json()
    assert [(t["location"], t["quantity"]) for t in allocation["tasks"]] == [(real, 2)]
    assert allocation["shortages"] == [{"order_id": order["order_id"], "sku": sku, "quantity": 3}]
    # Not even were the bin unlocked behind the service's back: its type keeps it out.
    await execute(sessions, "UPDATE locations SET locked = false WHERE code = :code", code=ADJ)
    reallocated = await client.post(f"/orders/{order['order_id']}/reallocate", json={"sku": sku, "quantity": 3})
    assert reallocated.json() == {"tasks": [], "unallocated": 3}
    assert await bins(client, sku) == {ADJ: (50, 0), real: (2, 2)}


# --- adjustments --------------------------------------------------------------------------------------------------


async def test_adjustments_apply_once_and_the_totals_count_the_bin(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    sku, other = new_sku(), new_sku()
    real = await make_location(sessions, 10)
    await make_bin(sessions, real, sku, 10)
    body_ids = a, b, c = ids(3)
    # Written off by the ERP: the bin goes below zero, the SKU's total follows on_hand (10 - 4).
    body = [item(a, sku, -3), item(b, sku, -1), item(c, other, 8)]
    assert await applied(client, *body) == {"applied": 3, "duplicate": 0}
    assert await bins(client, sku) == {ADJ: (-4, 0), real: (10, 0)}
    assert await bins(client, other) == {ADJ: (8, 0)}
    assert (await totals(client))[sku] == 6
    assert (await totals(client))[other] == 8
    adj_rows = (await client.get("/stock", params={"location": ADJ, "sku": sku})).json()
    assert [(r["lot"], r["expiry_date"], r["quantity"], r["allocated"]) for r in adj_rows] == [(None, None, -4, 0)]
    async with sessions() as session:
        stored = (await session.exec(select(AppliedAdjustment).where(col(AppliedAdjustment.id).in_(body_ids)))).all()
    assert sorted((s.id, s.sku, s.delta) for s in stored) == [(a, sku, -3), (b, sku, -1), (c, other, 8)]
    # A repeat, whole or in part, changes nothing; a new id in it applies.
    assert await applied(client, *body) == {"applied": 0, "duplicate": 3}
    (d,) = ids(1)
    assert await applied(client, body[0], item(d, sku, 9)) == {"applied": 1, "duplicate": 1}
    assert await bins(client, sku) == {ADJ: (5, 0), real: (10, 0)}
    assert (await totals(client))[sku] == 15


async def test_one_id_twice_in_a_body_counts_once(client: httpx.AsyncClient) -> None:
    sku = new_sku()
    a, b = ids(2)
    resp = await applied(client, item(a, sku, 2), item(b, sku, 5), item(a, sku, 2))
    assert resp == {"applied": 2, "duplicate": 1}
    assert await bins(client, sku) == {ADJ: (7, 0)}
    # The same id with other content in one body is refused whole.
    refused = await adjust(client, item(b + 1, sku, 1), item(b + 1, sku, 2))
    assert (refused.status_code, refused.json()["type"]) == (422, "ValidationError")
    assert await bins(client, sku) == {ADJ: (7, 0)}


async def test_an_id_applied_with_other_content_is_refused_whole(client: httpx.AsyncClient) -> None:
    sku = new_sku()
    a, b = ids(2)
    await applied(client, item(a, sku, 4))
    resp = await adjust(client, item(b, sku, 1), item(a, sku, 5))
    assert resp.status_code == 409
    assert resp.json()["type"] == "AdjustmentMismatch"
    assert resp.json()["ids"] == [a]
    assert await bins(client, sku) == {ADJ: (4, 0)}
    assert await applied(client, item(b, sku, 1)) == {"applied": 1, "duplicate": 0}


async def test_adjustments_that_cancel_out_leave_no_row(client: httpx.AsyncClient) -> None:
    sku = new_sku()
    a, b = ids(2)
    assert await applied(client, item(a, sku, 3), item(b, sku, -3)) == {"applied": 2, "duplicate": 0}
    assert await bins(client, sku) == {}


@pytest.mark.parametrize(
    "items",
    [
        [],
        [item(0, "MUG-RED", 1)],
        [item(1, "MUG-RED", 0)],
        [item(1, "MUG-RED", 10_000_001)],
        [item(1, "MUG-RED", -10_000_001)],
        [item(1, "mug red", 1)],
        [item(2**63, "MUG-RED", 1)],
        [{"id": "1", "sku": "MUG-RED", "delta": 1}],
        [{"id": 1, "sku": "MUG-RED", "delta": 1.0}],
        [{"id": 1, "sku": "MUG-RED", "delta": True}],
        [{**item(1, "MUG-RED", 1), "lot": None}],
        [item(i + 1, "MUG-RED", 1) for i in range(1001)],
    ],
)
async def test_bad_adjustments_are_422(client: httpx.AsyncClient, items: list[dict[str, Any]]) -> None:
    resp = await client.post("/stock/adjustments", json={"items": items})
    assert (resp.status_code, resp.json()["type"]) == (422, "ValidationError"), resp.text
    assert (await client.get("/stock", params={"location": ADJ})).json() == []


async def test_the_largest_adjustments_apply(client: httpx.AsyncClient) -> None:
    sku = new_sku()
    a, b = ids(2)
    assert await applied(client, item(a, sku, 10_000_000), item(b, sku, -10_000_000)) == {"applied": 2, "duplicate": 0}
    body = [item(i, sku, 1) for i in ids(1000)]
    assert await applied(client, *body) == {"applied": 1000, "duplicate": 0}
    assert await bins(client, sku) == {ADJ: (1000, 0)}


async def test_a_keyed_call_replays_its_answer(client: httpx.AsyncClient) -> None:
    sku = new_sku()
    (a,) = ids(1)
    first = await adjust(client, item(a, sku, 2), **{"Idempotency-Key": f"adj-{a}"})
    again = await adjust(client, item(a, sku, 2), **{"Idempotency-Key": f"adj-{a}"})
    assert first.json() == again.json() == {"applied": 1, "duplicate": 0}
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await adjust(client, item(a, sku, 3), **{"Idempotency-Key": f"adj-{a}"})
    assert (other.status_code, other.json()["type"]) == (409, "IdempotencyKeyReused")


# --- one statement, races, the migration --------------------------------------------------------------------------


async def test_a_page_of_adjustments_is_one_statement_of_work(
    fresh_database: FreshDatabase, statements: Statements
) -> None:
    url = await fresh_database("warehouse")
    skus = [new_sku() for _ in range(50)]
    async with committing_client(create_app, "warehouse", url, pool_size=1) as client:
        await applied(client, *(item(i, skus[0], 1) for i in ids(2)))  # asyncpg's one-off type look-ups
        body = [item(i, skus[n % 50], n + 1) for n, i in enumerate(ids(1000))]
        statements.clear()
        resp = await adjust(client, *body, **{"Idempotency-Key": "page-1"})
        assert resp.json() == {"applied": 1000, "duplicate": 0}
        # claim the key; the adjustments and the bin rows; store the answer
        assert len(statements) == 3, list(statements)
        statements.clear()
        assert await applied(client, *body) == {"applied": 0, "duplicate": 1000}
        # nothing applied: one look for ids stored with other content
        assert len(statements) == 2, list(statements)
        expected = {sku: sum(n + 1 for n in range(1000) if n % 50 == k) for k, sku in enumerate(skus)}
        expected[skus[0]] += 2
        assert {sku: q for sku, q in (await totals(client)).items() if sku in expected} == expected


async def test_two_carriers_at_once_apply_each_id_once(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("warehouse")
    skus = [new_sku() for _ in range(5)]
    async with committing_client(create_app, "warehouse", url) as client:
        want: dict[str, int] = dict.fromkeys(skus, 0)
        for _ in range(5):
            batch = [item(i, skus[i % 5], (i % 7) - 3 or 1) for i in ids(300)]
            for it in batch:
                want[it["sku"]] += it["delta"]
            # Overlapping bodies in different orders: each id applies once between them.
            answers = await asyncio.gather(
                adjust(client, *batch[:200]), adjust(client, *reversed(batch[100:])), adjust(client, *batch)
            )
            assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
            assert sum(a.json()["applied"] for a in answers) == 300
            assert sum(a.json()["duplicate"] for a in answers) == 200 + 200 + 300 - 300
        assert {s: q for s, q in (await totals(client)).items() if s in want} == {s: q for s, q in want.items() if q}


async def test_a_carrier_waits_for_one_in_flight_and_adds_nothing(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("warehouse")
    sku = new_sku()
    async with committing_client(create_app, "warehouse", url) as client:
        seeded, *batch = ids(4)
        await applied(client, item(seeded, sku, 1))
        body = [item(i, sku, 5) for i in batch]
        conn = await asyncpg.connect(pg_url(url))
        try:
            async with conn.transaction():
                # Hold the bin row: the first call records its ids, then waits here; the second waits on those ids.
                await conn.execute("SELECT 1 FROM bin_stock WHERE location = $1 AND sku = $2 FOR UPDATE", ADJ, sku)
                first = asyncio.create_task(adjust(client, *body))
                await wait_for_lock_waiters(url, 1)
                second = asyncio.create_task(adjust(client, *body))
                await wait_for_lock_waiters(url, 2)
            answers = [(await first).json(), (await second).json()]
        finally:
            await conn.close()
        assert answers == [{"applied": 3, "duplicate": 0}, {"applied": 0, "duplicate": 3}]
        assert await bins(client, sku) == {ADJ: (16, 0)}


async def test_migration_0004_goes_down_and_up(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("warehouse")
    sku = new_sku()
    async with committing_client(create_app, "warehouse", url) as client:
        await applied(client, item(ids(1)[0], sku, -2))

    await asyncio.to_thread(migrations.downgrade, "warehouse", url, "0003")
    conn = await asyncpg.connect(pg_url(url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM locations WHERE code = $1", ADJ) == 0
        assert await conn.fetchval("SELECT to_regclass('applied_adjustments')") is None
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO locations (code, zone, aisle, rack, level, pick_seq, type, locked, updated_at)"
                " VALUES ('Y-00-00-0', 'Y', 0, 0, 0, 0, 'ADJUST', true, now())"
            )
    finally:
        await conn.close()

    await asyncio.to_thread(migrations.upgrade, "warehouse", url)
    async with committing_client(create_app, "warehouse", url) as client:
        assert (await client.get(f"/locations/{ADJ}")).json()["type"] == "ADJUST"
        assert await bins(client, sku) == {}
        assert await applied(client, item(ids(1)[0], sku, -2)) == {"applied": 1, "duplicate": 0}
        assert await bins(client, sku) == {ADJ: (-2, 0)}

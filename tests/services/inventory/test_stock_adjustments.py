"""The stock adjustments the ERP's counts make (docs/erp.md, part D): one per changed on-hand count, written
with the count, listed oldest first and marked posted once the warehouse took them."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from common import migrations
from common.service_auth import SERVICE_TOKEN_HEADER
from common.settings import asyncpg_url
from services.inventory.app import create_app
from tests.conftest import FreshDatabase, ServiceDatabases
from tests.services.inventory.test_erp_events import known, stock_event
from tests.services.inventory.test_erp_events import post as post_event
from tests.services.inventory.test_erp_import import at, material, page, post_materials, post_stock, reserve, sku
from tests.services.round_trips import Statements
from tests.support import committing_client, rolled_back_client


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["inventory"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "inventory", database_url) as (client, _):
        yield client


def count(code: str, on_hand: int, seconds: float) -> dict[str, Any]:
    return {"sku": code, "on_hand": on_hand, "changed_at": at(seconds)}


async def listing(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    resp = await client.get("/stock/adjustments", params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def of(client: httpx.AsyncClient, *codes: str) -> list[dict[str, Any]]:
    """Every adjustment of these SKUs, oldest first."""
    items: list[dict[str, Any]] = []
    for code in codes:
        items += (await listing(client, sku=code))["items"]
    return sorted(items, key=lambda a: a["id"])


def moves(adjustments: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    return [(a["sku"], a["delta"], a["on_hand"]) for a in adjustments]


async def mark_posted(client: httpx.AsyncClient, ids: list[int]) -> int:
    resp = await client.post("/stock/adjustments/posted", json={"ids": ids})
    assert resp.status_code == 200, resp.text
    posted: int = resp.json()["posted"]
    return posted


async def on_hand(client: httpx.AsyncClient, code: str) -> int:
    resp = await client.get(f"/products/{code}")
    assert resp.status_code == 200, resp.text
    value: int = resp.json()["on_hand"]
    return value


# -- written by the counts ---------------------------------------------------------------------------------
async def test_a_page_writes_one_adjustment_per_changed_sku(client: httpx.AsyncClient) -> None:
    a, b, c = sorted([sku("ADJ"), sku("ADJ"), sku("ADJ")])
    await post_materials(client, [material(code, 1) for code in (a, b, c)])  # new SKUs: on_hand 0

    # c last in the page: the watermark (and the ref) is c's (changed_at, key)
    first = await post_stock(client, [count(a, 10, 10), count(b, 0, 10), count(c, 5, 10)])
    assert first["updated"] == 3  # b's equal count takes its time, and writes no adjustment
    written = await of(client, a, b, c)
    assert moves(written) == [(a, 10, 10), (c, 5, 5)]
    ref = f"{c}@2026-05-04T10:00:10.000000Z"
    assert {(x["source"], x["ref"], x["posted_at"]) for x in written} == {("erp-page", ref, None)}
    assert written[0]["id"] < written[1]["id"]

    await reserve(client, c, 3)
    # a falls, b's count is older than its last one, c's is below the 3 reserved units
    second = await post_stock(client, [count(a, 4, 20), count(b, 9, 5), count(c, 2, 20)])
    assert (second["updated"], second["unchanged"], second["rejected"]) == (
        1,
        1,
        [{"sku": c, "reason": "StockBelowReserved"}],
    )
    later = await of(client, a, b, c)
    assert moves(later) == [(a, 10, 10), (c, 5, 5), (a, -6, 4)]
    assert later[2]["ref"] == f"{c}@2026-05-04T10:00:20.000000Z"
    # what the warehouse's adjustment bin will hold adds up to inventory's count
    for code in (a, b, c):
        assert sum(x["delta"] for x in later if x["sku"] == code) == await on_hand(client, code)


async def test_a_repeated_page_writes_nothing_more(client: httpx.AsyncClient) -> None:
    code = sku("ADJ")
    await post_materials(client, [material(code, 1)])
    body = page([count(code, 7, 10)])
    headers = {"Idempotency-Key": f"erp-stock-{uuid.uuid4().hex}"}
    first = await client.post("/erp/stock", json=body, headers=headers)
    again = await client.post("/erp/stock", json=body, headers=headers)
    assert (first.status_code, again.status_code, again.headers["Idempotent-Replayed"]) == (200, 200, "true")
    assert moves(await of(client, code)) == [(code, 7, 7)]
    unkeyed = await post_stock(client, [count(code, 7, 10)])
    assert (unkeyed["updated"], unkeyed["unchanged"]) == (0, 1)
    assert moves(await of(client, code)) == [(code, 7, 7)]


async def test_an_event_writes_one_adjustment_and_its_repeat_none(client: httpx.AsyncClient) -> None:
    code = await known(client, on_hand=10)  # PUT /products sets a count without an adjustment
    assert await of(client, code) == []
    event = stock_event(code, 14, 20)
    assert (await post_event(client, event))["result"] == "applied"
    written = await of(client, code)
    assert moves(written) == [(code, 4, 14)]
    assert (written[0]["source"], written[0]["ref"]) == ("erp-event", event["event_id"])
    assert (await post_event(client, event))["result"] == "duplicate"
    # the same count again (newer), an older one, one below the reservation: none changes on_hand
    assert (await post_event(client, stock_event(code, 14, 21)))["result"] == "applied"
    assert (await post_event(client, stock_event(code, 3, 19)))["result"] == "stale"
    await reserve(client, code, 5)
    assert (await post_event(client, stock_event(code, 4, 22)))["reason"] == "StockBelowReserved"
    assert await of(client, code) == written


async def test_a_page_of_changes_is_still_three_statements(
    fresh_database: FreshDatabase, statements: Statements
) -> None:
    url = await fresh_database("inventory")
    codes = [f"STMT-{n}" for n in range(4)]
    async with committing_client(create_app, "inventory", url, pool_size=1) as client:
        await post_materials(client, [material(code, 1) for code in codes])
        await post_stock(client, [count(code, 1, 2) for code in codes])  # the connection's first use
        statements.clear()
        result = await post_stock(client, [count(code, n, 3) for n, code in enumerate(codes)])
        assert result["updated"] == 4
        # lock the rows; set the counts and write the adjustments; the watermark
        assert len(statements) == 3, "\n".join(statements)
        assert moves((await listing(client, offset=4))["items"]) == [
            ("STMT-0", -1, 0),
            ("STMT-2", 1, 2),
            ("STMT-3", 2, 3),
        ]


# -- listed and posted -------------------------------------------------------------------------------------
async def test_listing_filters_pages_and_posting_marks_once(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("inventory")
    async with committing_client(create_app, "inventory", url, pool_size=2) as client:
        a, b = "LIST-A", "LIST-B"
        await post_materials(client, [material(a, 1), material(b, 1)])
        for n in range(1, 4):
            await post_stock(client, [count(a, n, 10 + n), count(b, 10 * n, 10 + n)])
        everything = await listing(client)
        assert (everything["total"], everything["limit"], everything["offset"]) == (6, 500, 0)
        ids = [x["id"] for x in everything["items"]]
        assert ids == sorted(ids)
        assert moves(everything["items"]) == [(a, 1, 1), (b, 10, 10), (a, 1, 2), (b, 10, 20), (a, 1, 3), (b, 10, 30)]
        assert set(everything["items"][0]) == {
            "id",
            "sku",
            "delta",
            "on_hand",
            "source",
            "ref",
            "created_at",
            "posted_at",
        }

        second = await listing(client, limit=2, offset=2)
        assert ([x["id"] for x in second["items"]], second["total"], second["limit"]) == (ids[2:4], 6, 2)
        only_b = await listing(client, sku=b, limit=2, offset=1)
        assert ([x["id"] for x in only_b["items"]], only_b["total"]) == ([ids[3], ids[5]], 3)
        assert (await listing(client, offset=6))["items"] == []

        assert await mark_posted(client, [ids[0], ids[1], ids[3]]) == 3
        assert await mark_posted(client, [ids[3], ids[1], ids[0]]) == 0  # a repeat
        assert await mark_posted(client, [ids[0], ids[2], ids[2], 10**12]) == 1  # unknown ids are ignored
        pending = await listing(client, pending="true")
        assert ([x["id"] for x in pending["items"]], pending["total"]) == ([ids[4], ids[5]], 2)
        assert all(x["posted_at"] is None for x in pending["items"])
        posted = await listing(client, pending="false")
        assert [x["id"] for x in posted["items"]] == ids[:4]
        assert all(x["posted_at"] is not None for x in posted["items"])
        pending_b = await listing(client, pending="true", sku=b)
        assert ([x["id"] for x in pending_b["items"]], pending_b["total"]) == ([ids[5]], 1)

        # A repeat with its Idempotency-Key answers the first answer.
        headers = {"Idempotency-Key": "post-adjustments-1"}
        keyed = [await client.post("/stock/adjustments/posted", json={"ids": ids[4:]}, headers=headers) for _ in "12"]
        assert [r.json() for r in keyed] == [{"posted": 2}, {"posted": 2}]
        assert keyed[1].headers["Idempotent-Replayed"] == "true"
        assert (await listing(client, pending="true"))["total"] == 0


async def test_carriers_posting_at_once_mark_each_adjustment_once(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("inventory")
    rng = random.Random(4)
    async with committing_client(create_app, "inventory", url, pool_size=6) as client:
        codes = [f"POST-{n:02d}" for n in range(40)]
        await post_materials(client, [material(code, 1) for code in codes])
        await post_stock(client, [count(code, n + 1, 2) for n, code in enumerate(codes)])
        ids = [x["id"] for x in (await listing(client))["items"]]
        assert len(ids) == 40
        batches = [rng.sample(ids, 25) for _ in range(8)]  # overlapping, each in its own order
        answers = await asyncio.gather(*(client.post("/stock/adjustments/posted", json={"ids": b}) for b in batches))
        assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
        assert sum(a.json()["posted"] for a in answers) == len(set().union(*batches))
        left = await listing(client, pending="true")
        assert {x["id"] for x in left["items"]} == set(ids) - set().union(*batches)


async def test_counts_racing_each_other_write_deltas_that_add_up(fresh_database: FreshDatabase) -> None:
    """Pages and events on the same SKUs at once: every SKU's adjustments chain from 0 to its final count."""
    url = await fresh_database("inventory")
    rng = random.Random(11)
    async with committing_client(create_app, "inventory", url, pool_size=8) as client:
        codes = [f"CHAIN-{n}" for n in range(5)]
        await post_materials(client, [material(code, 1) for code in codes])
        calls = []
        for _ in range(8):
            items = [count(code, rng.randrange(0, 20), rng.randrange(10, 60)) for code in codes]
            rng.shuffle(items)
            calls.append(
                client.post("/erp/stock", json={"items": items, "watermark": {"changed_at": at(60), "key": "Z"}})
            )
        calls += [
            client.post("/erp/events", json=stock_event(rng.choice(codes), rng.randrange(0, 20), rng.randrange(10, 60)))
            for _ in range(16)
        ]
        rng.shuffle(calls)
        answers = await asyncio.gather(*calls)
        assert {a.status_code for a in answers} == {200}, [a.text for a in answers if a.status_code != 200]
        adjustments = (await listing(client))["items"]
        assert adjustments
        for code in codes:
            level = 0
            for x in (x for x in adjustments if x["sku"] == code):
                level += x["delta"]
                assert x["on_hand"] == level, (code, adjustments)
            assert level == await on_hand(client, code)


# -- refused -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="no-ids"),
        pytest.param({"ids": []}, id="empty"),
        pytest.param({"ids": list(range(1, 1002))}, id="too-many"),
        pytest.param({"ids": ["1"]}, id="string"),
        pytest.param({"ids": [1.0]}, id="float"),
        pytest.param({"ids": [True]}, id="bool"),
        pytest.param({"ids": [0]}, id="zero"),
        pytest.param({"ids": [-3]}, id="negative"),
        pytest.param({"ids": [2**63]}, id="past-bigint"),
        pytest.param({"ids": 1}, id="not-a-list"),
        pytest.param({"ids": [1], "all": True}, id="extra-field"),
    ],
)
async def test_bad_posted_bodies_are_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    resp = await client.post("/stock/adjustments/posted", json=body)
    assert (resp.status_code, resp.json()["type"]) == (422, "ValidationError"), resp.text


async def test_a_thousand_ids_are_taken(client: httpx.AsyncClient) -> None:
    code = sku("ADJ")
    await post_materials(client, [material(code, 1)])
    await post_stock(client, [count(code, 2, 2)])
    (written,) = await of(client, code)
    assert await mark_posted(client, [written["id"], *range(10**12, 10**12 + 999)]) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"offset": -1},
        {"offset": 1_000_001},
        {"sku": "lower-case"},
        {"sku": "A" * 65},
        {"pending": "maybe"},
    ],
)
async def test_listing_bounds(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    resp = await client.get("/stock/adjustments", params=params)
    assert (resp.status_code, resp.json()["type"]) == (422, "ValidationError"), resp.text


async def test_the_routes_want_the_service_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/stock/adjustments", params={"limit": 1})).status_code == 200
    assert (await client.post("/stock/adjustments/posted", json={"ids": [10**12]})).json() == {"posted": 0}
    anonymous = {SERVICE_TOKEN_HEADER: "not-the-token"}
    assert (await client.get("/stock/adjustments", headers=anonymous)).status_code == 401
    assert (await client.post("/stock/adjustments/posted", json={"ids": [1]}, headers=anonymous)).status_code == 401


# -- the migration -----------------------------------------------------------------------------------------
async def test_migration_0006_goes_down_and_up(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("inventory")
    code = sku("ADJ")
    async with committing_client(create_app, "inventory", url, pool_size=2) as client:
        await post_materials(client, [material(code, 1)])
        await post_stock(client, [count(code, 4, 2)])
        assert (await listing(client))["total"] == 1
    await asyncio.to_thread(migrations.downgrade, "inventory", url, "0005")
    conn = await asyncpg.connect(asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
        kept = await conn.fetchval("SELECT on_hand FROM products WHERE sku = $1", code)
    finally:
        await conn.close()
    assert "stock_adjustments" not in tables
    assert kept == 4
    await asyncio.to_thread(migrations.upgrade, "inventory", url)
    async with committing_client(create_app, "inventory", url, pool_size=2) as client:
        assert (await listing(client))["total"] == 0
        await post_stock(client, [count(code, 9, 3)])
        assert moves((await listing(client, pending="true"))["items"]) == [(code, 5, 9)]

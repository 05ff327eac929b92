"""The ERP import's receiving side in inventory: materials and stock pages, newest wins, with their watermark."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from common import migrations
from common.erp_import import store_watermark
from common.errors import Conflict
from common.settings import asyncpg_url
from services.inventory import erp_import
from services.inventory.app import create_app
from tests.conftest import FreshDatabase, ServiceDatabases
from tests.services.round_trips import Statements
from tests.support import committing_client, rolled_back_client

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["inventory"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "inventory", database_url) as (client, _):
        yield client


def sku(prefix: str = "E") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def material(code: str, seconds: float, **overrides: Any) -> dict[str, Any]:
    item = {
        "sku": code,
        "name": f"Material {code}",
        "price_cents": 1200,
        "currency": "EUR",
        "weight_grams": 350,
        "volume_cm3": 1200,
        "ean": "4006381333931",
        "changed_at": at(seconds),
    }
    return {**item, **overrides}


def page(items: list[dict[str, Any]]) -> dict[str, Any]:
    last = max(items, key=lambda i: (i["changed_at"], i["sku"]))
    return {"items": items, "watermark": {"changed_at": last["changed_at"], "key": last["sku"]}}


async def post_materials(client: httpx.AsyncClient, items: list[dict[str, Any]]) -> dict[str, Any]:
    resp = await client.post("/erp/materials", json=page(items))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def post_stock(client: httpx.AsyncClient, items: list[dict[str, Any]]) -> dict[str, Any]:
    resp = await client.post("/erp/stock", json=page(items))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def product(client: httpx.AsyncClient, code: str) -> dict[str, Any]:
    resp = await client.get(f"/products/{code}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert body["on_hand"] == body["available"] + body["reserved"]
    assert min(body["on_hand"], body["available"], body["reserved"]) >= 0
    return body


def counts(result: dict[str, Any]) -> tuple[int, int, int]:
    return result["inserted"], result["updated"], result["unchanged"]


async def reserve(client: httpx.AsyncClient, code: str, quantity: int) -> None:
    resp = await client.post(
        "/reservations", json={"order_id": uuid.uuid4().hex[:16], "lines": [{"sku": code, "quantity": quantity}]}
    )
    assert resp.status_code == 201, resp.text


# -- materials ---------------------------------------------------------------------------------------------
async def test_new_materials_are_created_without_stock(client: httpx.AsyncClient) -> None:
    a, b = sku(), sku()
    result = await post_materials(client, [material(a, 1), material(b, 2, ean=None, name="Blue mug")])
    assert counts(result) == (2, 0, 0)
    assert result["watermark"]["key"] == b
    assert result["watermark"]["changed_at"] == at(2)
    created = await product(client, b)
    assert (created["name"], created["price_cents"], created["ean"]) == ("Blue mug", 1200, None)
    assert (created["on_hand"], created["available"], created["reserved"]) == (0, 0, 0)
    assert (created["weight_grams"], created["volume_cm3"]) == (350, 1200)
    assert (await product(client, a))["ean"] == "4006381333931"


async def test_a_repeated_page_and_an_older_copy_change_nothing(client: httpx.AsyncClient) -> None:
    a, b = sku(), sku()
    first = [material(a, 10, name="Mug v1"), material(b, 11, name="Tee v1")]
    assert counts(await post_materials(client, first)) == (2, 0, 0)
    before = [await product(client, a), await product(client, b)]

    assert counts(await post_materials(client, first)) == (0, 0, 2)
    older = [material(a, 5, name="Mug v0", price_cents=1), material(b, 11, name="Tee, same time")]
    assert counts(await post_materials(client, older)) == (0, 0, 2)
    assert [await product(client, a), await product(client, b)] == before

    newer = [material(a, 20, name="Mug v2", price_cents=1500), material(b, 9, name="Tee v0"), material(sku(), 21)]
    assert counts(await post_materials(client, newer)) == (1, 1, 1)
    updated = await product(client, a)
    assert (updated["name"], updated["price_cents"]) == ("Mug v2", 1500)
    assert (await product(client, b))["name"] == "Tee v1"


async def test_the_newest_copy_of_a_sku_in_one_page_wins(client: httpx.AsyncClient) -> None:
    a = sku()
    items = [material(a, 3, name="Third"), material(a, 1, name="First"), material(a, 2, name="Second")]
    assert counts(await post_materials(client, items)) == (1, 0, 2)
    assert (await product(client, a))["name"] == "Third"


async def test_a_material_update_keeps_stock_and_reservations(client: httpx.AsyncClient) -> None:
    code = sku()
    put = await client.put(f"/products/{code}", json={"name": "Hand-made", "price_cents": 900, "on_hand": 10})
    assert put.status_code == 200
    await reserve(client, code, 4)
    # Never imported: the first ERP copy applies, whatever its time.
    result = await post_materials(client, [material(code, 1, name="From the ERP")])
    assert counts(result) == (0, 1, 0)
    after = await product(client, code)
    assert (after["name"], after["on_hand"], after["available"], after["reserved"]) == ("From the ERP", 10, 6, 4)


# -- stock -------------------------------------------------------------------------------------------------
async def test_stock_applies_newer_counts_and_reports_unknown_and_rejected(client: httpx.AsyncClient) -> None:
    plenty, held, unknown = sku(), sku(), sku("NOPE")
    await post_materials(client, [material(plenty, 1), material(held, 2)])
    assert (await post_stock(client, [{"sku": held, "on_hand": 10, "changed_at": at(3)}]))["updated"] == 1
    await reserve(client, held, 6)

    items = [
        {"sku": plenty, "on_hand": 40, "changed_at": at(4)},
        {"sku": held, "on_hand": 5, "changed_at": at(5)},
        {"sku": unknown, "on_hand": 7, "changed_at": at(6)},
    ]
    result = await post_stock(client, items)
    assert result["updated"] == 1
    assert result["unchanged"] == 0
    assert result["unknown"] == [unknown]
    assert result["rejected"] == [{"sku": held, "reason": "StockBelowReserved"}]
    assert result["watermark"]["key"] == unknown
    assert {k: v for k, v in (await product(client, plenty)).items() if k in {"on_hand", "available"}} == {
        "on_hand": 40,
        "available": 40,
    }
    kept = await product(client, held)
    assert (kept["on_hand"], kept["available"], kept["reserved"]) == (10, 4, 6)
    assert (await client.get(f"/products/{unknown}")).status_code == 404

    # The rejected count left no mark: a later count that covers the reservation applies.
    assert (await post_stock(client, [{"sku": held, "on_hand": 6, "changed_at": at(5)}]))["updated"] == 1
    exact = await product(client, held)
    assert (exact["on_hand"], exact["available"], exact["reserved"]) == (6, 0, 6)


async def test_a_repeated_or_older_stock_count_changes_nothing(client: httpx.AsyncClient) -> None:
    code = sku()
    await post_materials(client, [material(code, 1)])
    count = [{"sku": code, "on_hand": 12, "changed_at": at(10)}]
    assert (await post_stock(client, count))["updated"] == 1
    again = await post_stock(client, count)
    assert (again["updated"], again["unchanged"], again["unknown"], again["rejected"]) == (0, 1, [], [])
    older = await post_stock(client, [{"sku": code, "on_hand": 99, "changed_at": at(9)}])
    assert (older["updated"], older["unchanged"]) == (0, 1)
    assert (await product(client, code))["on_hand"] == 12
    # A stale count that would also be below the reservation is just stale.
    await reserve(client, code, 5)
    stale = await post_stock(client, [{"sku": code, "on_hand": 1, "changed_at": at(8)}])
    assert (stale["unchanged"], stale["rejected"]) == (1, [])
    duplicated = [
        {"sku": code, "on_hand": 7, "changed_at": at(12)},
        {"sku": code, "on_hand": 30, "changed_at": at(11)},
    ]
    twice = await post_stock(client, duplicated)
    assert (twice["updated"], twice["unchanged"]) == (1, 1)
    final = await product(client, code)
    assert (final["on_hand"], final["available"], final["reserved"]) == (7, 2, 5)


# -- watermarks --------------------------------------------------------------------------------------------
async def test_watermarks_commit_with_the_rows_and_only_move_forward(
    fresh_database: FreshDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await fresh_database("inventory")
    async with committing_client(create_app, "inventory", url, pool_size=2) as client:
        assert (await client.get("/erp/watermarks")).json() == {"materials": None, "stock": None}
        a, b = sku(), sku()
        await post_materials(client, [material(a, 1), material(b, 2)])
        await post_stock(client, [{"sku": a, "on_hand": 3, "changed_at": at(3)}])
        marks = (await client.get("/erp/watermarks")).json()
        assert (marks["materials"]["key"], marks["materials"]["changed_at"], marks["materials"]["rows"]) == (
            b,
            at(2),
            2,
        )
        assert (marks["stock"]["key"], marks["stock"]["rows"]) == (a, 1)

        # An earlier page again (a late retry, a backfill): its rows count, the position stays.
        late = await post_materials(client, [material(a, 1)])
        assert (late["watermark"]["key"], late["watermark"]["changed_at"], late["watermark"]["rows"]) == (b, at(2), 3)
        marks = (await client.get("/erp/watermarks")).json()

        # A page whose watermark cannot be stored leaves no row behind either.
        async def store_then_fail(*args: Any, **kwargs: Any) -> Any:
            await store_watermark(*args, **kwargs)
            raise Conflict("the watermark could not be stored", type="InjectedFailure")

        monkeypatch.setattr(erp_import, "store_watermark", store_then_fail)
        lost = sku()
        failed = await client.post("/erp/materials", json=page([material(lost, 50), material(a, 51, name="Lost")]))
        assert failed.status_code == 409
        failed_stock = await client.post("/erp/stock", json=page([{"sku": a, "on_hand": 80, "changed_at": at(52)}]))
        assert failed_stock.status_code == 409
        monkeypatch.undo()

        assert (await client.get(f"/products/{lost}")).status_code == 404
        kept = await product(client, a)
        assert (kept["name"], kept["on_hand"]) == (f"Material {a}", 3)
        assert (await client.get("/erp/watermarks")).json() == marks


async def test_a_keyed_page_is_answered_once(client: httpx.AsyncClient) -> None:
    body = page([material(sku(), 1)])
    headers = {"Idempotency-Key": f"erp-materials-{uuid.uuid4().hex}"}
    first = await client.post("/erp/materials", json=body, headers=headers)
    again = await client.post("/erp/materials", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert first.json()["inserted"] == 1


async def test_pages_racing_reservations_and_each_other_keep_stock_balanced(fresh_database: FreshDatabase) -> None:
    """Stock and material pages (SKUs in any order) beside multi-SKU reservations: no deadlock, no 5xx, stock balances."""
    url = await fresh_database("inventory")
    rng = random.Random(8)
    async with committing_client(create_app, "inventory", url, pool_size=8) as client:
        codes = [f"RACE-{n:02d}" for n in range(12)]
        await post_materials(client, [material(code, 0) for code in codes])
        await post_stock(client, [{"sku": code, "on_hand": 30, "changed_at": at(1)} for code in codes])

        def stock_page(n: int) -> dict[str, Any]:
            items = [{"sku": code, "on_hand": rng.randrange(0, 31), "changed_at": at(10 + n)} for code in codes]
            rng.shuffle(items)
            return {"items": items, "watermark": {"changed_at": at(10 + n), "key": "RACE-99"}}

        def materials_page(n: int) -> dict[str, Any]:
            items = [material(code, 10 + n, name=f"Round {n}") for code in codes]
            rng.shuffle(items)
            return {"items": items, "watermark": {"changed_at": at(10 + n), "key": "RACE-99"}}

        def reservation() -> dict[str, Any]:
            lines = [{"sku": code, "quantity": rng.randrange(1, 4)} for code in rng.sample(codes, 4)]
            return {"order_id": uuid.uuid4().hex[:16], "lines": lines}

        calls = [client.post("/erp/stock", json=stock_page(n)) for n in range(6)]
        calls += [client.post("/erp/materials", json=materials_page(n)) for n in range(4)]
        calls += [client.post("/reservations", json=reservation()) for _ in range(16)]
        rng.shuffle(calls)
        answers = await asyncio.gather(*calls)

        assert all(a.status_code in {200, 201, 409} for a in answers), [a.text for a in answers if a.status_code >= 500]
        for answer in answers:
            if answer.request.url.path == "/erp/stock":
                body = answer.json()
                assert body["updated"] + body["unchanged"] + len(body["rejected"]) == len(codes)
            elif answer.status_code == 409:
                assert answer.json()["type"] == "OutOfStock"
        held: dict[str, int] = dict.fromkeys(codes, 0)
        for answer in answers:
            if answer.status_code == 201:
                for line in answer.json()["lines"]:
                    held[line["sku"]] += line["quantity"]
        for code in codes:
            row = await product(client, code)
            assert row["reserved"] == held[code]
        marks = (await client.get("/erp/watermarks")).json()
        assert (marks["stock"]["changed_at"], marks["stock"]["rows"]) == (at(15), 12 + 6 * 12)
        assert (marks["materials"]["changed_at"], marks["materials"]["rows"]) == (at(13), 12 + 4 * 12)


# -- validation --------------------------------------------------------------------------------------------
def _too_many() -> dict[str, Any]:
    return page([material(f"MANY-{n}", n) for n in range(1001)])


BAD_MATERIAL_PAGES: dict[str, Any] = {
    "no items": {"items": [], "watermark": {"changed_at": at(1), "key": "A"}},
    "too many items": _too_many(),
    "no watermark": {"items": [material("GOOD-1", 1)]},
    "bad sku": page([material("lower-case", 1)]),
    "sku too long": page([material("A" * 65, 1)]),
    "negative price": page([material("GOOD-1", 1, price_cents=-1)]),
    "price past the bound": page([material("GOOD-1", 1, price_cents=2**63)]),
    "negative weight": page([material("GOOD-1", 1, weight_grams=-5)]),
    "weight past an integer": page([material("GOOD-1", 1, weight_grams=2**31)]),
    "name too long": page([material("GOOD-1", 1, name="x" * 201)]),
    "empty name": page([material("GOOD-1", 1, name="")]),
    "bad currency": page([material("GOOD-1", 1, currency="euro")]),
    "bad ean": page([material("GOOD-1", 1, ean="40063813339X1")]),
    "ean too long": page([material("GOOD-1", 1, ean="1" * 15)]),
    "price as text": page([material("GOOD-1", 1, price_cents="1200")]),
    "naive time": page([material("GOOD-1", 1, changed_at="2026-05-04T10:00:00")]),
    "time as a number": page([material("GOOD-1", 1, changed_at=1_700_000_000)]),
    "unknown field": page([material("GOOD-1", 1, colour="red")]),
    "bad watermark key": {"items": [material("GOOD-1", 1)], "watermark": {"changed_at": at(1), "key": "x" * 65}},
}


@pytest.mark.parametrize("case", sorted(BAD_MATERIAL_PAGES))
async def test_bad_material_pages_are_refused_whole(client: httpx.AsyncClient, case: str) -> None:
    marks = (await client.get("/erp/watermarks")).json()
    resp = await client.post("/erp/materials", json=BAD_MATERIAL_PAGES[case])
    assert resp.status_code == 422, resp.text
    assert resp.json()["type"] == "ValidationError"
    assert (await client.get("/products/GOOD-1")).status_code == 404
    assert (await client.get("/erp/watermarks")).json() == marks


@pytest.mark.parametrize(
    "item",
    [
        {"sku": "GOOD-1", "on_hand": -1, "changed_at": at(1)},
        {"sku": "GOOD-1", "on_hand": 10_000_001, "changed_at": at(1)},
        {"sku": "GOOD-1", "on_hand": 1.5, "changed_at": at(1)},
        {"sku": "good-1", "on_hand": 1, "changed_at": at(1)},
        {"sku": "GOOD-1", "on_hand": 1},
        {"sku": "GOOD-1", "on_hand": 1, "changed_at": "9999-12-31T23:59:59-14:00"},
    ],
)
async def test_bad_stock_items_are_refused(client: httpx.AsyncClient, item: dict[str, Any]) -> None:
    body = {"items": [item], "watermark": {"changed_at": at(1), "key": "GOOD-1"}}
    resp = await client.post("/erp/stock", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["type"] == "ValidationError"


async def test_a_text_the_database_cannot_store_is_refused(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/erp/materials",
        content=b'{"items": [{"sku": "GOOD-1", "name": "a\\u0000b"}], "watermark": {}}',
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 422
    assert resp.json()["type"] == "ValidationError"


# -- the catalogue page ------------------------------------------------------------------------------------
async def test_products_page_searches_sku_and_name(client: httpx.AsyncClient) -> None:
    token = uuid.uuid4().hex[:8].upper()
    items = [
        material(f"Q{token}-1", 1, name="Red mug"),
        material(f"Q{token}-2", 2, name=f"Blue {token.lower()} tee"),
        material(f"Q{token}-3", 3, name=f"Cotton {token} 100% organic"),
        material(f"Q{token}-4", 4, name=f"Cotton {token} 1000 organic"),
        material(f"Q{token}-5", 5, name=f"Tote {token}_A"),
        material(f"Q{token}-6", 6, name=f"Tote {token}xA"),
        material(f"Q{token}-7", 7, name=f"Path {token}\\x/y"),
    ]
    await post_materials(client, items)

    async def search(**params: Any) -> dict[str, Any]:
        resp = await client.get("/products", params=params)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    everything = await search(q=token.lower())
    assert [p["sku"] for p in everything["items"]] == [f"Q{token}-{n}" for n in range(1, 8)]
    assert (everything["total"], everything["limit"], everything["offset"]) == (7, 100, 0)
    second = await search(q=token, limit=2, offset=2)
    assert [p["sku"] for p in second["items"]] == [f"Q{token}-3", f"Q{token}-4"]
    assert (second["total"], second["limit"], second["offset"]) == (7, 2, 2)
    assert [p["sku"] for p in (await search(q=f"blue {token}"))["items"]] == [f"Q{token}-2"]
    assert [p["sku"] for p in (await search(q=f"q{token}-1"))["items"]] == [f"Q{token}-1"]
    # LIKE's wildcards and its escape character are plain characters.
    assert [p["sku"] for p in (await search(q=f"{token} 100%"))["items"]] == [f"Q{token}-3"]
    assert [p["sku"] for p in (await search(q=f"{token}_A"))["items"]] == [f"Q{token}-5"]
    assert [p["sku"] for p in (await search(q=f"{token}\\x/y"))["items"]] == [f"Q{token}-7"]
    assert (await search(q=f"{token}%%"))["total"] == 0
    past = await search(q=token, offset=50)
    assert (past["items"], past["total"]) == ([], 7)

    unfiltered = await search(limit=1)
    assert unfiltered["total"] >= 7
    assert len(unfiltered["items"]) == 1


@pytest.mark.parametrize(
    "params", [{"q": ""}, {"q": "x" * 201}, {"limit": 0}, {"limit": 501}, {"offset": -1}, {"offset": 10**12}]
)
async def test_products_page_bounds(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    resp = await client.get("/products", params=params)
    assert resp.status_code == 422
    assert resp.json()["type"] == "ValidationError"


# -- cost --------------------------------------------------------------------------------------------------
async def test_a_page_costs_the_same_statements_for_5_rows_as_for_500(
    fresh_database: FreshDatabase, statements: Statements
) -> None:
    """Set-based statements, no object per row: the round trips do not grow with the page.

    (What a page costs in time is the bench's to measure: ``paklog bench``'s backfill rate.)
    """
    url = await fresh_database("inventory")
    async with committing_client(create_app, "inventory", url, pool_size=1) as client:
        await post_materials(client, [material("WARM-1", 1)])  # the connection's first use
        counts: dict[str, list[int]] = {"materials": [], "stock": []}
        for size in (5, 500):
            token = uuid.uuid4().hex[:8].upper()
            materials = [material(f"RT{token}-{n:04d}", 10 + n) for n in range(size)]
            stock = [{"sku": m["sku"], "on_hand": n, "changed_at": at(1000 + n)} for n, m in enumerate(materials)]
            for entity, items in (("materials", materials), ("stock", stock)):
                statements.clear()
                resp = await client.post(f"/erp/{entity}", json=page(items))
                assert resp.status_code == 200, resp.text
                counts[entity].append(len(statements))
    # materials: the upsert and the watermark; stock: lock, set (and log the adjustments), watermark
    assert counts == {"materials": [2, 2], "stock": [3, 3]}


async def test_migration_0004_goes_down_and_up(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("inventory")
    code = sku()
    async with committing_client(create_app, "inventory", url, pool_size=2) as client:
        await post_materials(client, [material(code, 1)])
        await post_stock(client, [{"sku": code, "on_hand": 4, "changed_at": at(2)}])
    await asyncio.to_thread(migrations.downgrade, "inventory", url, "0003")
    conn = await asyncpg.connect(asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        row = await conn.fetchrow("SELECT * FROM products WHERE sku = $1", code)
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    finally:
        await conn.close()
    assert row is not None
    assert (row["on_hand"], row["available"]) == (4, 4)
    assert not {"ean", "erp_changed_at", "stock_changed_at"} & set(row.keys())
    assert "erp_watermarks" not in tables
    await asyncio.to_thread(migrations.upgrade, "inventory", url)
    async with committing_client(create_app, "inventory", url, pool_size=2) as client:
        # The change times went with the columns: the next import applies whatever its time.
        assert counts(await post_materials(client, [material(code, 0, name="Again")])) == (0, 1, 0)
        assert (await post_stock(client, [{"sku": code, "on_hand": 6, "changed_at": at(0)}]))["updated"] == 1

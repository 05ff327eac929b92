"""The ERP's customers in identity: pages imported newest-wins with their watermark, read one by one or by e-mail."""

from __future__ import annotations

import asyncio
import random
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
from services.identity.app import create_app
from tests.conftest import FreshDatabase, ServiceDatabases
from tests.services.round_trips import Statements
from tests.support import committing_client, rolled_back_client

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["identity"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "identity", database_url) as (client, _):
        yield client


def number() -> str:
    """A customer number no other test uses (the numbers of the seed start at 0000100001)."""
    return f"9{random.randrange(10**9):09d}"


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def customer(customer_number: str, seconds: float, **overrides: Any) -> dict[str, Any]:
    item = {
        "customer_number": customer_number,
        "name": f"Customer {customer_number}",
        "email": f"c{customer_number}@example.com",
        "street": "Hauptstrasse 1",
        "city": "Hamburg",
        "postal_code": "20095",
        "country": "DE",
        "delivery_blocked": False,
        "credit_blocked": False,
        "changed_at": at(seconds),
    }
    return {**item, **overrides}


def page(items: list[dict[str, Any]]) -> dict[str, Any]:
    last = max(items, key=lambda i: (i["changed_at"], i["customer_number"]))
    return {"items": items, "watermark": {"changed_at": last["changed_at"], "key": last["customer_number"]}}


async def post(client: httpx.AsyncClient, items: list[dict[str, Any]]) -> tuple[int, int, int]:
    resp = await client.post("/erp/customers", json=page(items))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return body["inserted"], body["updated"], body["unchanged"]


async def one(client: httpx.AsyncClient, customer_number: str) -> dict[str, Any]:
    resp = await client.get(f"/customers/{customer_number}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_a_page_creates_and_updates_newest_wins(client: httpx.AsyncClient) -> None:
    a, b = number(), number()
    first = [customer(a, 10), customer(b, 11, email=None, credit_blocked=True)]
    assert await post(client, first) == (2, 0, 0)
    stored = await one(client, b)
    assert stored == {**customer(b, 11, email=None, credit_blocked=True), "changed_at": at(11)}

    assert await post(client, first) == (0, 0, 2)
    older = [customer(a, 9, name="Old name"), customer(b, 11, credit_blocked=False)]
    assert await post(client, older) == (0, 0, 2)
    assert (await one(client, a))["name"] == f"Customer {a}"
    assert (await one(client, b))["credit_blocked"] is True

    newer = [customer(a, 20, city="Berlin", delivery_blocked=True), customer(b, 5), customer(number(), 21)]
    assert await post(client, newer) == (1, 1, 1)
    moved = await one(client, a)
    assert (moved["city"], moved["delivery_blocked"], moved["changed_at"]) == ("Berlin", True, at(20))


async def test_the_newest_copy_in_one_page_wins(client: httpx.AsyncClient) -> None:
    a = number()
    assert await post(client, [customer(a, 2, name="Second"), customer(a, 3, name="Third"), customer(a, 1)]) == (
        1,
        0,
        2,
    )
    assert (await one(client, a))["name"] == "Third"


async def test_customers_by_email_ignore_case_and_page(client: httpx.AsyncClient) -> None:
    a, b, c = sorted(number() for _ in range(3))
    shared = f"Shared.{a}@Example.com"
    await post(client, [customer(a, 1, email=shared), customer(b, 2, email=shared.upper()), customer(c, 3)])

    found = (await client.get("/customers", params={"email": shared.lower()})).json()
    assert [x["customer_number"] for x in found["items"]] == [a, b]
    assert (found["total"], found["limit"], found["offset"]) == (2, 100, 0)
    second = (await client.get("/customers", params={"email": shared, "limit": 1, "offset": 1})).json()
    assert ([x["customer_number"] for x in second["items"]], second["total"]) == ([b], 2)
    # The whole address, not a pattern: a LIKE wildcard finds nothing.
    nothing = (await client.get("/customers", params={"email": f"%{a}@example.com"})).json()
    assert (nothing["items"], nothing["total"]) == ([], 0)
    listed = (await client.get("/customers", params={"limit": 500})).json()
    assert listed["total"] >= 3
    assert [x["customer_number"] for x in listed["items"]] == sorted(x["customer_number"] for x in listed["items"])


async def test_an_unknown_customer_is_404(client: httpx.AsyncClient) -> None:
    resp = await client.get(f"/customers/{number()}")
    assert resp.status_code == 404
    assert resp.json()["type"] == "UnknownCustomer"
    assert (await client.get("/customers/12345")).status_code == 422


async def test_customer_routes_need_the_service_token(client: httpx.AsyncClient) -> None:
    for method, path in (("GET", "/customers"), ("GET", "/erp/watermarks"), ("POST", "/erp/customers")):
        resp = await client.request(method, path, headers={"X-PakLog-Service-Token": "not-the-token"})
        assert resp.status_code == 401, path
        assert resp.json()["type"] == "InvalidServiceCredential"


async def test_the_watermark_commits_with_the_rows(
    fresh_database: FreshDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await fresh_database("identity")
    async with committing_client(create_app, "identity", url, pool_size=2) as client:
        assert (await client.get("/erp/watermarks")).json() == {"customers": None}
        a, b = number(), number()
        await post(client, [customer(a, 1), customer(b, 2)])
        marks = (await client.get("/erp/watermarks")).json()
        last = max((a, 1), (b, 2), key=lambda x: (x[1], x[0]))
        assert (marks["customers"]["changed_at"], marks["customers"]["key"], marks["customers"]["rows"]) == (
            at(2),
            last[0],
            2,
        )

        async def store_then_fail(*args: Any, **kwargs: Any) -> Any:
            await store_watermark(*args, **kwargs)
            raise Conflict("the watermark could not be stored", type="InjectedFailure")

        monkeypatch.setattr("services.identity.erp_import.store_watermark", store_then_fail)
        lost = number()
        failed = await client.post("/erp/customers", json=page([customer(lost, 9), customer(a, 10, name="Lost")]))
        assert failed.status_code == 409
        monkeypatch.undo()

        assert (await client.get(f"/customers/{lost}")).status_code == 404
        assert (await one(client, a))["name"] == f"Customer {a}"
        assert (await client.get("/erp/watermarks")).json() == marks


def _too_many() -> dict[str, Any]:
    return page([customer(f"{n:010d}", n) for n in range(1001)])


BAD_PAGES: dict[str, Any] = {
    "no items": {"items": [], "watermark": {"changed_at": at(1), "key": "0000000001"}},
    "too many items": _too_many(),
    "short number": page([customer("12345", 1)]),
    "number with letters": page([customer("00001000AB", 1)]),
    "name too long": page([customer("0000000001", 1, name="x" * 201)]),
    "empty name": page([customer("0000000001", 1, name="")]),
    "email too long": page([customer("0000000001", 1, email=f"{'x' * 60}@{'y' * 200}.com")]),
    "not an email": page([customer("0000000001", 1, email="nobody")]),
    "street too long": page([customer("0000000001", 1, street="x" * 201)]),
    "city too long": page([customer("0000000001", 1, city="x" * 101)]),
    "postal code too long": page([customer("0000000001", 1, postal_code="1" * 21)]),
    "bad country": page([customer("0000000001", 1, country="Germany")]),
    "blocked as text": page([customer("0000000001", 1, credit_blocked="true")]),
    "blocked as a number": page([customer("0000000001", 1, delivery_blocked=1)]),
    "naive time": page([customer("0000000001", 1, changed_at="2026-05-04T10:00:00")]),
    "unknown field": page([customer("0000000001", 1, vip=True)]),
}


@pytest.mark.parametrize("case", sorted(BAD_PAGES))
async def test_bad_pages_are_refused_whole(client: httpx.AsyncClient, case: str) -> None:
    marks = (await client.get("/erp/watermarks")).json()
    resp = await client.post("/erp/customers", json=BAD_PAGES[case])
    assert resp.status_code == 422, resp.text
    assert resp.json()["type"] == "ValidationError"
    assert (await client.get("/customers/0000000001")).status_code == 404
    assert (await client.get("/erp/watermarks")).json() == marks


async def test_a_page_costs_the_same_statements_for_5_rows_as_for_500(
    fresh_database: FreshDatabase, statements: Statements
) -> None:
    """Set-based statements, no object per row: the round trips do not grow with the page.

    (What a page costs in time is the bench's to measure.)
    """
    url = await fresh_database("identity")
    async with committing_client(create_app, "identity", url, pool_size=1) as client:
        await post(client, [customer(number(), 1)])  # the connection's first use
        counts = []
        for size in (5, 500):
            base = random.randrange(10**8) * 10
            items = [customer(f"{base + n:010d}"[-10:], 10 + n) for n in range(size)]
            statements.clear()
            resp = await client.post("/erp/customers", json=page(items))
            assert resp.status_code == 200, resp.text
            counts.append(len(statements))
    assert counts == [2, 2]  # the upsert and the watermark


async def test_migration_0002_goes_down_and_up(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("identity")
    async with committing_client(create_app, "identity", url, pool_size=2) as client:
        await post(client, [customer(number(), 1)])
    await asyncio.to_thread(migrations.downgrade, "identity", url, "0001")
    conn = await asyncpg.connect(asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    finally:
        await conn.close()
    assert not tables & {"customers", "erp_watermarks"}
    await asyncio.to_thread(migrations.upgrade, "identity", url)
    async with committing_client(create_app, "identity", url, pool_size=2) as client:
        assert await post(client, [customer(number(), 1)]) == (1, 0, 0)

"""POST /stock/moves: free units of one SKU and lot from one bin to another.

How an operator puts found units away from the stock-adjustment bin into a
real one, or books missing ones out of a real bin into it. Only the adjustment
bin may go below zero; allocated units never move.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.warehouse.app import create_app
from tests.conftest import FreshDatabase
from tests.services.warehouse.factories import allocate, bins, enqueue, make_bin, make_location, new_sku, plan
from tests.services.warehouse.test_concurrency import stock_floor
from tests.support import committing_client

Sessions = async_sessionmaker[AsyncSession]
ADJ = "X-00-00-0"


async def move(
    client: httpx.AsyncClient, sku: str, source: str, destination: str, quantity: int, **extra: Any
) -> httpx.Response:
    headers = {"Idempotency-Key": extra.pop("key")} if "key" in extra else {}
    body = {"sku": sku, "from": source, "to": destination, "quantity": quantity, **extra}
    return await client.post("/stock/moves", json=body, headers=headers)


async def moved(client: httpx.AsyncClient, *args: Any, **extra: Any) -> dict[str, Any]:
    resp = await move(client, *args, **extra)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def counts(row: dict[str, Any]) -> tuple[str, int, int]:
    return row["location"], row["quantity"], row["allocated"]


async def test_found_units_are_put_away_from_the_adjustment_bin(client: httpx.AsyncClient, sessions: Sessions) -> None:
    sku = new_sku()
    shelf = await make_location(sessions, 10)
    before = datetime.now(UTC)
    # No row in either bin yet: the adjustment bin goes below zero, the shelf's row is made.
    answer = await moved(client, sku, ADJ, shelf, 4)
    assert answer["sku"] == sku
    assert answer["lot"] is None
    assert answer["quantity"] == 4
    assert counts(answer["from"]) == (ADJ, -4, 0)
    assert counts(answer["to"]) == (shelf, 4, 0)
    assert datetime.fromisoformat(answer["to"]["received_at"]) >= before
    assert answer["to"]["expiry_date"] is None
    assert await bins(client, sku) == {ADJ: (-4, 0), shelf: (4, 0)}
    # The ERP's count of the found units arrives later and evens the bin out.
    resp = await client.post("/stock/adjustments", json={"items": [{"id": 77_000_001, "sku": sku, "delta": 4}]})
    assert resp.json() == {"applied": 1, "duplicate": 0}
    assert await bins(client, sku) == {ADJ: (0, 0), shelf: (4, 0)}


async def test_missing_units_are_booked_out_into_the_adjustment_bin(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    sku = new_sku()
    # A locked bin moves too: a count (after a short pick) is what finds units missing.
    shelf = await make_location(sessions, 10, locked=True)
    await make_bin(sessions, shelf, sku, 6)
    answer = await moved(client, sku, shelf, ADJ, 6)
    assert (counts(answer["from"]), counts(answer["to"])) == ((shelf, 0, 0), (ADJ, 6, 0))
    assert await bins(client, sku) == {shelf: (0, 0), ADJ: (6, 0)}
    assert {t["sku"]: t["quantity"] for t in (await client.get("/stock/totals")).json()}[sku] == 6


async def test_a_move_between_real_bins_keeps_the_lot_and_its_expiry(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    sku = new_sku()
    first, second = await make_location(sessions, 10), await make_location(sessions, 20)
    expiry = datetime.now(UTC).date() + timedelta(days=90)
    await make_bin(sessions, first, sku, 5, lot="L1", expiry_date=expiry, received_days_ago=30)
    await make_bin(sessions, first, sku, 9, lot="L2")
    answer = await moved(client, sku, first, second, 2, lot="L1")
    assert answer["lot"] == "L1"
    assert answer["to"]["expiry_date"] == expiry.isoformat()
    assert answer["from"]["received_at"] != answer["to"]["received_at"]
    rows = {
        (r["location"], r["lot"]): (r["quantity"], r["expiry_date"])
        for r in (await client.get("/stock", params={"sku": sku})).json()
    }
    assert rows == {
        (first, "L1"): (3, expiry.isoformat()),
        (first, "L2"): (9, None),
        (second, "L1"): (2, expiry.isoformat()),
    }
    # Into a row that exists: added to it, its own dates kept.
    again = await moved(client, sku, first, second, 3, lot="L1")
    assert (counts(again["from"]), counts(again["to"])) == ((first, 0, 0), (second, 5, 0))
    assert again["to"]["received_at"] == answer["to"]["received_at"]
    # A lot the source does not hold has no free units, whatever the SKU's other lots hold.
    resp = await move(client, sku, first, second, 1)
    assert resp.status_code == 409
    assert resp.json()["type"] == "NotEnoughFreeUnits"
    assert (resp.json()["requested"], resp.json()["free"]) == (1, 0)


async def test_allocated_units_never_move(client: httpx.AsyncClient, sessions: Sessions) -> None:
    sku = new_sku()
    shelf = await make_location(sessions, 10)
    await make_bin(sessions, shelf, sku, 10)
    await enqueue(client, [(sku, 7)])
    await allocate(client, (await plan(client))["wave_id"])
    assert await bins(client, sku) == {shelf: (10, 7)}
    resp = await move(client, sku, shelf, ADJ, 4)
    assert resp.status_code == 409
    assert resp.json() | {"detail": ""} == {
        "type": "NotEnoughFreeUnits",
        "detail": "",
        "location": shelf,
        "sku": sku,
        "lot": None,
        "requested": 4,
        "free": 3,
    }
    assert await bins(client, sku) == {shelf: (10, 7)}
    answer = await moved(client, sku, shelf, ADJ, 3)
    assert (counts(answer["from"]), counts(answer["to"])) == ((shelf, 7, 7), (ADJ, 3, 0))
    # The adjustment bin's units are free: they go anywhere, as many as asked.
    other = await make_location(sessions, 20)
    answer = await moved(client, sku, ADJ, other, 5)
    assert (counts(answer["from"]), counts(answer["to"])) == ((ADJ, -2, 0), (other, 5, 0))


async def test_an_empty_or_missing_source_row_has_no_free_units(client: httpx.AsyncClient, sessions: Sessions) -> None:
    sku = new_sku()
    shelf, other = await make_location(sessions, 10), await make_location(sessions, 20)
    resp = await move(client, sku, shelf, other, 1)
    assert (resp.status_code, resp.json()["type"], resp.json()["free"]) == (409, "NotEnoughFreeUnits", 0)
    # Refused whole: not even the destination's row was made.
    assert await bins(client, sku) == {}
    await make_bin(sessions, shelf, sku, 2)
    resp = await move(client, sku, shelf, other, 3)
    assert (resp.status_code, resp.json()["free"]) == (409, 2)
    assert await bins(client, sku) == {shelf: (2, 0)}


async def test_unknown_locations_are_404_and_one_bin_is_422(client: httpx.AsyncClient, sessions: Sessions) -> None:
    sku = new_sku()
    shelf = await make_location(sessions, 10)
    await make_bin(sessions, shelf, sku, 2)
    for source, destination in ((shelf, "Q-99-99-9"), ("Q-99-99-9", shelf), ("Q-99-99-9", ADJ)):
        resp = await move(client, sku, source, destination, 1)
        assert (resp.status_code, resp.json()["type"]) == (404, "LocationNotFound")
        assert "Q-99-99-9" in resp.json()["detail"]
    for source in (shelf, ADJ):
        resp = await move(client, sku, source, source, 1)
        assert (resp.status_code, resp.json()["type"]) == (422, "ValidationError")
    assert await bins(client, sku) == {shelf: (2, 0)}


@pytest.mark.parametrize(
    "body",
    [
        {"quantity": 0},
        {"quantity": 100_001},
        {"quantity": "1"},
        {"lot": ""},
        {"sku": "mug"},
        {"from": "A-1-1-1"},
        {"to": None},
        {"source": "A-01-01-1"},
        {"reason": "found"},
    ],
)
async def test_bad_moves_are_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    base = {"sku": "MUG-RED", "from": ADJ, "to": "A-01-01-1", "quantity": 1}
    resp = await client.post("/stock/moves", json=base | body)
    assert (resp.status_code, resp.json()["type"]) == (422, "ValidationError"), resp.text


async def test_a_keyed_move_moves_once(client: httpx.AsyncClient, sessions: Sessions) -> None:
    sku = new_sku()
    shelf = await make_location(sessions, 10)
    first = await moved(client, sku, ADJ, shelf, 100_000, key="move-1")
    again = await move(client, sku, ADJ, shelf, 100_000, key="move-1")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first
    assert await bins(client, sku) == {ADJ: (-100_000, 0), shelf: (100_000, 0)}
    other = await move(client, sku, ADJ, shelf, 2, key="move-1")
    assert (other.status_code, other.json()["type"]) == (409, "IdempotencyKeyReused")
    # A refused move keeps nothing, its key neither: once the units are there, the same request moves them.
    refused = await move(client, sku, shelf, ADJ, 1, key="move-2", lot="L9")
    assert (refused.status_code, refused.json()["type"]) == (409, "NotEnoughFreeUnits")
    await make_bin(sessions, shelf, sku, 1, lot="L9")
    assert (await moved(client, sku, shelf, ADJ, 1, key="move-2", lot="L9"))["to"]["quantity"] == 1


async def test_the_openapi_document_tells_what_a_move_answers(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert set(schemas["MoveIn"]["properties"]) == {"sku", "from", "to", "quantity", "lot"}
    assert set(schemas["StockMoved"]["properties"]) == {"sku", "lot", "quantity", "from", "to"}
    for path, errors in (("/stock/moves", {"404", "409", "422"}), ("/stock/adjustments", {"409", "422"})):
        operation = document["paths"][path]["post"]
        assert errors <= set(operation["responses"]), path
        assert "Idempotency-Key" in {p["name"] for p in operation["parameters"] if p["in"] == "header"}, path


async def test_moves_both_ways_at_once_neither_deadlock_nor_lose_a_unit(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("warehouse")
    sku = new_sku()
    left, right = await stock_floor(url, sku, [60, 60])
    async with committing_client(create_app, "warehouse", url) as client:
        plans = [(left, right), (right, left), (ADJ, left), (right, ADJ)] * 8
        answers = await asyncio.gather(*(move(client, sku, a, b, 3) for a, b in plans))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
        final = await bins(client, sku)
    # Eight moves of 3 each way: 24 units per direction.
    assert final == {left: (60 - 24 + 24 + 24, 0), right: (60 + 24 - 24 - 24, 0), ADJ: (-24 + 24, 0)}

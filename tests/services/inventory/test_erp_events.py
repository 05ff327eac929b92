"""The ERP's material and stock events in inventory: once per event id, the import's newest-wins rules,
unknown SKUs kept as dead letters, the import's watermark untouched."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.inventory.app import create_app
from tests.conftest import FreshDatabase, ServiceDatabases
from tests.services.inventory.test_erp_import import at, material, post_materials, post_stock, sku
from tests.support import committing_client, rolled_back_client


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["inventory"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "inventory", database_url) as (client, _):
        yield client


def envelope(event_type: str, code: str, seconds: float, data: dict[str, Any], event_id: str | None) -> dict[str, Any]:
    event_id = event_id or str(uuid.uuid4())
    return {
        "event_id": event_id,
        "type": event_type,
        "object_id": code,
        "occurred_at": at(seconds),
        "body": {"event_id": event_id, "type": event_type, "object_id": code, "occurred_at": at(seconds), "data": data},
    }


def material_event(code: str, seconds: float, *, event_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    item = material(code, seconds, **overrides)
    return {**envelope("MaterialChanged", code, seconds, {"Material": code}, event_id), "material": item}


def stock_event(code: str, on_hand: int, seconds: float, *, event_id: str | None = None) -> dict[str, Any]:
    item = {"sku": code, "on_hand": on_hand, "changed_at": at(seconds)}
    data = {"Material": code, "UnrestrictedStock": on_hand}
    return {**envelope("StockChanged", code, seconds, data, event_id), "stock": item}


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/erp/events", json=body)
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


async def product(client: httpx.AsyncClient, code: str) -> dict[str, Any]:
    resp = await client.get(f"/products/{code}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def known(client: httpx.AsyncClient, on_hand: int = 10) -> str:
    code = sku("EV")
    resp = await client.put(f"/products/{code}", json={"name": "Seeded", "price_cents": 100, "on_hand": on_hand})
    assert resp.status_code == 200, resp.text
    return code


async def test_a_material_event_applies_once_and_an_older_one_is_stale(client: httpx.AsyncClient) -> None:
    code = await known(client)
    newer = material_event(code, 20, price_cents=1999, name="Renamed")
    first = await post(client, newer)
    assert first == {
        "event_id": newer["event_id"],
        "type": "MaterialChanged",
        "object_id": code,
        "result": "applied",
        "status": "applied",
        "reason": None,
    }
    assert (await product(client, code))["price_cents"] == 1999
    again = await post(client, newer)
    assert (again["result"], again["status"]) == ("duplicate", "applied")
    older = await post(client, material_event(code, 10, price_cents=1))
    assert older["result"] == "stale"
    shown = await product(client, code)
    assert (shown["price_cents"], shown["name"], shown["on_hand"]) == (1999, "Renamed", 10)  # stock untouched


async def test_events_and_import_pages_never_undo_each_other(client: httpx.AsyncClient) -> None:
    code = await known(client)
    before = (await client.get("/erp/watermarks")).json()
    await post_materials(client, [material(code, 30, price_cents=3000)])
    # An event the import has already overtaken changes nothing ...
    assert (await post(client, material_event(code, 20, price_cents=2000)))["result"] == "stale"
    # ... and a newer event is not undone by a late page with older data.
    assert (await post(client, material_event(code, 40, price_cents=4000)))["result"] == "applied"
    assert (await post_materials(client, [material(code, 35, price_cents=3500)]))["unchanged"] == 1
    assert (await product(client, code))["price_cents"] == 4000
    # Stock likewise; and events never move the import's watermarks.
    await post_stock(client, [{"sku": code, "on_hand": 30, "changed_at": at(30)}])
    assert (await post(client, stock_event(code, 20, 20)))["result"] == "stale"
    assert (await post(client, stock_event(code, 40, 40)))["result"] == "applied"
    after = (await client.get("/erp/watermarks")).json()
    rows_before = before["materials"]["rows"] if before["materials"] else 0
    assert (after["materials"]["changed_at"], after["materials"]["rows"]) == (at(35), rows_before + 2)
    assert after["stock"]["changed_at"] == at(30)


async def test_a_stock_event_sets_on_hand_and_out_of_order_ones_are_stale(client: httpx.AsyncClient) -> None:
    code = await known(client, on_hand=10)
    assert (await post(client, stock_event(code, 50, 20)))["result"] == "applied"
    assert (await post(client, stock_event(code, 40, 10)))["result"] == "stale"  # came late
    shown = await product(client, code)
    assert (shown["on_hand"], shown["available"], shown["reserved"]) == (50, 50, 0)


async def test_a_count_below_the_reservation_is_kept_aside_and_a_later_one_applies(client: httpx.AsyncClient) -> None:
    code = await known(client, on_hand=10)
    held = await client.post(
        "/reservations", json={"order_id": f"o-{uuid.uuid4().hex[:8]}", "lines": [{"sku": code, "quantity": 6}]}
    )
    assert held.status_code == 201, held.text
    below = await post(client, stock_event(code, 5, 10))
    assert (below["result"], below["reason"]) == ("dead_letter", "StockBelowReserved")
    assert (await product(client, code))["on_hand"] == 10
    later = await post(client, stock_event(code, 8, 11))
    assert later["result"] == "applied"
    shown = await product(client, code)
    assert (shown["on_hand"], shown["available"], shown["reserved"]) == (8, 2, 6)


async def test_unknown_skus_are_dead_letters_kept_with_their_body(client: httpx.AsyncClient) -> None:
    nobody = sku("NOPE")
    lost = [material_event(nobody, 1), stock_event(nobody, 5, 2)]
    for event in lost:
        answer = await post(client, event)
        assert (answer["result"], answer["reason"]) == ("dead_letter", "UnknownMaterial")
        assert (await post(client, event))["result"] == "duplicate"
    assert (await client.get(f"/products/{nobody}")).status_code == 404  # no product is made of an event

    page = (await client.get("/erp/events", params={"status": "dead_letter"})).json()
    assert [e["event_id"] for e in page["items"]] == [lost[1]["event_id"], lost[0]["event_id"]]
    assert page["total"] == 2
    assert page["items"][1]["body"] == lost[0]["body"]
    everything = (await client.get("/erp/events")).json()
    assert everything["total"] == 2


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda e: {**e, "type": "StockChanged"}, id="type-without-its-data"),
        pytest.param(lambda e: {**e, "stock": {"sku": e["object_id"], "on_hand": 1, "changed_at": at(1)}}, id="both"),
        pytest.param(lambda e: {**e, "object_id": "OTHER-SKU"}, id="object-mismatch"),
        pytest.param(lambda e: {**e, "type": "CustomerChanged"}, id="not-inventorys"),
        pytest.param(lambda e: {**e, "material": {**e["material"], "price_cents": -1}}, id="bad-material"),
    ],
)
async def test_malformed_events_are_422(client: httpx.AsyncClient, change: Any) -> None:
    resp = await client.post("/erp/events", json=change(material_event("MUG-RED", 1)))
    assert (resp.status_code, resp.json()["type"]) == (422, "ValidationError")


async def test_the_same_id_with_another_body_is_409(client: httpx.AsyncClient) -> None:
    code = await known(client)
    first = material_event(code, 1)
    await post(client, first)
    resp = await client.post("/erp/events", json=material_event(code, 2, event_id=first["event_id"]))
    assert (resp.status_code, resp.json()["type"]) == (409, "EventMismatch")


async def test_concurrent_copies_apply_once_and_the_newest_count_wins(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("inventory")
    async with committing_client(create_app, "inventory", url) as client:
        code = await known(client, on_hand=1)
        twice = stock_event(code, 70, 30)
        bodies = [twice] * 6 + [stock_event(code, n * 10, n) for n in (10, 20, 40, 25)]
        answers = await asyncio.gather(*(client.post("/erp/events", json=b) for b in bodies))
        assert {a.status_code for a in answers} == {200}
        assert [a.json()["result"] for a in answers[:6]].count("duplicate") == 5
        shown = await product(client, code)
        assert shown["on_hand"] == 400  # the count of second 40
        recorded = (await client.get("/erp/events")).json()
        assert recorded["total"] == 5
        assert sum(e["status"] == "applied" for e in recorded["items"]) >= 1

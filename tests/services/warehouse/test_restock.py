"""Restock after a failed delivery: issued units go back into the bins they were picked from, once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.inventory.app import create_app as inventory_app
from services.warehouse.app import create_app
from tests.conftest import FreshDatabase, ServiceDatabases
from tests.services.warehouse.factories import (
    bins,
    enqueue,
    make_bin,
    make_location,
    new_id,
    new_sku,
    released_wave,
    scan,
)
from tests.services.warehouse.test_concurrency import stock_floor
from tests.support import committing_client, rolled_back_client

Sessions = async_sessionmaker[AsyncSession]


async def confirm(client: httpx.AsyncClient, task: dict[str, Any], quantity: int | None = None) -> dict[str, Any]:
    resp = await client.post(f"/tasks/{task['task_id']}/confirm", json=scan(task, quantity))
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def issue(client: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    resp = await client.post(f"/orders/{order_id}/issue")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def restock(client: httpx.AsyncClient, order_id: str, **headers: str) -> httpx.Response:
    return await client.post(f"/orders/{order_id}/restock", headers=headers)


async def total(client: httpx.AsyncClient, sku: str) -> int:
    return sum(quantity for quantity, _ in (await bins(client, sku)).values())


async def two_bin_order(client: httpx.AsyncClient, sessions: Sessions) -> tuple[str, str, str, str]:
    """A SKU in two bins (3 older in the first, 5 in the second), an order of 5 picked in full and issued."""
    sku = new_sku()
    first, second = await make_location(sessions, 10), await make_location(sessions, 20)
    await make_bin(sessions, first, sku, 3, lot="L-OLD", received_days_ago=30)
    await make_bin(sessions, second, sku, 5, lot="L-NEW", received_days_ago=1)
    order_id = (await enqueue(client, [(sku, 5)]))["order_id"]
    for task in (await released_wave(client))["tasks"]:
        await confirm(client, task)
    await issue(client, order_id)
    return order_id, sku, first, second


async def test_restock_puts_the_issued_units_back_into_their_bins(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    order_id, sku, first, second = await two_bin_order(client, sessions)
    # The first bin was emptied by the issue; its row stays with 0 units.
    assert await bins(client, sku) == {first: (0, 0), second: (3, 0)}
    resp = await restock(client, order_id)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "order_id": order_id,
        "status": "RESTOCKED",
        "lines": [
            {"sku": sku, "location": first, "lot": "L-OLD", "quantity": 3},
            {"sku": sku, "location": second, "lot": "L-NEW", "quantity": 2},
        ],
    }
    # Back up by exactly what was issued, free to allocate again.
    assert await bins(client, sku) == {first: (3, 0), second: (5, 0)}
    assert await total(client, sku) == 8
    rows = (await client.get("/stock", params={"sku": sku})).json()
    assert {(r["location"], r["lot"]) for r in rows} == {(first, "L-OLD"), (second, "L-NEW")}


async def test_a_repeat_answers_the_same_and_never_restocks_twice(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    order_id, sku, first, second = await two_bin_order(client, sessions)
    first_answer = await restock(client, order_id)
    again = await restock(client, order_id)
    assert (again.status_code, again.json()) == (200, first_answer.json())
    assert await bins(client, sku) == {first: (3, 0), second: (5, 0)}
    # The issue's own repeat still answers the issue, and takes nothing again.
    assert (await issue(client, order_id))["status"] == "ISSUED"
    assert await bins(client, sku) == {first: (3, 0), second: (5, 0)}


async def test_a_restock_replays_under_its_key(client: httpx.AsyncClient, sessions: Sessions) -> None:
    order_id, sku, first, second = await two_bin_order(client, sessions)
    key = {"Idempotency-Key": f"order-{order_id}:restock"}
    first_answer = await restock(client, order_id, **key)
    replay = await restock(client, order_id, **key)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first_answer.json()
    assert await bins(client, sku) == {first: (3, 0), second: (5, 0)}


async def test_tasks_of_one_bin_come_back_as_one_line(client: httpx.AsyncClient, sessions: Sessions) -> None:
    sku = new_sku()
    loc = await make_location(sessions, 10)
    await make_bin(sessions, loc, sku, 10)
    order_id = (await enqueue(client, [(sku, 4)]))["order_id"]
    task = (await released_wave(client))["tasks"][0]
    await confirm(client, task)
    # Pack found one missing: it goes back to picking at the same bin, a second task.
    repick = await client.post(f"/orders/{order_id}/repick", json={"sku": sku, "quantity": 1})
    await confirm(client, repick.json()["tasks"][0])
    await issue(client, order_id)
    assert await bins(client, sku) == {loc: (6, 0)}
    resp = await restock(client, order_id)
    assert resp.json()["lines"] == [{"sku": sku, "location": loc, "lot": None, "quantity": 4}]
    assert await bins(client, sku) == {loc: (10, 0)}


async def test_a_locked_bin_takes_its_units_back(client: httpx.AsyncClient, sessions: Sessions) -> None:
    order_id, sku, first, second = await two_bin_order(client, sessions)
    assert (await client.post(f"/locations/{first}/lock", json={"reason": "cycle count"})).status_code == 200
    resp = await restock(client, order_id)
    assert resp.status_code == 200, resp.text
    assert await bins(client, sku) == {first: (3, 0), second: (5, 0)}
    location = (await client.get(f"/locations/{first}")).json()
    assert (location["locked"], location["lock_reason"]) == (True, "cycle count")


async def test_a_short_picked_bin_gets_back_what_was_picked_from_it(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    sku = new_sku()
    loc = await make_location(sessions, 10)
    await make_bin(sessions, loc, sku, 10)
    order_id = (await enqueue(client, [(sku, 4)]))["order_id"]
    task = (await released_wave(client))["tasks"][0]
    assert (await confirm(client, task, quantity=3))["short_quantity"] == 1
    await issue(client, order_id)
    # 1 written off at the short pick (the bin is locked for a count), 3 issued.
    assert await bins(client, sku) == {loc: (6, 0)}
    resp = await restock(client, order_id)
    assert resp.json()["lines"] == [{"sku": sku, "location": loc, "lot": None, "quantity": 3}]
    assert await bins(client, sku) == {loc: (9, 0)}
    assert (await client.get(f"/locations/{loc}")).json()["locked"] is True


async def test_a_bin_row_that_is_gone_is_made_again(client: httpx.AsyncClient, sessions: Sessions) -> None:
    order_id, sku, first, second = await two_bin_order(client, sessions)
    # No route deletes a bin row today (the tasks' foreign key forbids it); should an emptied row
    # ever go (a count that clears it), the units still find their way back. The test's
    # transaction is rolled back afterwards, the constraint with it.
    async with sessions() as session, session.begin():
        await session.exec(text("ALTER TABLE pick_tasks DROP CONSTRAINT pick_tasks_bin_id_fkey"))  # type: ignore[call-overload]
        await session.exec(
            text("DELETE FROM bin_stock WHERE location = :loc AND sku = :sku").bindparams(loc=first, sku=sku)  # type: ignore[call-overload]
        )
    assert await bins(client, sku) == {second: (3, 0)}
    resp = await restock(client, order_id)
    assert resp.status_code == 200, resp.text
    assert await bins(client, sku) == {first: (3, 0), second: (5, 0)}
    rows = {r["location"]: r for r in (await client.get("/stock", params={"sku": sku})).json()}
    assert rows[first]["lot"] == "L-OLD"


async def test_restock_only_after_issue(client: httpx.AsyncClient, sessions: Sessions) -> None:
    sku = new_sku()
    loc = await make_location(sessions, 10)
    await make_bin(sessions, loc, sku, 10)
    order_id = (await enqueue(client, [(sku, 4)]))["order_id"]
    waiting = await restock(client, order_id)
    assert (waiting.status_code, waiting.json()["type"]) == (409, "NotIssued")
    task = (await released_wave(client))["tasks"][0]
    await confirm(client, task)
    picked = await restock(client, order_id)
    assert (picked.status_code, picked.json()["type"]) == (409, "NotIssued")
    assert await bins(client, sku) == {loc: (10, 4)}
    await client.post(f"/orders/{order_id}/return-picks")
    returned = await restock(client, order_id)
    assert (returned.status_code, returned.json()["type"]) == (409, "NotIssued")
    assert await bins(client, sku) == {loc: (10, 0)}


async def test_the_database_refuses_a_restock_without_an_issue(client: httpx.AsyncClient, sessions: Sessions) -> None:
    order_id = (await enqueue(client, [(new_sku(), 1)]))["order_id"]
    async with sessions() as session:
        with pytest.raises(IntegrityError):
            async with session.begin():
                await session.exec(
                    text("UPDATE backlog SET restocked_at = now() WHERE order_id = :o").bindparams(o=order_id)  # type: ignore[call-overload]
                )


async def test_restock_of_an_unknown_order_is_404(client: httpx.AsyncClient) -> None:
    unknown = await restock(client, "never-came")
    assert (unknown.status_code, unknown.json()["type"]) == (404, "OrderNotFound")
    # A tombstone (withdrawn before it came) is no order either.
    await client.post("/backlog/withdrawn-first/withdraw")
    tombstone = await restock(client, "withdrawn-first")
    assert (tombstone.status_code, tombstone.json()["type"]) == (404, "OrderNotFound")
    assert (await restock(client, "has spaces")).status_code == 422


async def test_after_a_restock_nothing_of_the_order_changes(client: httpx.AsyncClient, sessions: Sessions) -> None:
    order_id, sku, first, second = await two_bin_order(client, sessions)
    await restock(client, order_id)
    for path, body in (("return-picks", None), ("reallocate", {"sku": sku, "quantity": 1})):
        refused = await client.post(f"/orders/{order_id}/{path}", json=body)
        assert (refused.status_code, refused.json()["type"]) == (409, "AlreadyIssued")
    assert await bins(client, sku) == {first: (3, 0), second: (5, 0)}


async def test_restocks_at_once_put_the_units_back_once(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("warehouse")
    sku = new_sku()
    codes = await stock_floor(url, sku, [3, 5])
    async with committing_client(create_app, "warehouse", url) as client:
        order_id = (await enqueue(client, [(sku, 6)]))["order_id"]
        for task in (await released_wave(client))["tasks"]:
            await confirm(client, task)
        await issue(client, order_id)
        assert await total(client, sku) == 2
        answers = await asyncio.gather(*(restock(client, order_id) for _ in range(6)))
        assert {a.status_code for a in answers} == {200}
        assert len({str(a.json()) for a in answers}) == 1
        assert await total(client, sku) == 8
        assert set(await bins(client, sku)) == set(codes)


# --- with inventory: for every SKU, the bins hold inventory's on_hand ---------------------------------------------


@pytest.fixture
def inventory_url(service_databases: ServiceDatabases) -> str:
    return service_databases["inventory"]


@pytest.fixture
async def inventory(inventory_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(inventory_app, "inventory", inventory_url) as (client, _):
        yield client


async def assert_bins_hold_on_hand(warehouse: httpx.AsyncClient, inventory: httpx.AsyncClient, sku: str) -> int:
    product = (await inventory.get(f"/products/{sku}")).json()
    assert product["on_hand"] == product["available"] + product["reserved"]
    assert await total(warehouse, sku) == product["on_hand"]
    return int(product["on_hand"])


async def test_bins_equal_on_hand_through_a_short_pick_issue_return_and_restock(
    client: httpx.AsyncClient, sessions: Sessions, inventory: httpx.AsyncClient
) -> None:
    sku = new_sku()
    older, newer = await make_location(sessions, 10), await make_location(sessions, 20)
    await make_bin(sessions, older, sku, 3, received_days_ago=30)
    await make_bin(sessions, newer, sku, 5, received_days_ago=1)
    assert (await inventory.put(f"/products/{sku}", json={"name": "Mug", "price_cents": 900, "on_hand": 8})).is_success
    order_id = new_id()
    held = {"order_id": order_id, "lines": [{"sku": sku, "quantity": 4}]}
    assert (await inventory.post("/reservations", json=held)).status_code == 201
    await enqueue(client, [(sku, 4)], order_id=order_id)
    tasks = {t["location"]: t for t in (await released_wave(client))["tasks"]}
    assert {loc: t["quantity"] for loc, t in tasks.items()} == {older: 3, newer: 1}
    assert await assert_bins_hold_on_hand(client, inventory, sku) == 8

    # A short pick at the older bin (1 missing): written off in both places, topped up and re-allocated.
    assert (await confirm(client, tasks[older], quantity=2))["short_quantity"] == 1
    adjust = {"sku": sku, "quantity": 1}
    write_off = await inventory.post(f"/reservations/{order_id}/write-off", json={**adjust, "reason": "short"})
    assert write_off.status_code == 200, write_off.text
    assert (await inventory.post(f"/reservations/{order_id}/top-up", json=adjust)).status_code == 200
    again = (await client.post(f"/orders/{order_id}/reallocate", json=adjust)).json()
    assert (again["unallocated"], again["tasks"][0]["location"]) == (0, newer)
    await confirm(client, tasks[newer])
    await confirm(client, again["tasks"][0])
    assert await assert_bins_hold_on_hand(client, inventory, sku) == 7

    # Goods issue in both places.
    assert (await inventory.post(f"/reservations/{order_id}/commit")).json()["status"] == "COMMITTED"
    issued = await issue(client, order_id)
    assert issued["lines"] == [{"sku": sku, "quantity": 4}]
    assert await assert_bins_hold_on_hand(client, inventory, sku) == 3

    # The delivery failed: the units come back in both places (the locked, short-picked bin takes its 2 too).
    back = await inventory.post(f"/reservations/{order_id}/return", json={"lines": issued["lines"]})
    assert back.json()["status"] == "RETURNED", back.text
    restocked = (await restock(client, order_id)).json()
    assert restocked["lines"] == [
        {"sku": sku, "location": older, "lot": None, "quantity": 2},
        {"sku": sku, "location": newer, "lot": None, "quantity": 2},
    ]
    assert await bins(client, sku) == {older: (2, 0), newer: (5, 0)}
    assert await assert_bins_hold_on_hand(client, inventory, sku) == 7

    # Repeats of both change nothing.
    assert (await inventory.post(f"/reservations/{order_id}/return", json={"lines": issued["lines"]})).is_success
    assert (await restock(client, order_id)).json() == restocked
    assert await assert_bins_hold_on_hand(client, inventory, sku) == 7

"""Credit holds: a held order is in no wave plan until it is requeued, in its old place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from tests.services.warehouse.factories import (
    allocate,
    bins,
    enqueue,
    make_bin,
    make_location,
    new_id,
    new_sku,
    plan,
    released_wave,
)

Sessions = async_sessionmaker[AsyncSession]
MORNING = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def hold(client: httpx.AsyncClient, order_id: str) -> httpx.Response:
    return await client.post(f"/backlog/{order_id}/hold")


async def requeue(client: httpx.AsyncClient, order_id: str) -> httpx.Response:
    return await client.post(f"/backlog/{order_id}/requeue")


async def test_a_held_order_is_planned_into_no_wave_until_it_is_requeued_in_its_old_place(
    client: httpx.AsyncClient,
) -> None:
    held = await enqueue(client, [("MUG-RED", 1)], placed_at=MORNING)
    later = await enqueue(client, [("MUG-RED", 1)], placed_at=MORNING + timedelta(hours=1))
    resp = await hold(client, held["order_id"])
    assert resp.json() == {"order_id": held["order_id"], "status": "HELD"}
    assert (await hold(client, held["order_id"])).json()["status"] == "HELD"  # a repeat
    assert [o["order_id"] for o in (await client.get("/backlog")).json()] == [later["order_id"]]

    back = await requeue(client, held["order_id"])
    assert back.json() == {"order_id": held["order_id"], "status": "WAITING"}
    assert (await requeue(client, held["order_id"])).json()["status"] == "WAITING"  # a repeat
    # It kept its place: placed earlier, planned first.
    assert [o["order_id"] for o in (await client.get("/backlog")).json()] == [held["order_id"], later["order_id"]]
    wave = await plan(client, max_orders=1)
    assert wave["order_ids"] == [held["order_id"]]


async def test_holding_a_planned_order_takes_it_out_of_its_wave(client: httpx.AsyncClient, sessions: Sessions) -> None:
    sku = new_sku()
    loc = await make_location(sessions, 10)
    await make_bin(sessions, loc, sku, 10)
    order = await enqueue(client, [(sku, 4)])
    wave = await plan(client)
    await allocate(client, wave["wave_id"])
    assert (await hold(client, order["order_id"])).json()["status"] == "HELD"
    assert await bins(client, sku) == {loc: (10, 0)}
    view = (await client.get(f"/waves/{wave['wave_id']}")).json()
    assert (view["order_ids"], [t["status"] for t in view["tasks"]]) == ([], ["CANCELLED"])
    assert (await requeue(client, order["order_id"])).json()["status"] == "WAITING"
    again = await plan(client)
    assert again["order_ids"] == [order["order_id"]]


async def test_too_late_on_the_floor_and_after_a_withdraw(client: httpx.AsyncClient, sessions: Sessions) -> None:
    sku = new_sku()
    await make_bin(sessions, await make_location(sessions, 10), sku, 10)
    on_floor = await enqueue(client, [(sku, 1)])
    await released_wave(client)
    refused = await hold(client, on_floor["order_id"])
    assert (refused.status_code, refused.json()["type"]) == (409, "OrderReleased")
    assert (await requeue(client, on_floor["order_id"])).json()["status"] == "RELEASED"

    gone = await enqueue(client, [(sku, 1)])
    assert (await hold(client, gone["order_id"])).status_code == 200
    # A cancel while held withdraws it for good: no hold or requeue brings it back.
    assert (await client.post(f"/backlog/{gone['order_id']}/withdraw")).json()["status"] == "WITHDRAWN"
    for resp in (await hold(client, gone["order_id"]), await requeue(client, gone["order_id"])):
        assert (resp.status_code, resp.json()["type"]) == (409, "OrderWithdrawn")

    never = new_id()
    assert (await hold(client, never)).json()["type"] == "BacklogNotFound"
    await client.post(f"/backlog/{never}/withdraw")  # only a tombstone stands
    assert (await requeue(client, never)).json()["type"] == "BacklogNotFound"

"""Pick tasks: next, confirm (short picks), reallocate, repick, return-picks and goods issue."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from tests.services.warehouse.factories import (
    bins,
    enqueue,
    make_bin,
    make_location,
    new_sku,
    released_wave,
    scan,
)

Sessions = async_sessionmaker[AsyncSession]


async def one_order_floor(
    client: httpx.AsyncClient, sessions: Sessions, quantity: int = 4, *, spare: int = 0
) -> tuple[str, str, str, str | None, dict[str, Any]]:
    """A SKU in one bin (10 units; ``spare`` more in a second bin), an order for ``quantity``, released; its task."""
    sku = new_sku()
    first = await make_location(sessions, 10)
    await make_bin(sessions, first, sku, 10, received_days_ago=30)
    second = None
    if spare:
        second = await make_location(sessions, 20)
        await make_bin(sessions, second, sku, spare, received_days_ago=1)
    order = await enqueue(client, [(sku, quantity)])
    allocation = await released_wave(client)
    return order["order_id"], sku, first, second, allocation["tasks"][0]


async def next_task(client: httpx.AsyncClient, picker: str, **params: str) -> httpx.Response:
    return await client.get("/tasks/next", params={"picker": picker, **params})


async def test_next_task_walks_the_pick_path_and_sticks_to_the_picker(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    sku = new_sku()
    late, early = await make_location(sessions, 50), await make_location(sessions, 5)
    await make_bin(sessions, late, sku, 5, received_days_ago=100)
    await make_bin(sessions, early, sku, 5, received_days_ago=1)
    await enqueue(client, [(sku, 8)])
    allocation = await released_wave(client)
    assert [t["location"] for t in allocation["tasks"]] == [early, late]
    first = (await next_task(client, "ann")).json()
    assert (first["location"], first["status"], first["assigned_to"]) == (early, "ASSIGNED", "ann")
    assert (await next_task(client, "ann")).json()["task_id"] == first["task_id"]
    second = (await next_task(client, "bob")).json()
    assert second["location"] == late
    assert (await next_task(client, "cid")).status_code == 204
    assert (await next_task(client, "cid", wave_id="nope")).status_code == 204


async def test_tasks_of_a_planned_wave_are_not_handed_out(client: httpx.AsyncClient, sessions: Sessions) -> None:
    sku = new_sku()
    await make_bin(sessions, await make_location(sessions, 10), sku, 5)
    await enqueue(client, [(sku, 1)])
    wave = (await client.post("/waves", json={"wave_id": "w-planned-only"})).json()
    await client.post(f"/waves/{wave['wave_id']}/allocate")
    assert (await next_task(client, "ann")).status_code == 204
    task = (await client.get(f"/waves/{wave['wave_id']}")).json()["tasks"][0]
    refused = await client.post(f"/tasks/{task['task_id']}/confirm", json=scan(task))
    assert refused.json()["type"] == "TaskNotOpen"


async def test_full_confirm_picks_and_moves_the_wave_to_picking(client: httpx.AsyncClient, sessions: Sessions) -> None:
    order_id, sku, loc, _, task = await one_order_floor(client, sessions)
    resp = await client.post(f"/tasks/{task['task_id']}/confirm", json=scan(task))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["short_quantity"] == 0
    assert (body["task"]["status"], body["task"]["picked_quantity"]) == ("PICKED", 4)
    assert (await client.get(f"/waves/{task['wave_id']}")).json()["status"] == "PICKING"
    # Picked units stay counted (allocated) in their bin until goods issue.
    assert await bins(client, sku) == {loc: (10, 4)}
    again = await client.post(f"/tasks/{task['task_id']}/confirm", json=scan(task))
    assert again.status_code == 409
    assert again.json()["type"] == "TaskNotOpen"
    assert (await client.get(f"/tasks/{task['task_id']}")).json()["status"] == "PICKED"
    assert [t["task_id"] for t in (await client.get(f"/orders/{order_id}/tasks")).json()] == [task["task_id"]]


async def test_confirm_refuses_a_wrong_scan_or_too_many_units(client: httpx.AsyncClient, sessions: Sessions) -> None:
    _, _, _, _, task = await one_order_floor(client, sessions)
    for wrong in ({"location": "Q-01-01-1"}, {"sku": "MUG-RED"}, {"lot": "OTHER"}):
        resp = await client.post(f"/tasks/{task['task_id']}/confirm", json={**scan(task), **wrong})
        assert resp.status_code == 409
        assert resp.json()["type"] == "ScanMismatch"
    resp = await client.post(f"/tasks/{task['task_id']}/confirm", json=scan(task, quantity=5))
    assert resp.json()["type"] == "QuantityExceedsTask"
    assert (await client.get(f"/tasks/{task['task_id']}")).json()["status"] == "OPEN"
    assert (await client.get(f"/tasks/{'0' * 32}")).json()["type"] == "TaskNotFound"


async def test_short_pick_locks_the_bin_writes_off_and_reallocates_elsewhere(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    order_id, sku, first, second, task = await one_order_floor(client, sessions, quantity=4, spare=5)
    resp = await client.post(f"/tasks/{task['task_id']}/confirm", json=scan(task, quantity=1))
    body = resp.json()
    assert body["short_quantity"] == 3
    assert (body["task"]["status"], body["task"]["picked_quantity"]) == ("SHORT", 1)
    location = (await client.get(f"/locations/{first}")).json()
    assert location["locked"] is True
    assert task["task_id"] in location["lock_reason"]
    # 3 units vanished: written off the bin's quantity and allocation; the 1 picked stays allocated.
    assert await bins(client, sku) == {first: (7, 1), second: (5, 0)}
    realloc = await client.post(f"/orders/{order_id}/reallocate", json={"sku": sku, "quantity": 3})
    assert realloc.status_code == 200, realloc.text
    new = realloc.json()
    assert new["unallocated"] == 0
    assert [(t["location"], t["quantity"], t["status"]) for t in new["tasks"]] == [(second, 3, "OPEN")]
    assert await bins(client, sku) == {first: (7, 1), second: (5, 3)}
    # More than the unlocked bins have: the rest is reported, the locked bin untouched.
    more = (await client.post(f"/orders/{order_id}/reallocate", json={"sku": sku, "quantity": 5})).json()
    assert more["unallocated"] == 3
    assert await bins(client, sku) == {first: (7, 1), second: (5, 5)}


async def test_short_pick_of_nothing(client: httpx.AsyncClient, sessions: Sessions) -> None:
    _, sku, loc, _, task = await one_order_floor(client, sessions, quantity=4)
    body = (await client.post(f"/tasks/{task['task_id']}/confirm", json=scan(task, quantity=0))).json()
    assert body["short_quantity"] == 4
    assert body["task"]["status"] == "SHORT"
    assert await bins(client, sku) == {loc: (6, 0)}


async def test_repick_sends_picked_units_back_to_the_same_bin(client: httpx.AsyncClient, sessions: Sessions) -> None:
    order_id, sku, loc, _, task = await one_order_floor(client, sessions, quantity=4)
    await client.post(f"/tasks/{task['task_id']}/confirm", json=scan(task))
    too_many = await client.post(f"/orders/{order_id}/repick", json={"sku": sku, "quantity": 5})
    assert too_many.status_code == 409
    assert too_many.json()["type"] == "RepickExceedsPicked"
    resp = await client.post(f"/orders/{order_id}/repick", json={"sku": sku, "quantity": 2})
    assert resp.status_code == 200, resp.text
    [new] = resp.json()["tasks"]
    assert (new["location"], new["lot"], new["quantity"], new["status"]) == (loc, task["lot"], 2, "OPEN")
    assert (await client.get(f"/tasks/{task['task_id']}")).json()["picked_quantity"] == 2
    assert await bins(client, sku) == {loc: (10, 4)}
    picked = (await client.post(f"/tasks/{new['task_id']}/confirm", json=scan(new))).json()
    assert picked["task"]["status"] == "PICKED"
    issued = (await client.post(f"/orders/{order_id}/issue")).json()
    assert issued["lines"] == [{"sku": sku, "quantity": 4}]
    assert await bins(client, sku) == {loc: (6, 0)}


async def test_issue_takes_picked_units_out_of_the_bins_once(client: httpx.AsyncClient, sessions: Sessions) -> None:
    order_id, sku, loc, _, task = await one_order_floor(client, sessions, quantity=4)
    early = await client.post(f"/orders/{order_id}/issue")
    assert early.status_code == 409
    assert early.json()["type"] == "TasksOpen"
    await client.post(f"/tasks/{task['task_id']}/confirm", json=scan(task, quantity=3))
    first = await client.post(f"/orders/{order_id}/issue")
    assert first.json() == {"order_id": order_id, "status": "ISSUED", "lines": [{"sku": sku, "quantity": 3}]}
    # 1 written off at the short pick, 3 issued.
    assert await bins(client, sku) == {loc: (6, 0)}
    assert (await client.post(f"/orders/{order_id}/issue")).json() == first.json()
    assert await bins(client, sku) == {loc: (6, 0)}
    for path, body in (("return-picks", None), ("reallocate", {"sku": sku, "quantity": 1})):
        refused = await client.post(f"/orders/{order_id}/{path}", json=body)
        assert refused.status_code == 409
        assert refused.json()["type"] == "AlreadyIssued"
    assert (await client.post(f"/backlog/{order_id}/withdraw")).json()["type"] == "OrderReleased"


async def test_return_picks_undoes_the_allocation_and_refuses_a_later_issue(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    order_id, sku, loc, _, task = await one_order_floor(client, sessions, quantity=4)
    await client.post(f"/tasks/{task['task_id']}/confirm", json=scan(task))
    resp = await client.post(f"/orders/{order_id}/return-picks")
    assert resp.json() == {"order_id": order_id, "status": "RETURNED"}
    assert await bins(client, sku) == {loc: (10, 0)}
    assert [t["status"] for t in (await client.get(f"/orders/{order_id}/tasks")).json()] == ["CANCELLED"]
    assert (await client.post(f"/orders/{order_id}/return-picks")).status_code == 200
    assert await bins(client, sku) == {loc: (10, 0)}
    refused = await client.post(f"/orders/{order_id}/issue")
    assert refused.status_code == 409
    assert refused.json()["type"] == "PicksReturned"
    assert (await client.post(f"/orders/{order_id}/repick", json={"sku": sku, "quantity": 1})).json()[
        "type"
    ] == "PicksReturned"
    # The parent's undo follows: once the picks are back, the order may leave the warehouse.
    assert (await client.post(f"/backlog/{order_id}/withdraw")).json()["status"] == "WITHDRAWN"
    # The wave can finish: nothing of it is open.
    assert (await client.post(f"/waves/{task['wave_id']}/complete")).json()["status"] == "DONE"


async def test_return_picks_of_an_unknown_order_has_nothing_to_undo(client: httpx.AsyncClient) -> None:
    resp = await client.post("/orders/never-came/return-picks")
    assert resp.status_code == 200
    assert resp.json() == {"order_id": "never-came", "status": None}
    assert (await client.post("/orders/never-came/issue")).json()["type"] == "OrderNotFound"
    assert (await client.get("/orders/never-came/tasks")).json() == []


async def test_confirm_with_idempotency_key_replays(client: httpx.AsyncClient, sessions: Sessions) -> None:
    _, sku, loc, _, task = await one_order_floor(client, sessions, quantity=4)
    headers = {"Idempotency-Key": f"pps-x:confirm:{task['task_id']}"}
    first = await client.post(f"/tasks/{task['task_id']}/confirm", json=scan(task, quantity=2), headers=headers)
    second = await client.post(f"/tasks/{task['task_id']}/confirm", json=scan(task, quantity=2), headers=headers)
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await bins(client, sku) == {loc: (8, 2)}


async def test_bin_stock_never_goes_negative_or_over_allocated(client: httpx.AsyncClient, sessions: Sessions) -> None:
    sku = new_sku()
    loc = await make_location(sessions, 10)
    await make_bin(sessions, loc, sku, 2)
    for statement in (
        "UPDATE bin_stock SET allocated = quantity + 1 WHERE sku = :sku",
        "UPDATE bin_stock SET quantity = -1, allocated = 0 WHERE sku = :sku",
        "UPDATE bin_stock SET allocated = -1 WHERE sku = :sku",
    ):
        async with sessions() as session:
            try:
                async with session.begin():
                    await session.exec(text(statement).bindparams(sku=sku))  # type: ignore[call-overload]
            except IntegrityError:
                pass
            else:
                raise AssertionError(f"the database accepted: {statement}")
    assert await bins(client, sku) == {loc: (2, 0)}

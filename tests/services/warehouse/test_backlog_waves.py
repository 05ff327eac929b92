"""The wave backlog and wave planning, allocation and transitions, against a real (rolled back) PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.warehouse.models import LocationType
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


@pytest.mark.parametrize(
    ("level", "placed", "cutoff"),
    [
        ("EXPRESS", "2026-03-02T11:59:00+00:00", "2026-03-02T12:00:00+00:00"),
        ("EXPRESS", "2026-03-02T12:00:00+00:00", "2026-03-03T12:00:00+00:00"),
        ("STANDARD", "2026-03-02T12:30:00+00:00", "2026-03-02T16:00:00+00:00"),
        ("STANDARD", "2026-03-02T17:30:00+01:00", "2026-03-03T16:00:00+00:00"),
    ],
)
async def test_cutoff_is_the_next_one_of_the_service_level(
    client: httpx.AsyncClient, level: str, placed: str, cutoff: str
) -> None:
    order = await enqueue(client, [("MUG-RED", 1)], service_level=level, placed_at=datetime.fromisoformat(placed))
    assert order["status"] == "WAITING"
    assert datetime.fromisoformat(order["cutoff_at"]) == datetime.fromisoformat(cutoff)


async def test_backlog_lists_waiting_orders_in_planning_order(client: httpx.AsyncClient) -> None:
    morning = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    late_standard = await enqueue(client, [("MUG-RED", 1)], placed_at=morning)
    express = await enqueue(client, [("MUG-RED", 1)], service_level="EXPRESS", placed_at=morning + timedelta(hours=1))
    urgent = await enqueue(client, [("MUG-RED", 1)], priority=9, placed_at=morning + timedelta(hours=2))
    earlier = await enqueue(client, [("MUG-RED", 1)], placed_at=morning - timedelta(hours=1))
    listed = [o["order_id"] for o in (await client.get("/backlog")).json()]
    expected = [express, urgent, earlier, late_standard]
    assert listed == [o["order_id"] for o in expected]


async def test_enqueue_repeat_answers_the_order_and_other_content_conflicts(client: httpx.AsyncClient) -> None:
    placed = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    first = await enqueue(client, [("MUG-RED", 1), ("MUG-RED", 2)], placed_at=placed)
    assert first["lines"] == [{"sku": "MUG-RED", "quantity": 3}]
    again = await enqueue(client, [("MUG-RED", 3)], order_id=first["order_id"], placed_at=placed)
    assert again == first
    other = await client.post(
        "/backlog",
        json={
            "order_id": first["order_id"],
            "lines": [{"sku": "MUG-RED", "quantity": 4}],
            "placed_at": placed.isoformat(),
        },
    )
    assert other.status_code == 409
    assert other.json()["type"] == "BacklogMismatch"


async def test_withdraw_leaves_a_tombstone(client: httpx.AsyncClient) -> None:
    order = await enqueue(client, [("MUG-RED", 1)])
    resp = await client.post(f"/backlog/{order['order_id']}/withdraw")
    assert resp.json() == {"order_id": order["order_id"], "status": "WITHDRAWN"}
    assert (await client.post(f"/backlog/{order['order_id']}/withdraw")).json()["status"] == "WITHDRAWN"
    late = await client.post(
        "/backlog",
        json={
            "order_id": order["order_id"],
            "lines": [{"sku": "MUG-RED", "quantity": 1}],
            "placed_at": order["placed_at"],
        },
    )
    assert late.status_code == 409
    assert late.json()["type"] == "OrderWithdrawn"
    # Withdrawn before it ever came: nothing to undo, and the late enqueue is refused too.
    never = new_id()
    resp = await client.post(f"/backlog/{never}/withdraw")
    assert resp.status_code == 200
    assert resp.json() == {"order_id": never, "status": None}
    late = await client.post(
        "/backlog",
        json={"order_id": never, "lines": [{"sku": "MUG-RED", "quantity": 1}], "placed_at": order["placed_at"]},
    )
    assert late.json()["type"] == "OrderWithdrawn"
    assert (await client.get("/backlog")).json() == []


async def test_plan_respects_max_orders_and_skips_orders_past_max_lines(client: httpx.AsyncClient) -> None:
    placed = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    a = await enqueue(client, [("MUG-RED", 1), ("MUG-BLU", 1)], placed_at=placed)
    big = await enqueue(
        client, [("MUG-RED", 1), ("MUG-BLU", 1), ("CAP-GRN", 1)], placed_at=placed + timedelta(minutes=1)
    )
    c = await enqueue(client, [("PEN-BLK", 1)], placed_at=placed + timedelta(minutes=2))
    d = await enqueue(client, [("PEN-BLK", 1)], placed_at=placed + timedelta(minutes=3))
    wave = await plan(client, max_orders=10, max_lines=3)
    assert wave["status"] == "PLANNED"
    assert wave["order_ids"] == [a["order_id"], c["order_id"]]
    second = await plan(client, max_orders=1, max_lines=100)
    assert second["order_ids"] == [big["order_id"]]
    backlog = (await client.get("/backlog")).json()
    assert [o["order_id"] for o in backlog] == [d["order_id"]]
    planned = await client.get(f"/waves/{wave['wave_id']}")
    assert planned.json()["order_ids"] == [a["order_id"], c["order_id"]]


async def test_nothing_to_plan_stores_no_wave(client: httpx.AsyncClient) -> None:
    wave_id = new_id("w")
    resp = await client.post("/waves", json={"wave_id": wave_id, "max_orders": 5, "max_lines": 5})
    assert resp.status_code == 409
    assert resp.json()["type"] == "NothingToPlan"
    assert (await client.get(f"/waves/{wave_id}")).status_code == 404


async def test_plan_repeat_answers_the_same_wave(client: httpx.AsyncClient) -> None:
    order = await enqueue(client, [("MUG-RED", 1)])
    body = {"wave_id": new_id("w"), "max_orders": 5, "max_lines": 5}
    first = await client.post("/waves", json=body)
    await enqueue(client, [("MUG-RED", 1)])
    again = await client.post("/waves", json=body)
    assert again.json()["order_ids"] == first.json()["order_ids"] == [order["order_id"]]
    other = await client.post("/waves", json={**body, "max_orders": 6})
    assert other.json()["type"] == "WaveExists"


async def test_allocation_is_fefo_for_dated_lots_and_fifo_otherwise(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    dated, undated = new_sku(), new_sku()
    near, far, newer, older = [await make_location(sessions, seq) for seq in (40, 10, 20, 30)]
    today = datetime.now(UTC).date()
    await make_bin(sessions, far, dated, 5, lot="L-FAR", expiry_date=today + timedelta(days=300), received_days_ago=90)
    await make_bin(sessions, near, dated, 5, lot="L-NEAR", expiry_date=today + timedelta(days=30), received_days_ago=1)
    await make_bin(sessions, newer, undated, 5, received_days_ago=2)
    await make_bin(sessions, older, undated, 5, received_days_ago=20)
    order = await enqueue(client, [(dated, 7), (undated, 6)])
    wave = await plan(client)
    allocation = await allocate(client, wave["wave_id"])
    tasks = allocation["tasks"]
    got = {(t["sku"], t["location"], t["lot"], t["quantity"]) for t in tasks}
    assert got == {
        (dated, near, "L-NEAR", 5),
        (dated, far, "L-FAR", 2),
        (undated, older, None, 5),
        (undated, newer, None, 1),
    }
    assert [t["pick_seq"] for t in tasks] == sorted(t["pick_seq"] for t in tasks) == [10, 20, 30, 40]
    assert all(t["status"] == "OPEN" and t["order_id"] == order["order_id"] for t in tasks)
    assert allocation["shortages"] == []
    assert await bins(client, dated) == {near: (5, 5), far: (5, 2)}


async def test_allocation_never_takes_a_locked_bin_and_reports_shortages(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    sku = new_sku()
    locked = await make_location(sessions, 10, locked=True)
    reserve = await make_location(sessions, 20, type=LocationType.RESERVE)
    await make_bin(sessions, locked, sku, 50, received_days_ago=100)
    await make_bin(sessions, reserve, sku, 3)
    order = await enqueue(client, [(sku, 5)])
    allocation = await allocate(client, (await plan(client))["wave_id"])
    assert [(t["location"], t["quantity"]) for t in allocation["tasks"]] == [(reserve, 3)]
    assert allocation["shortages"] == [{"order_id": order["order_id"], "sku": sku, "quantity": 2}]
    assert await bins(client, sku) == {locked: (50, 0), reserve: (3, 3)}
    # Locking by route works the same way.
    other = new_sku()
    await make_bin(sessions, reserve, other, 4)
    resp = await client.post(f"/locations/{reserve}/lock", json={"reason": "cycle count"})
    assert resp.json()["locked"] is True
    assert resp.json()["lock_reason"] == "cycle count"
    await enqueue(client, [(other, 1)])
    again = await allocate(client, (await plan(client))["wave_id"])
    assert again["tasks"] == []
    assert again["shortages"][0]["quantity"] == 1
    assert (await client.post(f"/locations/{reserve}/unlock")).json()["locked"] is False


async def test_allocation_is_idempotent(client: httpx.AsyncClient, sessions: Sessions) -> None:
    sku = new_sku()
    await make_bin(sessions, await make_location(sessions, 10), sku, 10)
    await enqueue(client, [(sku, 4)])
    wave = await plan(client)
    first = await allocate(client, wave["wave_id"])
    second = await allocate(client, wave["wave_id"])
    assert first == second
    assert len(first["tasks"]) == 1
    assert list((await bins(client, sku)).values()) == [(10, 4)]


async def test_wave_transitions_and_their_conflicts(client: httpx.AsyncClient, sessions: Sessions) -> None:
    sku = new_sku()
    await make_bin(sessions, await make_location(sessions, 10), sku, 10)
    order = await enqueue(client, [(sku, 2)])
    wave = await plan(client)
    wid = wave["wave_id"]
    assert (await client.post(f"/waves/{wid}/complete")).json()["type"] == "IllegalWaveTransition"
    await allocate(client, wid)
    released = await client.post(f"/waves/{wid}/release")
    assert released.json()["status"] == "RELEASED"
    assert released.json()["released_at"] is not None
    for action, body in (("release", None), ("cancel", None), ("remove-order", {"order_id": order["order_id"]})):
        resp = await client.post(f"/waves/{wid}/{action}", json=body)
        assert resp.status_code == 409, action
        assert resp.json()["type"] == "IllegalWaveTransition"
    refused = await client.post(f"/backlog/{order['order_id']}/withdraw")
    assert refused.status_code == 409
    assert refused.json()["type"] == "OrderReleased"
    busy = await client.post(f"/waves/{wid}/complete")
    assert busy.status_code == 409
    assert busy.json()["type"] == "TasksOpen"
    task = (await client.get(f"/orders/{order['order_id']}/tasks")).json()[0]
    await client.post(f"/tasks/{task['task_id']}/confirm", json={**_scan(task)})
    done = await client.post(f"/waves/{wid}/complete")
    assert done.json()["status"] == "DONE"
    assert done.json()["counts"] == {"open": 0, "assigned": 0, "picked": 1, "short": 0, "cancelled": 0}
    assert (await client.post(f"/waves/{wid}/complete")).status_code == 200
    assert (await client.post(f"/waves/{wid}/allocate")).status_code == 200
    listed = (await client.get("/waves", params={"status": "DONE"})).json()
    assert [w["wave_id"] for w in listed] == [wid]
    assert (await client.get("/waves/nope")).json()["type"] == "WaveNotFound"


def _scan(task: dict[str, object]) -> dict[str, object]:
    return {
        "location": task["location"],
        "sku": task["sku"],
        "lot": task["lot"],
        "quantity": task["quantity"],
        "picker": "p1",
    }


async def test_cancel_and_remove_order_give_the_allocation_back(client: httpx.AsyncClient, sessions: Sessions) -> None:
    sku = new_sku()
    loc = await make_location(sessions, 10)
    await make_bin(sessions, loc, sku, 10)
    first = await enqueue(client, [(sku, 2)])
    second = await enqueue(client, [(sku, 3)])
    wave = await plan(client)
    await allocate(client, wave["wave_id"])
    assert await bins(client, sku) == {loc: (10, 5)}
    removed = await client.post(f"/waves/{wave['wave_id']}/remove-order", json={"order_id": first["order_id"]})
    assert removed.json()["order_ids"] == [second["order_id"]]
    assert removed.json()["counts"]["cancelled"] == 1
    assert await bins(client, sku) == {loc: (10, 3)}
    assert [o["order_id"] for o in (await client.get("/backlog")).json()] == [first["order_id"]]
    cancelled = await client.post(f"/waves/{wave['wave_id']}/cancel")
    assert cancelled.json()["status"] == "CANCELLED"
    assert await bins(client, sku) == {loc: (10, 0)}
    waiting = {o["order_id"]: o for o in (await client.get("/backlog")).json()}
    assert set(waiting) == {first["order_id"], second["order_id"]}
    assert all(o["wave_id"] is None for o in waiting.values())
    # Planned again into a new wave, allocated again.
    again = await plan(client)
    await allocate(client, again["wave_id"])
    assert await bins(client, sku) == {loc: (10, 5)}


async def test_withdraw_from_a_planned_wave_undoes_its_allocation(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    sku = new_sku()
    loc = await make_location(sessions, 10)
    await make_bin(sessions, loc, sku, 10)
    order = await enqueue(client, [(sku, 4)])
    wave = await plan(client)
    await allocate(client, wave["wave_id"])
    resp = await client.post(f"/backlog/{order['order_id']}/withdraw")
    assert resp.json()["status"] == "WITHDRAWN"
    assert await bins(client, sku) == {loc: (10, 0)}
    view = (await client.get(f"/waves/{wave['wave_id']}")).json()
    assert view["order_ids"] == []
    assert [t["status"] for t in view["tasks"]] == ["CANCELLED"]


async def test_stations_and_locations(client: httpx.AsyncClient, sessions: Sessions) -> None:
    assert (await client.get("/stations")).json() == [{"code": "PACK-1"}, {"code": "PACK-2"}]
    code = await make_location(sessions, 10, locked=True)
    body = (await client.get(f"/locations/{code}")).json()
    assert body["locked"] is True
    assert body["pick_seq"] == 10
    # The stock-adjustment bin (migration 0004) is locked for good and first on the path.
    locked = [loc["code"] for loc in (await client.get("/locations", params={"locked": True})).json()]
    assert locked == ["X-00-00-0", code]
    assert (await client.get("/locations/Q-99-99-9")).json()["type"] == "LocationNotFound"
    assert (await client.post("/locations/Q-99-99-9/lock", json={"reason": "x"})).status_code == 404
    assert (await client.get("/locations/not-a-code")).status_code == 422


async def test_released_wave_helper(client: httpx.AsyncClient, sessions: Sessions) -> None:
    sku = new_sku()
    await make_bin(sessions, await make_location(sessions, 10), sku, 1, expiry_date=date(2030, 1, 1), lot="X1")
    await enqueue(client, [(sku, 1)])
    allocation = await released_wave(client)
    assert allocation["tasks"][0]["expiry_date"] == "2030-01-01"

"""The warehouse floor on the real platform, through the gateway only: wave, pick, pack, ship (issue 6).

Each test first clears the wave backlog (olivia cancels every order other
tests left in ``AWAITING_WAVE``), so a wave planned here holds exactly this
test's orders. The platform must not run the ``wave-planner`` schedule
during these tests (a long ``PAKLOG_WAVE_INTERVAL_SECONDS``), or it would
take the orders first.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from paklog.platform import LocalPlatform
from tests.e2e.test_orders_e2e import (
    activity_attempts,
    activity_started,
    order_body,
    payments_of,
    place,
    settle,
    stock,
)
from tests.e2e.test_zz_restart_and_cli import paklog

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

FINAL = {"SHIPPED", "DELIVERED", "CANCELLED"}


async def wait_for(http: httpx.AsyncClient, order_id: str, statuses: set[str], seconds: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        resp = await http.get(f"/api/orders/{order_id}")
        if resp.status_code == 200 and resp.json()["status"] in statuses:
            body: dict[str, Any] = resp.json()
            return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"order {order_id} never reached {statuses}: {resp.status_code} {resp.text}")


async def clear_backlog(olivia: httpx.AsyncClient) -> None:
    """Cancel every order still waiting for a wave (other tests leave them there)."""
    waiting: list[str] = []
    params: dict[str, Any] = {"status": "AWAITING_WAVE", "limit": 200}
    while True:
        page = (await olivia.get("/api/orders", params=params)).json()
        waiting += [o["order_id"] for o in page["items"]]
        if page["next_cursor"] is None:
            break
        params = {"status": "AWAITING_WAVE", "limit": 200, "cursor": page["next_cursor"]}
    gate = asyncio.Semaphore(8)

    async def cancel(order_id: str) -> None:
        async with gate:
            await olivia.post(f"/api/orders/{order_id}/cancel", json={"reason": "OPERATOR_CANCELLED"})
            await wait_for(olivia, order_id, FINAL)

    await asyncio.gather(*(cancel(o) for o in waiting))


async def plan(olivia: httpx.AsyncClient, order_ids: list[str]) -> dict[str, Any]:
    resp = await olivia.post("/api/waves", json={"max_orders": 50, "max_lines": 500})
    assert resp.status_code == 201, resp.text
    wave: dict[str, Any] = resp.json()
    assert wave["status"] == "PLANNED"
    assert sorted(wave["order_ids"]) == sorted(order_ids)
    return wave


async def release(olivia: httpx.AsyncClient, wave_id: str) -> dict[str, Any]:
    resp = await olivia.post(f"/api/waves/{wave_id}/release")
    assert resp.status_code == 200, resp.text
    wave: dict[str, Any] = resp.json()
    assert wave["status"] in ("RELEASED", "PICKING")
    return wave


async def scan(olivia: httpx.AsyncClient, task: dict[str, Any], **overrides: Any) -> httpx.Response:
    """Confirm a task with its own location/SKU/lot/quantity (or overrides); waits out ``NotReady``."""
    body = {k: task[k] for k in ("location", "sku", "lot", "quantity")} | overrides
    return await post_waiting_out(olivia, f"/api/pick-tasks/{task['task_id']}/confirm", body, 409, "NotReady")


async def post_waiting_out(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], status: int, error_type: str
) -> httpx.Response:
    """POST ``body``, again after ``Retry-After`` while the answer is ``status`` ``error_type`` (up to 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        resp = await http.post(path, json=body)
        if resp.status_code == status and resp.json()["type"] == error_type and time.monotonic() < deadline:
            await asyncio.sleep(float(resp.headers["retry-after"]))
            continue
        return resp


async def next_task(olivia: httpx.AsyncClient, wave_id: str) -> dict[str, Any] | None:
    resp = await olivia.get("/api/pick-tasks/next", params={"wave_id": wave_id})
    if resp.status_code == 204:
        return None
    assert resp.status_code == 200, resp.text
    task: dict[str, Any] = resp.json()
    assert task["wave_id"] == wave_id
    return task


async def pick_all(olivia: httpx.AsyncClient, wave_id: str) -> list[dict[str, Any]]:
    """Take and confirm every task of the wave in the order handed out; the tasks picked."""
    picked = []
    while (task := await next_task(olivia, wave_id)) is not None:
        resp = await scan(olivia, task)
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "PICKED"
        picked.append(task)
        assert len(picked) < 100, "the wave keeps handing out tasks"
    return picked


async def pack(olivia: httpx.AsyncClient, order_id: str, items: list[tuple[str, int]]) -> httpx.Response:
    """Scan the items into a carton; waits out ``WorkflowBusy`` (the order's workflow retrying a failed task)."""
    body = {"station": "PACK-1", "items": [{"sku": s, "quantity": q} for s, q in items]}
    return await post_waiting_out(olivia, f"/api/orders/{order_id}/pack", body, 503, "WorkflowBusy")


async def bins(services: httpx.AsyncClient, platform: LocalPlatform) -> dict[str, tuple[int, int]]:
    resp = await services.get(f"{platform.service_url('warehouse')}/stock/totals")
    assert resp.status_code == 200
    return {r["sku"]: (r["quantity"], r["allocated"]) for r in resp.json()}


async def test_an_order_is_waved_picked_packed_and_shipped(
    platform: LocalPlatform, alice: httpx.AsyncClient, olivia: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    await clear_backlog(olivia)
    orders = {
        "a": [("MUG-RED", 1)],
        "b": [("TEE-BLK-M", 2)],
        "c": [("MUG-RED", 2), ("PEN-BLK", 1)],
    }
    ordered = Counter[str]()
    for lines in orders.values():
        for sku, quantity in lines:
            ordered[sku] += quantity
    before = {sku: await stock(services, platform, sku) for sku in ordered}
    ids = {name: await place(alice, order_body(*lines)) for name, lines in orders.items()}
    for order_id in ids.values():
        assert (await settle(alice, order_id))["status"] == "AWAITING_WAVE"

    wave = await plan(olivia, list(ids.values()))
    assert Counter({sku: sum(t["quantity"] for t in wave["tasks"] if t["sku"] == sku) for sku in ordered}) == ordered
    assert all(t["status"] == "OPEN" for t in wave["tasks"])
    listed = (await olivia.get("/api/waves", params={"status": "PLANNED"})).json()
    assert wave["wave_id"] in {w["wave_id"] for w in listed["items"]}
    await release(olivia, wave["wave_id"])
    again = await olivia.post(f"/api/waves/{wave['wave_id']}/release")
    assert (again.status_code, again.json()["type"]) == (409, "IllegalWaveTransition")

    picked = await pick_all(olivia, wave["wave_id"])
    assert sorted(t["task_id"] for t in picked) == sorted(t["task_id"] for t in wave["tasks"])
    for name, order_id in ids.items():
        assert (await wait_for(olivia, order_id, {"PICKING"}))["status"] == "PICKING"
        resp = await pack(olivia, order_id, orders[name])
        assert resp.status_code in (200, 202), resp.text
        assert resp.json()["status"] in ("PACKED", "PACKING")

    for name, order_id in ids.items():
        shipped = await wait_for(alice, order_id, {"SHIPPED", "DELIVERED"}, seconds=120)
        assert shipped["tracking_code"]
        assert shipped["carrier"] in ("SWIFT", "PARCELNET")
        assert sorted((line["sku"], line["quantity"]) for line in shipped["shipped_lines"]) == sorted(orders[name])
        assert shipped["payment_status"] == "CAPTURED"
        shipment = await olivia.get(f"/api/shipments/{shipped['tracking_code']}")
        assert shipment.status_code == 200, shipment.text
        assert (shipment.json()["order_id"], shipment.json()["carrier"]) == (order_id, shipped["carrier"])
        label = await olivia.get(f"/api/shipments/{shipped['tracking_code']}/label")
        assert label.status_code == 200
        assert label.headers["content-type"] == "application/pdf"
        assert label.content.startswith(b"%PDF")

    page = (await olivia.get("/api/shipments", params={"limit": 200})).json()
    assert set(ids.values()) <= {s["order_id"] for s in page["items"]}
    carriers = (await olivia.get("/api/carriers")).json()
    assert {c["carrier"] for c in carriers} == {"SWIFT", "PARCELNET"}

    for sku, (on_hand, available, reserved) in before.items():
        assert await stock(services, platform, sku) == (on_hand - ordered[sku], available - ordered[sku], reserved)
        product = (await alice.get(f"/api/products/{sku}")).json()
        assert product["on_hand"] == on_hand - ordered[sku]
    final = (await olivia.get(f"/api/waves/{wave['wave_id']}")).json()
    assert final["status"] in ("PICKING", "DONE")
    checked = paklog(platform, "check", "stock")
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_wrong_scans_are_refused_and_change_nothing_then_a_cancel_puts_everything_back(
    platform: LocalPlatform, alice: httpx.AsyncClient, olivia: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    await clear_backlog(olivia)
    before = await stock(services, platform, "MUG-RED")
    bins_before = (await bins(services, platform))["MUG-RED"]
    order_id = await place(alice, order_body(("MUG-RED", 2), ("TEE-BLK-M", 1)))
    assert (await settle(alice, order_id))["status"] == "AWAITING_WAVE"
    wave = await plan(olivia, [order_id])
    await release(olivia, wave["wave_id"])

    task = await next_task(olivia, wave["wave_id"])
    assert task is not None
    elsewhere = next(
        (t["location"] for t in wave["tasks"] if t["location"] != task["location"]),
        "Z-99-99-9",
    )
    wrong_bin = await scan(olivia, task, location=elsewhere)
    assert (wrong_bin.status_code, wrong_bin.json()["type"]) == (409, "ScanMismatch"), wrong_bin.text
    too_many = await scan(olivia, task, quantity=task["quantity"] + 1)
    assert (too_many.status_code, too_many.json()["type"]) == (409, "QuantityExceedsTask"), too_many.text
    unchanged = {t["task_id"]: t for t in (await olivia.get(f"/api/waves/{wave['wave_id']}")).json()["tasks"]}
    assert unchanged[task["task_id"]]["status"] in ("OPEN", "ASSIGNED")
    assert unchanged[task["task_id"]]["picked_quantity"] in (0, None)
    assert (await alice.get(f"/api/orders/{order_id}")).json()["status"] == "AWAITING_WAVE"

    good = await scan(olivia, task)
    assert good.status_code == 200, good.text
    await wait_for(alice, order_id, {"PICKING"})

    cancelled = await olivia.post(f"/api/orders/{order_id}/cancel", json={"reason": "OPERATOR_CANCELLED"})
    assert cancelled.status_code in (200, 202), cancelled.text
    order = await wait_for(alice, order_id, {"CANCELLED"})
    assert order["payment_status"] == "VOIDED"
    assert await stock(services, platform, "MUG-RED") == before
    product = (await alice.get("/api/products/MUG-RED")).json()
    assert (product["on_hand"], product["available"]) == (before[0], before[1])
    assert (await bins(services, platform))["MUG-RED"] == bins_before
    assert await next_task(olivia, wave["wave_id"]) is None  # its tasks were cancelled


async def test_a_short_packed_carton_goes_back_to_picking(
    platform: LocalPlatform, alice: httpx.AsyncClient, olivia: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    await clear_backlog(olivia)
    order_id = await place(alice, order_body(("MUG-RED", 2)))
    assert (await settle(alice, order_id))["status"] == "AWAITING_WAVE"
    wave = await plan(olivia, [order_id])
    await release(olivia, wave["wave_id"])
    await pick_all(olivia, wave["wave_id"])

    extra = await pack(olivia, order_id, [("MUG-RED", 2), ("PEN-BLK", 1)])
    assert (extra.status_code, extra.json()["type"]) == (409, "PackMismatch"), extra.text
    short = await pack(olivia, order_id, [("MUG-RED", 1)])
    assert (short.status_code, short.json()["type"]) == (409, "PackMismatch"), short.text
    assert short.json()["missing"] == [{"sku": "MUG-RED", "quantity": 1}]

    repick = await next_task(olivia, wave["wave_id"])
    assert repick is not None
    assert (repick["order_id"], repick["sku"], repick["quantity"]) == (order_id, "MUG-RED", 1)
    assert (await scan(olivia, repick)).status_code == 200
    packed = await pack(olivia, order_id, [("MUG-RED", 2)])
    assert packed.status_code in (200, 202), packed.text
    shipped = await wait_for(alice, order_id, {"SHIPPED", "DELIVERED"}, seconds=120)
    assert shipped["tracking_code"]
    assert shipped["shipped_lines"] == [{"sku": "MUG-RED", "quantity": 2}]


async def test_the_address_changes_until_packed(alice: httpx.AsyncClient, olivia: httpx.AsyncClient) -> None:
    order_id = await place(alice, order_body(("PEN-BLK", 1)))
    assert (await settle(alice, order_id))["status"] == "AWAITING_WAVE"
    address = {"name": "Alice", "line1": "2 New Street", "city": "Hamburg", "postal_code": "20095", "country": "DE"}
    changed = await alice.put(f"/api/orders/{order_id}/shipping-address", json={"shipping_address": address})
    assert changed.status_code == 200, changed.text
    assert changed.json()["order_id"] == order_id
    stranger = await olivia.put("/api/orders/nosuchorder/shipping-address", json={"shipping_address": address})
    assert stranger.status_code == 404
    await olivia.post(f"/api/orders/{order_id}/cancel")


async def test_customers_stay_off_the_floor(alice: httpx.AsyncClient) -> None:
    for method, path in [
        ("POST", "/api/waves"),
        ("GET", "/api/waves"),
        ("GET", "/api/pick-tasks/next"),
        ("GET", "/api/shipments"),
        ("GET", "/api/carriers"),
    ]:
        resp = await alice.request(method, path)
        assert (resp.status_code, resp.json()["type"]) == (403, "StaffOnly"), (method, path)


async def test_nothing_to_plan_is_409(olivia: httpx.AsyncClient) -> None:
    await clear_backlog(olivia)
    resp = await olivia.post("/api/waves")
    assert (resp.status_code, resp.json()["type"]) == (409, "NothingToPlan")


async def _carriers(services: httpx.AsyncClient, platform: LocalPlatform, latency_ms: int) -> None:
    for carrier in ("SWIFT", "PARCELNET"):
        resp = await services.post(
            f"{platform.carriers_url}/control", json={"carrier": carrier, "latency_ms": latency_ms}
        )
        assert resp.status_code == 200, resp.text


async def test_killing_the_worker_while_labels_are_bought_ships_each_order_once(
    platform: LocalPlatform, alice: httpx.AsyncClient, olivia: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    await clear_backlog(olivia)
    temporal = await Client.connect(platform.temporal_address)
    before = await stock(services, platform, "MUG-BLU")
    order_ids = [await place(alice, order_body(("MUG-BLU", 1))) for _ in range(2)]
    for order_id in order_ids:
        assert (await settle(alice, order_id))["status"] == "AWAITING_WAVE"
    wave = await plan(olivia, order_ids)
    await release(olivia, wave["wave_id"])
    assert len(await pick_all(olivia, wave["wave_id"])) == 2
    # Each label takes the carriers a few seconds: the kill lands while both purchases run.
    await _carriers(services, platform, 1200)
    try:
        for order_id in order_ids:
            await wait_for(olivia, order_id, {"PICKING"})
            assert (await pack(olivia, order_id, [("MUG-BLU", 1)])).status_code in (200, 202)
        deadline = time.monotonic() + 30
        while not all([await activity_started(temporal, f"pps-{oid}", "shipping.buy_label") for oid in order_ids]):
            assert time.monotonic() < deadline, "the label purchases never ran at once"
            await asyncio.sleep(0.1)
        platform.kill("worker")
        platform.respawn_worker()
        shipped = [await wait_for(alice, oid, {"SHIPPED", "DELIVERED"}, seconds=120) for oid in order_ids]
    finally:
        await _carriers(services, platform, 0)
    for order_id, order in zip(order_ids, shipped, strict=True):
        # The purchase that was running died with the worker; a later attempt got the same label.
        assert max(await activity_attempts(temporal, f"pps-{order_id}", "shipping.buy_label")) >= 2
        labels = (
            await services.get(f"{platform.service_url('shipping')}/shipments", params={"order_id": order_id})
        ).json()["items"]
        assert [s["tracking_code"] for s in labels] == [order["tracking_code"]]
        assert labels[0]["status"] in {"LABELLED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"}  # the carrier has it
        payments = await payments_of(services, platform, order_id)
        assert len(payments) == 1
        assert [op["operation"] for op in payments[0]["operations"]].count("capture") == 1
        history = [h["to_status"] for h in order["history"]]
        assert history.count("SHIPPED") == 1
    assert await stock(services, platform, "MUG-BLU") == (before[0] - 2, before[1] - 2, before[2])
    checked = paklog(platform, "check", "stock")
    assert checked.returncode == 0, checked.stdout + checked.stderr

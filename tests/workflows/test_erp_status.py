"""OrderFulfillment's ``erp_status`` signal: the ERP cancels an order, or holds its credit until it lifts the hold."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.workflows.fakes import Fakes, order_input, running_worker, start_order, time_skipping_env, until_settled
from tests.workflows.test_warehouse_floor import pick_all, plan, release
from workflows.erp_status import ErpOrderState, ErpStatusEvent
from workflows.order_fulfillment import OrderFulfillment
from workflows.pick_pack_ship import PickPackShip
from workflows.warehouse_types import PackItem, PackScan, WaveReleaseInput, wave_workflow_id
from workflows.wave_release import WaveRelease

Handle = WorkflowHandle[Any, Any]
ACCEPTED = [
    "orders.create",
    "inventory.reserve",
    "orders.transition:RESERVED",
    "payments.authorize",
    "orders.transition:PAYMENT_AUTHORIZED",
    "erp.create_sales_order",
    "warehouse.enqueue",
    "orders.transition:AWAITING_WAVE",
    "notifications.send:order_confirmed",
]


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_env() as environment:
        yield environment


def erp(event_id: str, status: str, minute: int) -> ErpStatusEvent:
    return ErpStatusEvent(event_id=event_id, status=status, occurred_at=f"2027-01-12T10:{minute:02d}:00+00:00")


async def signal(handle: Handle, *events: ErpStatusEvent) -> None:
    for event in events:
        await handle.signal(OrderFulfillment.erp_status, event)


async def state(handle: Handle) -> ErpOrderState:
    known: ErpOrderState = await handle.query(OrderFulfillment.erp_state)
    return known


async def until_called(fakes: Fakes, name: str, count: int = 1) -> None:
    for _ in range(400):
        if fakes.calls.count(name) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} never ran {count} time(s): {fakes.calls}")


async def test_cancelled_by_the_erp_before_picking_compensates_like_a_cancel(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        snapshot = await until_settled(env, handle, fakes)
        fakes.erp_cancelled.add(snapshot.order_id)  # cancelled in the ERP: that is what the event tells
        await signal(handle, erp("e1", "CANCELLED", 5))
        result = await handle.result()
        snapshot = await handle.query(OrderFulfillment.status)
    assert (result.status, result.cancel_reason) == ("CANCELLED", "ERP_REJECTED")
    assert fakes.calls == [
        *ACCEPTED,
        "warehouse.withdraw",
        # The sales order the ERP cancelled is found cancelled: nothing is changed there.
        "erp.cancel_sales_order",
        "payments.void",
        "inventory.release",
        "orders.cancel",
        "notifications.send:order_cancelled",
    ]
    assert (fakes.cancel_reasons, fakes.cancel_requesters) == (["ERP_REJECTED"], ["erp"])
    assert (snapshot.cancel_requested_by, snapshot.compensations[-1]) == ("erp", "orders.cancel")
    assert [u.outcome for u in fakes.erp_undone] == ["already_cancelled"]


async def test_a_repeated_or_older_event_changes_nothing(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until_settled(env, handle, fakes)
        # OPEN at 10:20 first; a CANCELLED stamped 10:10 arrives late (stale), the OPEN again (same id).
        await signal(handle, erp("e2", "OPEN", 20), erp("e1", "CANCELLED", 10), erp("e2", "OPEN", 20))
        known = await state(handle)
        assert (known.status, known.occurred_at) == ("OPEN", "2027-01-12T10:20:00+00:00")
        assert (await handle.query(OrderFulfillment.status)).status == "AWAITING_WAVE"
        # The id seen before is ignored even with another status.
        await signal(handle, erp("e2", "CANCELLED", 30))
        assert (await state(handle)).status == "OPEN"
        assert (await handle.query(OrderFulfillment.status)).status == "AWAITING_WAVE"
    assert fakes.calls == ACCEPTED


async def test_cancelled_by_the_erp_while_picking_is_recorded_and_ignored(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until_settled(env, handle, fakes)
        order_id = (await handle.query(OrderFulfillment.status)).order_id
        wave = await plan(env, tq)
        pps = await release(env, wave, order_id)
        await pick_all(fakes, pps, order_id)
        assert (await handle.query(OrderFulfillment.status)).status == "PICKING"
        await signal(handle, erp("e1", "CANCELLED", 5))
        assert (await state(handle)).status == "CANCELLED"
        await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)], "pia"))
        result = await handle.result()
        await wave.result()
    assert result.status == "DELIVERED"
    assert fakes.cancel_reasons == []


async def test_a_credit_hold_keeps_the_order_out_of_waves_until_released(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until_settled(env, handle, fakes)
        order_id = (await handle.query(OrderFulfillment.status)).order_id
        await signal(handle, erp("e1", "CREDIT_HOLD", 5))
        await until_called(fakes, "warehouse.hold:1")
        held = await state(handle)
        assert (held.status, held.on_hold, held.held, held.holds) == ("CREDIT_HOLD", True, True, 1)
        # Nothing waits for a wave while the order is held: the wave ends empty.
        empty = await env.client.start_workflow(
            WaveRelease.run, WaveReleaseInput(wave_id="held"), id=wave_workflow_id("held"), task_queue=tq
        )
        # In real time: waiting on the wave with time skipping on could skip the idle, held order past its
        # run timeout (nothing else is scheduled: the test server jumps to the next deadline, years away).
        with env.auto_time_skipping_disabled():
            assert (await empty.result()).status == "EMPTY"
        assert (await handle.query(OrderFulfillment.status)).status == "AWAITING_WAVE"

        await signal(handle, erp("e2", "RELEASED", 6))
        await until_called(fakes, "warehouse.requeue:1")
        assert (await state(handle)).held is False
        wave = await plan(env, tq)
        pps = await release(env, wave, order_id)
        await pick_all(fakes, pps, order_id)
        await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)], "pia"))
        result = await handle.result()
    assert result.status == "DELIVERED"
    steps = [c for c in fakes.calls if c.startswith(("warehouse.hold", "warehouse.requeue", "warehouse.plan"))]
    assert steps == ["warehouse.hold:1", "warehouse.plan_wave", "warehouse.requeue:1", "warehouse.plan_wave"]


async def test_the_erps_own_release_is_open_again_and_a_second_hold_has_its_own_keys(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until_settled(env, handle, fakes)
        await signal(handle, erp("e1", "CREDIT_HOLD", 5), erp("e1", "CREDIT_HOLD", 5))
        await until_called(fakes, "warehouse.hold:1")
        await signal(handle, erp("e2", "OPEN", 6))
        await until_called(fakes, "warehouse.requeue:1")
        await signal(handle, erp("e3", "CREDIT_HOLD", 7))
        await until_called(fakes, "warehouse.hold:2")
        await signal(handle, erp("e4", "COMPLETED", 8))
        await until_called(fakes, "warehouse.requeue:2")
        known = await state(handle)
        assert (known.status, known.on_hold, known.held, known.holds) == ("COMPLETED", False, False, 2)
    assert [c for c in fakes.calls if c.startswith(("warehouse.hold", "warehouse.requeue"))] == [
        "warehouse.hold:1",
        "warehouse.requeue:1",
        "warehouse.hold:2",
        "warehouse.requeue:2",
    ]


async def test_cancelled_while_held_withdraws_and_never_requeues(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until_settled(env, handle, fakes)
        await signal(handle, erp("e1", "CREDIT_HOLD", 5))
        await until_called(fakes, "warehouse.hold:1")
        await signal(handle, erp("e2", "CANCELLED", 6))
        result = await handle.result()
    assert (result.status, result.cancel_reason) == ("CANCELLED", "ERP_REJECTED")
    assert fakes.calls[len(ACCEPTED) :] == [
        "warehouse.hold:1",
        "warehouse.withdraw",
        "erp.cancel_sales_order",
        "payments.void",
        "inventory.release",
        "orders.cancel",
        "notifications.send:order_cancelled",
    ]


async def test_a_hold_after_the_wave_took_the_order_is_recorded_and_ignored(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until_settled(env, handle, fakes)
        order_id = (await handle.query(OrderFulfillment.status)).order_id
        wave = await plan(env, tq)
        pps = await release(env, wave, order_id)
        await signal(handle, erp("e1", "CREDIT_HOLD", 5))
        assert (await state(handle)).on_hold is True
        await pick_all(fakes, pps, order_id)
        await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)], "pia"))
        assert (await handle.result()).status == "DELIVERED"
    assert not any(c.startswith("warehouse.hold") for c in fakes.calls)

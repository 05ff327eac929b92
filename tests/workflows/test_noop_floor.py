"""The benchmark's no-op flow runs to delivery with the same updates and signals as the real one."""

from __future__ import annotations

import asyncio
from collections import Counter

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import Worker

from activities.noop import NoopInput, NoopResult
from tests.workflows.fakes import time_skipping_env
from workflows.noop_floor import (
    DELIVERED_STEP,
    NOTIFY_STEP,
    ORDER_STEPS,
    PACK_STEPS,
    SHIP_STEPS,
    SUBSCRIBE_STEP,
    NoopFloorOrder,
    NoopFloorPick,
    NoopOrderInput,
    NoopWave,
    NoopWaveInput,
    noop_order_id,
    noop_pick_id,
)

#: What the bench sends each order after it has shipped: a position update (same status) notifies nobody.
CARRIER_EVENTS = ("IN_TRANSIT", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED")


async def test_the_noop_flow_delivers_every_order() -> None:
    steps: Counter[str] = Counter()

    @activity.defn(name="bench.noop")
    async def noop(params: NoopInput) -> NoopResult:
        steps[params.step] += 1
        return NoopResult(step=params.step)

    async with time_skipping_env() as env:
        async with Worker(
            env.client, task_queue="noop-floor", workflows=[NoopFloorOrder, NoopFloorPick, NoopWave], activities=[noop]
        ):
            labels = ["a", "b"]
            orders = [
                await env.client.start_workflow(
                    NoopFloorOrder.run, NoopOrderInput(label), id=noop_order_id(label), task_queue="noop-floor"
                )
                for label in labels
            ]
            for order in orders:
                await order.execute_update(NoopFloorOrder.wait_awaiting_wave)
            wave = await env.client.start_workflow(
                NoopWave.run, NoopWaveInput("w", labels, tasks=2), id="noop-wave-w", task_queue="noop-floor"
            )
            await wave.execute_update(NoopWave.wait_released)
            for label in labels:
                pick = env.client.get_workflow_handle(noop_pick_id(label))
                for _ in range(100):
                    try:
                        await pick.execute_update(NoopFloorPick.confirm_pick, "noop-wave-w")
                        break
                    except Exception:  # the child is starting
                        await asyncio.sleep(0.05)
                await pick.execute_update(NoopFloorPick.pack)
            for order in orders:
                shipped = await order.execute_update(NoopFloorOrder.wait_shipped)
                assert shipped.status == "SHIPPED"
                for status in CARRIER_EVENTS[:-1]:
                    await order.signal(NoopFloorOrder.delivery_event, status)
            # Shipped and out for delivery, but not delivered: both orders are still open.
            assert [(await order.describe()).status for order in orders] == [WorkflowExecutionStatus.RUNNING] * 2
            for order in orders:
                await order.signal(NoopFloorOrder.delivery_event, CARRIER_EVENTS[-1])
            results = [await order.result() for order in orders]
            wave_result = await wave.result()
    assert [(r.status, r.delivery_status) for r in results] == [("DELIVERED", "DELIVERED")] * 2
    assert wave_result.settled == 2
    # As OrderFulfillment after SHIPPED: subscribe once, notify per status change (three), DELIVERED moves the order.
    assert (steps[SUBSCRIBE_STEP], steps[NOTIFY_STEP], steps[DELIVERED_STEP]) == (2, 6, 2)
    per_order = len(ORDER_STEPS) + 1 + 2 + len(PACK_STEPS) + len(SHIP_STEPS)  # + order_tasks, picking, confirm
    per_order += 1 + 3 + 1  # subscribe, three notices, the transition to DELIVERED
    # The wave: plan, allocate, release, one progress read per batch of settled tasks, complete.
    assert 5 <= sum(steps.values()) - 2 * per_order <= 7
    assert steps["progress"] >= 1

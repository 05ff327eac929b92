"""The warehouse floor on the time-skipping server: waves, picks, shorts, packing, shipping, cancels."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.orders import OrderLine, ShippingAddress
from tests.workflows.fakes import Fakes, order_input, start_order, time_skipping_env, until_picking, until_settled
from workflows.order_fulfillment import CancelRequest, OrderFulfillment
from workflows.pick_pack_ship import PickPackShip
from workflows.warehouse_types import (
    ChangeAddressRequest,
    OperatorRetry,
    PackItem,
    PackScan,
    PickScan,
    ReleaseWave,
    RemoveOrderFromWave,
    WaitForWaveStatus,
    WaveReleaseInput,
    wave_workflow_id,
)
from workflows.wave_release import WaveRelease

Handle = WorkflowHandle[Any, Any]


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_env() as environment:
        yield environment


@asynccontextmanager
async def worker(client: Client, fakes: Fakes, task_queue: str, cache: bool = True) -> AsyncIterator[str]:
    async with Worker(
        client,
        task_queue=task_queue,
        # Without a cache every workflow task replays the history (as after a worker restart).
        max_cached_workflows=1000 if cache else 0,
        workflows=[OrderFulfillment, PickPackShip, WaveRelease],
        activities=fakes.activities(),
    ):
        yield task_queue


async def until(check: Any, seconds: float = 20) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def place(env: WorkflowEnvironment, fakes: Fakes, tq: str, quantity: int = 2, **kw: Any) -> Handle:
    params = replace(order_input(), lines=[OrderLine(sku="MUG-RED", quantity=quantity, unit_price_cents=1200)], **kw)
    handle = await start_order(env.client, tq, params)
    await until_settled(env, handle, fakes)
    return handle


async def plan(env: WorkflowEnvironment, tq: str, **kw: Any) -> Handle:
    wave_id = uuid.uuid4().hex[:8]
    handle = await env.client.start_workflow(
        WaveRelease.run, WaveReleaseInput(wave_id=wave_id, **kw), id=wave_workflow_id(wave_id), task_queue=tq
    )
    await handle.execute_update(WaveRelease.wait_for_status, WaitForWaveStatus(statuses=["PLANNED"]))
    return handle


async def release(env: WorkflowEnvironment, wave: Handle, order_id: str) -> Handle:
    await wave.execute_update(WaveRelease.release, ReleaseWave(requested_by="olivia"))
    return await until_picking(env.client, order_id)


async def pick_all(fakes: Fakes, pps: Handle, order_id: str, short: int = 0) -> None:
    for task in fakes.floor.tasks_of(order_id):
        if task.status == "OPEN":
            await pps.execute_update(
                PickPackShip.confirm_pick,
                PickScan(task.task_id, task.location, task.sku, task.lot, task.quantity - short, "pat"),
            )


async def test_an_order_is_waved_picked_packed_and_shipped(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with worker(env.client, fakes, "tq-happy", cache=False) as tq:
        order = await place(env, fakes, tq)
        order_id = (await order.query(OrderFulfillment.status)).order_id
        wave = await plan(env, tq)
        pps = await release(env, wave, order_id)
        await pick_all(fakes, pps, order_id)
        assert (await order.query(OrderFulfillment.status)).status == "PICKING"
        packed = await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)], "pia"))
        assert (packed.status, packed.carton) == ("PACKED", "S")
        result = await order.result()
        wave_result = await wave.result()
    assert result.status == "DELIVERED"
    assert wave_result.status == "DONE"
    floor_calls = [c for c in fakes.calls if c.split(":")[0] in SHIP_STEPS]
    assert floor_calls[floor_calls.index("orders.transition:AWAITING_WAVE") + 1 :] == [
        "orders.transition:PICKING",
        "orders.transition:PACKED",
        "shipping.buy_label",
        "inventory.commit",
        "warehouse.issue",
        "payments.capture:2400",
        "orders.ship",
        "orders.transition:DELIVERED",  # the (fake) carrier delivered at once
    ]
    assert "payments.capture:2400" in fakes.calls
    assert fakes.floor.shipped[order_id] == {"MUG-RED": 2}
    assert fakes.messages[-1] == "order_shipped"
    assert "warehouse.complete_wave" in fakes.calls


SHIP_STEPS = {
    "orders.transition",
    "shipping.buy_label",
    "inventory.commit",
    "warehouse.issue",
    "payments.capture",
    "orders.ship",
}


async def test_nothing_waiting_ends_the_wave_empty(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with worker(env.client, fakes, "tq-empty") as tq:
        handle = await env.client.start_workflow(
            WaveRelease.run, WaveReleaseInput(wave_id="w0"), id=wave_workflow_id("w0"), task_queue=tq
        )
        assert (await handle.result()).status == "EMPTY"


async def test_a_wave_is_released_once_and_orders_leave_only_a_planned_wave(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with worker(env.client, fakes, "tq-twice") as tq:
        first = await place(env, fakes, tq)
        second = await place(env, fakes, tq)
        first_id = (await first.query(OrderFulfillment.status)).order_id
        second_id = (await second.query(OrderFulfillment.status)).order_id
        wave = await plan(env, tq)
        status = await wave.execute_update(WaveRelease.remove_order, RemoveOrderFromWave(second_id))
        assert status.order_ids == [first_id]
        await release(env, wave, first_id)
        with pytest.raises(WorkflowUpdateFailedError) as again:
            await wave.execute_update(WaveRelease.release, ReleaseWave())
        assert isinstance(again.value.cause, ApplicationError)
        assert again.value.cause.type == "IllegalWaveTransition"
        with pytest.raises(WorkflowUpdateFailedError):
            await wave.execute_update(WaveRelease.remove_order, RemoveOrderFromWave(first_id))
        # The removed order waits for the next wave.
        assert (await second.query(OrderFulfillment.status)).status == "AWAITING_WAVE"


async def test_wrong_scans_are_refused_and_change_nothing(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with worker(env.client, fakes, "tq-scan") as tq:
        order = await place(env, fakes, tq)
        order_id = (await order.query(OrderFulfillment.status)).order_id
        pps = await release(env, await plan(env, tq), order_id)
        task = fakes.floor.tasks_of(order_id)[0]
        cases = [
            (PickScan(task.task_id, "Z-99-99-9", task.sku, task.lot, 2), "ScanMismatch"),
            (PickScan(task.task_id, task.location, "MUG-BLU", task.lot, 2), "ScanMismatch"),
            (PickScan(task.task_id, task.location, task.sku, "L9", 2), "ScanMismatch"),
            (PickScan(task.task_id, task.location, task.sku, task.lot, 3), "QuantityExceedsTask"),
            (PickScan("t-other", task.location, task.sku, task.lot, 2), "UnknownTask"),
        ]
        for scan, error_type in cases:
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await pps.execute_update(PickPackShip.confirm_pick, scan)
            assert isinstance(refused.value.cause, ApplicationError)
            assert refused.value.cause.type == error_type
        with pytest.raises(WorkflowUpdateFailedError) as not_picked:
            await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)]))
        assert isinstance(not_picked.value.cause, ApplicationError)
        assert not_picked.value.cause.type == "NotPicked"
        assert not any(c.startswith("warehouse.confirm_task") for c in fakes.calls)
        await pick_all(fakes, pps, order_id)
        with pytest.raises(WorkflowUpdateFailedError) as twice:
            await pps.execute_update(
                PickPackShip.confirm_pick, PickScan(task.task_id, task.location, task.sku, task.lot, 2)
            )
        assert isinstance(twice.value.cause, ApplicationError)
        assert twice.value.cause.type == "TaskNotOpen"


async def test_a_short_pick_is_found_in_another_bin(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    fakes.floor.elsewhere["MUG-RED"] = 5
    async with worker(env.client, fakes, "tq-short") as tq:
        order = await place(env, fakes, tq)
        order_id = (await order.query(OrderFulfillment.status)).order_id
        pps = await release(env, await plan(env, tq), order_id)
        task = fakes.floor.tasks_of(order_id)[0]
        confirmed = await pps.execute_update(
            PickPackShip.confirm_pick, PickScan(task.task_id, task.location, task.sku, task.lot, 1)
        )
        assert (confirmed.status, confirmed.short_quantity, len(confirmed.new_task_ids)) == ("SHORT", 1, 1)
        new_task = fakes.floor.tasks[confirmed.new_task_ids[0]]
        assert (new_task.location, new_task.quantity) == ("B-02-01-1", 1)
        await pick_all(fakes, pps, order_id)
        await pps.execute_update(PickPackShip.pack, PackScan("PACK-2", [PackItem("MUG-RED", 2)]))
        result = await order.result()
    assert result.status == "DELIVERED"
    assert fakes.calls.index("inventory.write_off:MUG-RED:1") < fakes.calls.index("inventory.top_up:MUG-RED:1")
    assert "warehouse.reallocate:MUG-RED:1" in fakes.calls
    assert fakes.floor.shipped[order_id] == {"MUG-RED": 2}
    assert "payments.capture:2400" in fakes.calls


async def test_a_short_pick_nobody_can_cover_is_short_shipped(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    fakes.floor.no_available.add("MUG-RED")
    async with worker(env.client, fakes, "tq-shortship") as tq:
        order = await place(env, fakes, tq, quantity=3)
        order_id = (await order.query(OrderFulfillment.status)).order_id
        pps = await release(env, await plan(env, tq), order_id)
        await pick_all(fakes, pps, order_id, short=1)
        await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)]))
        result = await order.result()
        status = await pps.query(PickPackShip.status)
    assert result.status == "DELIVERED"
    assert fakes.floor.shipped[order_id] == {"MUG-RED": 2}
    assert status.shipped_lines == [PackItem("MUG-RED", 2)]
    assert "payments.capture:2400" in fakes.calls  # 2 of 3 at 12.00
    assert "order_short_shipped" in fakes.messages
    assert not any(c.startswith("warehouse.reallocate") for c in fakes.calls)


async def test_units_no_bin_had_at_allocation_are_short_shipped(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    fakes.floor.unallocated["MUG-RED"] = 1
    async with worker(env.client, fakes, "tq-alloc-short") as tq:
        order = await place(env, fakes, tq)
        order_id = (await order.query(OrderFulfillment.status)).order_id
        pps = await release(env, await plan(env, tq), order_id)
        await pick_all(fakes, pps, order_id)
        await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 1)]))
        assert (await order.result()).status == "DELIVERED"
    assert "inventory.release_units:MUG-RED:1" in fakes.calls
    assert "payments.capture:1200" in fakes.calls


async def test_a_pack_mismatch_goes_back_to_picking(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with worker(env.client, fakes, "tq-pack") as tq:
        order = await place(env, fakes, tq)
        order_id = (await order.query(OrderFulfillment.status)).order_id
        pps = await release(env, await plan(env, tq), order_id)
        await pick_all(fakes, pps, order_id)
        with pytest.raises(WorkflowUpdateFailedError) as extra:
            await pps.execute_update(
                PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2), PackItem("PEN", 1)])
            )
        assert isinstance(extra.value.cause, ApplicationError)
        assert extra.value.cause.type == "PackMismatch"
        assert "PEN x1" in str(extra.value.cause)
        sent_back = await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 1)]))
        assert (sent_back.status, sent_back.missing) == ("SENT_BACK_TO_PICKING", [PackItem("MUG-RED", 1)])
        assert "warehouse.repick:MUG-RED:1" in fakes.calls
        await pick_all(fakes, pps, order_id)
        packed = await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)]))
        assert packed.status == "PACKED"
        assert (await order.result()).status == "DELIVERED"


async def test_cancel_during_picking_undoes_the_floor_then_the_order(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with worker(env.client, fakes, "tq-cancel") as tq:
        order = await place(env, fakes, tq, quantity=3)
        order_id = (await order.query(OrderFulfillment.status)).order_id
        pps = await release(env, await plan(env, tq), order_id)
        task = fakes.floor.tasks_of(order_id)[0]
        await pps.execute_update(
            PickPackShip.confirm_pick, PickScan(task.task_id, task.location, task.sku, task.lot, 3)
        )
        snapshot = await order.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice"))
        with pytest.raises(WorkflowFailureError) as child:
            await pps.result()
        assert isinstance(child.value.cause, CancelledError)
        result = await order.result()
    assert (result.status, result.cancel_reason) == ("CANCELLED", "CUSTOMER_CANCELLED")
    assert snapshot.compensations == [
        "pickpackship.cancel",
        "warehouse.withdraw",
        "erp.cancel_sales_order",
        "payments.void",
        "inventory.release",
        "orders.cancel",
    ]
    undo = [c for c in fakes.calls if c in UNDO_NAMES]
    assert undo[:4] == [
        "warehouse.return_picks",
        "warehouse.withdraw",
        "warehouse.return_picks",
        "erp.cancel_sales_order",
    ]
    assert undo[4:] == ["payments.void", "inventory.release", "orders.cancel"]
    assert "shipping.buy_label" not in fakes.calls
    assert "inventory.commit" not in fakes.calls


UNDO_NAMES = {
    "warehouse.return_picks",
    "warehouse.withdraw",
    "shipping.void_label",
    "erp.cancel_sales_order",
    "payments.void",
    "inventory.release",
    "orders.cancel",
}


async def test_a_temporal_cancel_after_the_label_voids_it_first(env: WorkflowEnvironment) -> None:
    fakes = Fakes(hold={"shipping.buy_label"})
    async with worker(env.client, fakes, "tq-tcancel") as tq:
        order = await place(env, fakes, tq)
        order_id = (await order.query(OrderFulfillment.status)).order_id
        pps = await release(env, await plan(env, tq), order_id)
        await pick_all(fakes, pps, order_id)
        await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)]))

        async def label_bought() -> bool:
            return "shipping.buy_label" in fakes.calls

        await until(label_bought)
        await order.cancel()

        async def label_voided() -> bool:
            return "shipping.void_label" in fakes.calls

        await until(label_voided)  # while the carrier is still answering: its late label meets a tombstone
        fakes.release.set()
        with pytest.raises(WorkflowFailureError) as failure:
            await order.result()
        assert isinstance(failure.value.cause, CancelledError)
        snapshot = await order.query(OrderFulfillment.status)
    assert (snapshot.status, snapshot.cancel_reason) == ("CANCELLED", "OPERATOR_CANCELLED")
    undo = [c for c in fakes.calls if c in UNDO_NAMES]
    assert undo[:2] == ["shipping.void_label", "warehouse.return_picks"]
    assert "inventory.commit" not in fakes.calls


async def test_the_address_changes_until_packed(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    new_address = ShippingAddress(name="Alice", line1="2 New Road", city="Berlin", postal_code="10117", country="DE")
    async with worker(env.client, fakes, "tq-address") as tq:
        order = await place(env, fakes, tq)
        order_id = (await order.query(OrderFulfillment.status)).order_id
        pps = await release(env, await plan(env, tq), order_id)
        await order.execute_update(OrderFulfillment.change_address, ChangeAddressRequest(new_address, "alice"))
        await pick_all(fakes, pps, order_id)
        await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)]))
        with pytest.raises(WorkflowUpdateFailedError) as locked:
            await order.execute_update(OrderFulfillment.change_address, ChangeAddressRequest(new_address, "alice"))
        assert isinstance(locked.value.cause, ApplicationError)
        assert locked.value.cause.type == "AddressLocked"
        assert (await order.result()).status == "DELIVERED"
    assert fakes.floor.label_addresses == ["2 New Road"]
    assert fakes.calls.count("orders.change_address") == 1


async def test_the_worker_restarted_mid_wave_loses_no_confirmation(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    tq = "tq-restart"
    async with worker(env.client, fakes, tq, cache=False):
        order = await place(env, fakes, tq, quantity=2)
        order_id = (await order.query(OrderFulfillment.status)).order_id
        wave = await plan(env, tq)
        pps = await release(env, wave, order_id)
        task = fakes.floor.tasks_of(order_id)[0]
        await pps.execute_update(
            PickPackShip.confirm_pick, PickScan(task.task_id, task.location, task.sku, task.lot, 2)
        )
    # A new worker (fresh workflow caches) picks the histories up where they were.
    async with worker(env.client, fakes, tq, cache=False):
        status = await pps.query(PickPackShip.status)
        assert (status.tasks_open, status.tasks_picked) == (0, 1)
        await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)]))
        assert (await order.result()).status == "DELIVERED"
        assert (await wave.result()).status == "DONE"
    assert fakes.calls.count(f"warehouse.confirm_task:{task.task_id}") == 1
    assert fakes.calls.count("orders.ship") == 1


async def test_a_cancel_that_arrives_during_goods_issue_ships_the_order(env: WorkflowEnvironment) -> None:
    fakes = Fakes(hold={"inventory.commit"})
    async with worker(env.client, fakes, "tq-late-cancel") as tq:
        order = await place(env, fakes, tq)
        order_id = (await order.query(OrderFulfillment.status)).order_id
        pps = await release(env, await plan(env, tq), order_id)
        await pick_all(fakes, pps, order_id)
        await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)]))

        async def issuing() -> bool:
            return "inventory.commit" in fakes.calls

        await until(issuing)
        await order.cancel()  # Temporal cancel while the goods are being issued
        await asyncio.sleep(0.5)
        fakes.release.set()
        result = await order.result()
    # It ships, undoes nothing, and (cancelled through Temporal) does not stay to follow the delivery.
    assert result.status == "SHIPPED"
    assert "tracking.subscribe" not in fakes.calls
    assert result.cancel_reason is None
    assert not [c for c in fakes.calls if c in UNDO_NAMES]
    assert "order_cancelled" not in fakes.messages


async def test_a_rejected_capture_after_goods_issue_waits_for_an_operator(env: WorkflowEnvironment) -> None:
    fakes = Fakes(rejects={"payments.capture": "PaymentVoided"}, reject_attempts={"payments.capture": 1})
    async with worker(env.client, fakes, "tq-operator") as tq:
        order = await place(env, fakes, tq)
        order_id = (await order.query(OrderFulfillment.status)).order_id
        pps = await release(env, await plan(env, tq), order_id)
        await pick_all(fakes, pps, order_id)
        await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)]))

        async def waiting() -> bool:
            return (await pps.query(PickPackShip.status)).needs_operator is not None

        await until(waiting)
        status = await pps.query(PickPackShip.status)
        assert status.needs_operator is not None
        assert status.needs_operator.startswith("payments.capture")
        assert [(a.kind, a.step) for a in fakes.alerts] == [("NEEDS_OPERATOR", "payments.capture")]
        # Nothing is undone, and the cancel is refused: the goods have left.
        with pytest.raises(WorkflowUpdateFailedError):
            await order.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice"))
        retried = await pps.execute_update(PickPackShip.retry, OperatorRetry(requested_by="olivia"))
        assert retried.needs_operator is None
        with pytest.raises(WorkflowUpdateFailedError):
            await pps.execute_update(PickPackShip.retry, OperatorRetry())
        assert (await order.result()).status == "DELIVERED"
    assert not [c for c in fakes.calls if c in UNDO_NAMES]
    assert fakes.calls.count("orders.ship") == 1


async def test_a_scheduled_wave_hears_its_tasks_settle(env: WorkflowEnvironment) -> None:
    # A Schedule's run is named ``wave-auto-<time>``; its wave id drops the unsafe characters.
    fakes = Fakes()
    async with worker(env.client, fakes, "tq-scheduled") as tq:
        order = await place(env, fakes, tq)
        order_id = (await order.query(OrderFulfillment.status)).order_id
        wave = await env.client.start_workflow(
            WaveRelease.run,
            WaveReleaseInput(wave_id="", auto_release=True),
            id="wave-auto-2026-11-24T02:15:00Z",
            task_queue=tq,
        )
        status = await wave.execute_update(WaveRelease.wait_for_status, WaitForWaveStatus(statuses=["RELEASED"]))
        assert status.wave_id == "auto-2026-11-24T021500Z"
        pps = await until_picking(env.client, order_id)
        await pick_all(fakes, pps, order_id)
        assert (await wave.result()).status == "DONE"
        signals = [
            event.workflow_execution_signaled_event_attributes.signal_name
            for event in (await wave.fetch_history()).events
            if event.HasField("workflow_execution_signaled_event_attributes")
        ]
        failed = [
            event
            for event in (await pps.fetch_history()).events
            if event.HasField("signal_external_workflow_execution_failed_event_attributes")
        ]
    assert "task_settled" in signals
    assert failed == []


async def test_the_label_is_retried_while_no_carrier_answers(env: WorkflowEnvironment) -> None:
    # shipping answers 503 CarriersUnavailable while every carrier's breaker is open; Temporal retries with backoff.
    fakes = Fakes(transient_failures={"shipping.buy_label": 3})
    async with worker(env.client, fakes, "tq-carriers-down") as tq:
        order = await place(env, fakes, tq)
        order_id = (await order.query(OrderFulfillment.status)).order_id
        pps = await release(env, await plan(env, tq), order_id)
        await pick_all(fakes, pps, order_id)
        await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)]))
        result = await order.result()
    assert result.status == "DELIVERED"
    assert fakes.attempts["shipping.buy_label"] == 4
    assert not [c for c in fakes.calls if c in UNDO_NAMES]


async def test_a_wave_takes_at_most_its_order_limit(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with worker(env.client, fakes, "tq-limits") as tq:
        for _ in range(3):
            await place(env, fakes, tq)
        first = await plan(env, tq, max_orders=2)
        second = await plan(env, tq, max_orders=2)
        firsts = (await first.query(WaveRelease.status)).order_ids
        seconds = (await second.query(WaveRelease.status)).order_ids
    assert (len(firsts), len(seconds)) == (2, 1)
    assert not set(firsts) & set(seconds)

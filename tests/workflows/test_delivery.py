"""After the dock, on the time-skipping server: carrier events take a shipped order to DELIVERED or DELIVERY_FAILED."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment

from tests.workflows.fakes import Fakes, time_skipping_env
from tests.workflows.test_warehouse_floor import pick_all, place, plan, release, until, worker
from workflows.order_fulfillment import OrderFulfillment
from workflows.order_types import DeliveryEvent
from workflows.pick_pack_ship import PickPackShip
from workflows.warehouse_types import PackItem, PackScan

Handle = WorkflowHandle[Any, Any]
TRACKING = "SW123"  # the fake label's tracking code


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_env() as environment:
        yield environment


def event(event_id: str, status: str, at: str, reason: str | None = None) -> DeliveryEvent:
    return DeliveryEvent(
        event_id=event_id,
        tracking_code=TRACKING,
        status=status,
        occurred_at=f"2026-11-24T{at}:00+00:00",
        carrier="SWIFT",
        reason=reason,
    )


async def ship(
    env: WorkflowEnvironment, fakes: Fakes, tq: str, *, before_shipping: Sequence[DeliveryEvent] = ()
) -> Handle:
    """Place an order and take it through the floor to SHIPPED (the carrier then owns it)."""
    order = await place(env, fakes, tq)
    order_id = (await order.query(OrderFulfillment.status)).order_id
    pps = await release(env, await plan(env, tq), order_id)
    for early in before_shipping:
        await order.signal(OrderFulfillment.delivery_event, early)
    await pick_all(fakes, pps, order_id)
    await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)], "pia"))

    async def subscribed() -> bool:
        return "tracking.subscribe" in fakes.calls

    await until(subscribed)
    assert (await order.query(OrderFulfillment.status)).status == "SHIPPED"
    return order


async def notices_reach(fakes: Fakes, count: int) -> None:
    async def enough() -> bool:
        return len(fakes.notices) >= count

    await until(enough)


async def test_carrier_events_take_the_order_to_delivered(env: WorkflowEnvironment) -> None:
    fakes = Fakes(auto_deliver=False)
    async with worker(env.client, fakes, "tq-delivered") as tq:
        order = await ship(env, fakes, tq)
        await order.signal(OrderFulfillment.delivery_event, event("e1", "IN_TRANSIT", "10:00"))
        await order.signal(OrderFulfillment.delivery_event, event("e2", "OUT_FOR_DELIVERY", "11:00"))
        await notices_reach(fakes, 2)
        snapshot = await order.query(OrderFulfillment.status)
        assert (snapshot.status, snapshot.delivery_status, snapshot.tracking_code) == (
            "SHIPPED",
            "OUT_FOR_DELIVERY",
            TRACKING,
        )
        await order.signal(OrderFulfillment.delivery_event, event("e3", "DELIVERED", "12:00"))
        result = await order.result()
    assert result.status == "DELIVERED"
    assert fakes.notices == [("IN_TRANSIT", "e1"), ("OUT_FOR_DELIVERY", "e2"), ("DELIVERED", "e3")]
    assert fakes.calls.count("tracking.subscribe") == 1
    assert fakes.calls[-2:] == ["orders.transition:DELIVERED", "tracking.notify:DELIVERED"]
    assert not [c for c in fakes.calls if c.split(":")[0] in UNDO_STEPS]  # the sales order stays open too


async def test_duplicate_and_out_of_order_events_change_nothing(env: WorkflowEnvironment) -> None:
    fakes = Fakes(auto_deliver=False)
    async with worker(env.client, fakes, "tq-dupes") as tq:
        order = await ship(env, fakes, tq)
        for _ in range(5):
            await order.signal(OrderFulfillment.delivery_event, event("e1", "IN_TRANSIT", "10:00"))
        await order.signal(OrderFulfillment.delivery_event, event("e2", "OUT_FOR_DELIVERY", "11:00"))
        # Older than what the order knows: ignored, even with a status it has not seen lately.
        await order.signal(OrderFulfillment.delivery_event, event("e0", "IN_TRANSIT", "09:00"))
        await order.signal(OrderFulfillment.delivery_event, event("e-late", "EXCEPTION", "10:30", "DAMAGED"))
        # Same status again (a new position): no second notice.
        await order.signal(OrderFulfillment.delivery_event, event("e4", "OUT_FOR_DELIVERY", "11:30"))
        await order.signal(OrderFulfillment.delivery_event, event("e5", "DELIVERED", "12:00"))
        await order.signal(OrderFulfillment.delivery_event, event("e5", "DELIVERED", "12:00"))
        result = await order.result()
    assert result.status == "DELIVERED"
    assert fakes.notices == [("IN_TRANSIT", "e1"), ("OUT_FOR_DELIVERY", "e2"), ("DELIVERED", "e5")]


async def test_events_that_arrive_before_shipping_wait_for_it(env: WorkflowEnvironment) -> None:
    fakes = Fakes(auto_deliver=False)
    async with worker(env.client, fakes, "tq-early") as tq:
        order = await ship(env, fakes, tq, before_shipping=[event("e1", "IN_TRANSIT", "10:00")])
        await notices_reach(fakes, 1)
        await order.signal(OrderFulfillment.delivery_event, event("e2", "DELIVERED", "12:00"))
        assert (await order.result()).status == "DELIVERED"
    assert fakes.notices == [("IN_TRANSIT", "e1"), ("DELIVERED", "e2")]


async def test_an_exception_followed_by_progress_is_recovered(env: WorkflowEnvironment) -> None:
    fakes = Fakes(auto_deliver=False)
    async with worker(env.client, fakes, "tq-recovered") as tq:
        order = await ship(env, fakes, tq)
        await order.signal(
            OrderFulfillment.delivery_event, event("e1", "EXCEPTION", "10:00", reason="RECIPIENT_ABSENT")
        )
        await notices_reach(fakes, 1)
        await env.sleep(timedelta(days=1))  # within the two days' grace
        assert (await order.query(OrderFulfillment.status)).status == "SHIPPED"
        await order.signal(OrderFulfillment.delivery_event, event("e2", "OUT_FOR_DELIVERY", "11:00"))
        await notices_reach(fakes, 2)
        await env.sleep(timedelta(days=3))  # the exception's timer is gone: nothing fails
        assert (await order.query(OrderFulfillment.status)).status == "SHIPPED"
        await order.signal(OrderFulfillment.delivery_event, event("e3", "DELIVERED", "12:00"))
        result = await order.result()
    assert result.status == "DELIVERED"
    assert not [c for c in fakes.calls if c.startswith(("payments.refund", "inventory.return", "orders.cancel"))]


async def test_an_exception_without_progress_fails_the_delivery(env: WorkflowEnvironment) -> None:
    fakes = Fakes(auto_deliver=False)
    async with worker(env.client, fakes, "tq-failed") as tq:
        order = await ship(env, fakes, tq)
        await order.signal(OrderFulfillment.delivery_event, event("e1", "IN_TRANSIT", "10:00"))
        await order.signal(
            OrderFulfillment.delivery_event, event("e2", "EXCEPTION", "11:00", reason="ADDRESS_NOT_FOUND")
        )
        # A stale event does not count as progress.
        await order.signal(OrderFulfillment.delivery_event, event("e0", "IN_TRANSIT", "09:00"))
        result = await order.result()  # the time-skipping server runs the two days' timer out
        snapshot = await order.query(OrderFulfillment.status)
    assert (result.status, result.cancel_reason) == ("CANCELLED", "DELIVERY_FAILED")
    assert snapshot.payment_status == "REFUNDED"
    undo = [c for c in fakes.calls if c.split(":")[0] in UNDO_STEPS]
    # Newest first: the money, the stock, the bins, the sales order (so the refunded order is not billed), the order.
    assert undo == [
        "payments.refund:2400",
        "inventory.return:MUG-RED=2",
        "warehouse.restock",
        "erp.cancel_sales_order",
        "orders.cancel",
    ]
    assert [u.outcome for u in fakes.erp_undone] == ["cancelled"]
    assert snapshot.erp_document_number in {u.document_number for u in fakes.erp_undone}
    assert fakes.cancel_reasons[-1] == "DELIVERY_FAILED"
    assert fakes.cancel_requesters[-1] == "carrier"
    assert fakes.messages[-1] == "order_cancelled"


async def test_an_undo_that_keeps_failing_is_recorded_and_the_rest_still_run(env: WorkflowEnvironment) -> None:
    fakes = Fakes(auto_deliver=False, rejects={"payments.refund": "RefundExceedsCapture"})
    async with worker(env.client, fakes, "tq-refund-refused") as tq:
        order = await ship(env, fakes, tq)
        await order.signal(OrderFulfillment.delivery_event, event("e1", "EXCEPTION", "11:00", reason="DAMAGED"))
        result = await order.result()
        snapshot = await order.query(OrderFulfillment.status)
    assert (result.status, result.cancel_reason) == ("CANCELLED", "DELIVERY_FAILED")
    assert [f.step for f in snapshot.compensation_failures] == ["payments.refund"]
    assert "warehouse.restock" in fakes.calls
    assert "orders.cancel" in fakes.calls
    assert [a.step for a in fakes.alerts] == ["payments.refund"]


async def test_a_temporal_cancel_while_following_stops_and_undoes_nothing(env: WorkflowEnvironment) -> None:
    fakes = Fakes(auto_deliver=False)
    async with worker(env.client, fakes, "tq-follow-cancel") as tq:
        order = await ship(env, fakes, tq)
        await order.signal(OrderFulfillment.delivery_event, event("e1", "IN_TRANSIT", "10:00"))
        await notices_reach(fakes, 1)
        await order.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await order.result()
        snapshot = await order.query(OrderFulfillment.status)
    assert isinstance(failure.value.cause, CancelledError)
    assert snapshot.status == "SHIPPED"
    assert not [c for c in fakes.calls if c.split(":")[0] in UNDO_STEPS]


UNDO_STEPS = {"payments.refund", "inventory.return", "warehouse.restock", "erp.cancel_sales_order", "orders.cancel"}

"""Every way the order saga ends runs its compensations to the end (time-skipping server, fake activities)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateStage
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment

from tests.workflows.fakes import Fakes, order_input, running_worker, start_order, time_skipping_env, until_settled
from workflows.order_fulfillment import CancelRequest, OrderFulfillment, OrderSnapshot

UNDOS = ["payments.void", "inventory.release", "orders.cancel"]
#: Once the order waits for a wave, it first leaves the wave backlog; its sales order in the ERP is cancelled next.
UNDOS_WAITING = ["warehouse.withdraw", "erp.cancel_sales_order", *UNDOS]


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_env() as environment:
        yield environment


async def until(check: Callable[[], bool], seconds: float = 20) -> None:
    """Wait in real time for the fakes to reach a state (activities run in real time)."""
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def ends_cancelled_by_temporal(handle: WorkflowHandle[Any, Any]) -> OrderSnapshot:
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    snapshot: OrderSnapshot = await handle.query(OrderFulfillment.status)
    return snapshot


def undo_calls(fakes: Fakes) -> list[str]:
    return [c for c in fakes.calls if c in UNDOS]


async def test_temporal_cancel_while_waiting_runs_the_same_compensations(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until_settled(env, handle, fakes)
        await handle.cancel()
        snapshot = await ends_cancelled_by_temporal(handle)
    assert (snapshot.status, snapshot.cancel_reason) == ("CANCELLED", "OPERATOR_CANCELLED")
    assert snapshot.cancel_requested_by == "temporal-cancel"
    assert snapshot.compensations == UNDOS_WAITING
    assert fakes.calls[-6:] == [*UNDOS_WAITING, "notifications.send:order_cancelled"]
    assert fakes.cancel_reasons == ["OPERATOR_CANCELLED"]


async def test_temporal_cancel_mid_step_is_not_a_step_failure(env: WorkflowEnvironment) -> None:
    fakes = Fakes(hold={"payments.authorize"})
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until(lambda: "payments.authorize" in fakes.calls)
        await handle.cancel()
        await until(lambda: "notifications.send:order_cancelled" in fakes.calls)
        fakes.release.set()
        snapshot = await ends_cancelled_by_temporal(handle)
    assert snapshot.cancel_reason == "OPERATOR_CANCELLED"  # not FULFILMENT_FAILED
    assert snapshot.compensations == UNDOS
    assert fakes.cancel_reasons == ["OPERATOR_CANCELLED"]


async def test_cancel_update_abandons_a_step_in_flight(env: WorkflowEnvironment) -> None:
    fakes = Fakes(hold={"payments.authorize"})
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until(lambda: "payments.authorize" in fakes.calls)
        snapshot = await asyncio.wait_for(
            handle.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice")), 15
        )
        assert not fakes.release.is_set()  # the authorize never answered
        fakes.release.set()
        result = await handle.result()
    assert (result.status, result.cancel_reason) == ("CANCELLED", "CUSTOMER_CANCELLED")
    assert snapshot.compensations == UNDOS


async def test_cancel_during_a_long_retry_answers_promptly(env: WorkflowEnvironment) -> None:
    fakes = Fakes(down={"payments.authorize"})  # a processor outage: every attempt fails transiently
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until(lambda: fakes.attempts.get("payments.authorize", 0) >= 2)
        # No time is skipped here: waiting out the backoff would take minutes.
        snapshot = await asyncio.wait_for(
            handle.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice")), 15
        )
        await handle.result()
    assert (snapshot.status, snapshot.cancel_reason) == ("CANCELLED", "CUSTOMER_CANCELLED")
    assert fakes.attempts["payments.authorize"] < 10
    assert snapshot.compensations == UNDOS


async def test_a_failing_undo_is_recorded_alerted_and_the_rest_still_run(env: WorkflowEnvironment) -> None:
    fakes = Fakes(rejects={"inventory.release": "ReservationCommitted"})
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input(card="tok_declined"))
        result = await handle.result()
        snapshot = await handle.query(OrderFulfillment.status)
        memo = await (await handle.describe()).memo()
    assert (result.status, result.cancel_reason) == ("CANCELLED", "PAYMENT_DECLINED")
    assert fakes.attempts["inventory.release"] == 1  # impossible undos are not retried
    assert fakes.calls[fakes.calls.index("payments.authorize") + 1 :] == [
        "payments.void",
        "inventory.release",
        "orders.cancel",
        "orders.record_alert:inventory.release",
        "notifications.send:order_cancelled",
    ]
    assert snapshot.compensations == ["payments.void", "orders.cancel"]
    assert [(f.step, f.error_type) for f in snapshot.compensation_failures] == [
        ("inventory.release", "ReservationCommitted")
    ]
    assert [(a.kind, a.step) for a in fakes.alerts] == [("COMPENSATION_FAILED", "inventory.release")]
    assert memo["compensation_failures"][0]["step"] == "inventory.release"


async def test_an_undo_rejection_follows_the_compensation_retry_policy(env: WorkflowEnvironment) -> None:
    # A 4xx that is not "impossible" (the service is busy settling the order) is retried until it passes.
    fakes = Fakes(rejects={"payments.void": "PaymentLocked"}, reject_attempts={"payments.void": 2})
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until_settled(env, handle, fakes)
        snapshot = await handle.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice"))
    assert fakes.attempts["payments.void"] == 3
    assert snapshot.compensations == UNDOS_WAITING
    assert snapshot.compensation_failures == []


async def test_a_step_out_of_retries_compensates_as_fulfilment_failed(env: WorkflowEnvironment) -> None:
    fakes = Fakes(down={"inventory.reserve"})
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        result = await handle.result()  # the time-skipping server waits out the backoff
        snapshot = await handle.query(OrderFulfillment.status)
    assert (result.status, result.cancel_reason) == ("CANCELLED", "FULFILMENT_FAILED")
    assert fakes.attempts["inventory.reserve"] == 10
    assert "payments.authorize" not in fakes.calls
    assert snapshot.compensations == ["inventory.release", "orders.cancel"]


async def test_a_cancel_keeps_its_reason_and_requester(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until_settled(env, handle, fakes)
        snapshot = await handle.execute_update(
            OrderFulfillment.cancel, CancelRequest(reason="OUT_OF_STOCK", requested_by="olivia")
        )
        result = await handle.result()
    assert (snapshot.cancel_reason, snapshot.cancel_requested_by) == ("OUT_OF_STOCK", "olivia")
    assert result.cancel_reason == "OUT_OF_STOCK"
    assert (fakes.cancel_reasons, fakes.cancel_requesters) == (["OUT_OF_STOCK"], ["olivia"])


async def test_a_temporal_cancel_cannot_interrupt_compensation(env: WorkflowEnvironment) -> None:
    fakes = Fakes(hold={"inventory.release"})
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until_settled(env, handle, fakes)
        update = await handle.start_update(
            OrderFulfillment.cancel,
            CancelRequest(requested_by="alice"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await until(lambda: "inventory.release" in fakes.calls)
        await handle.cancel()  # an operator presses Cancel in the Web UI mid-compensation
        await asyncio.sleep(0.5)
        fakes.release.set()
        snapshot = await update.result()
        ended = await ends_cancelled_by_temporal(handle)
    assert snapshot.compensations == UNDOS_WAITING
    assert ended.cancel_reason == "CUSTOMER_CANCELLED"
    assert fakes.calls[-6:] == [*UNDOS_WAITING, "notifications.send:order_cancelled"]

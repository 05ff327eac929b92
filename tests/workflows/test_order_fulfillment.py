"""OrderFulfillment on the time-skipping test server, with fake activities under the real names."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from tests.workflows.fakes import Fakes, order_input, running_worker, start_order, time_skipping_env, until_settled
from workflows.order_fulfillment import (
    CancelRequest,
    OrderFulfillment,
    OrderSnapshot,
    WaitForChange,
    WaitForStatus,
    workflow_id,
)

ACCEPTED = [
    "orders.create",
    "inventory.reserve",
    "orders.transition:RESERVED",
    "payments.authorize",
    "orders.transition:PAYMENT_AUTHORIZED",
    # The sales order in the ERP; its number goes on the AWAITING_WAVE transition.
    "erp.create_sales_order",
    # In the backlog before it is shown waiting: a wave planned at once finds it.
    "warehouse.enqueue",
    "orders.transition:AWAITING_WAVE",
    "notifications.send:order_confirmed",
]


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_env() as environment:
        yield environment


async def test_happy_path_parks_at_awaiting_wave(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        snapshot = await until_settled(env, handle, fakes)
    assert snapshot.status == "AWAITING_WAVE"
    assert snapshot.payment_status == "AUTHORIZED"
    assert snapshot.total_cents == 2400
    assert snapshot.compensations == []
    assert fakes.calls == ACCEPTED


async def test_out_of_stock_cancels_before_any_payment_call(env: WorkflowEnvironment) -> None:
    fakes = Fakes(out_of_stock=True)
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        result = await handle.result()
    assert (result.status, result.cancel_reason) == ("CANCELLED", "OUT_OF_STOCK")
    assert "payments.authorize" not in fakes.calls
    assert fakes.calls == [
        "orders.create",
        "inventory.reserve",
        "inventory.release",
        "orders.cancel",
        "notifications.send:order_cancelled",
    ]
    assert fakes.cancel_reasons == ["OUT_OF_STOCK"]


async def test_decline_compensates_newest_first(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input(card="tok_declined"))
        result = await handle.result()
        snapshot = await handle.query(OrderFulfillment.status)
    assert (result.status, result.cancel_reason) == ("CANCELLED", "PAYMENT_DECLINED")
    assert fakes.authorize_attempts == 1  # declines are not retried
    after_authorize = fakes.calls[fakes.calls.index("payments.authorize") + 1 :]
    assert after_authorize == [
        "payments.void",
        "inventory.release",
        "orders.cancel",
        "notifications.send:order_cancelled",
    ]
    assert snapshot.compensations == ["payments.void", "inventory.release", "orders.cancel"]
    assert fakes.cancel_reasons == ["PAYMENT_DECLINED"]


async def test_flaky_card_recovers_after_backoff(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input(card="tok_flaky"))
        snapshot = await until_settled(env, handle, fakes)
    assert snapshot.status == "AWAITING_WAVE"
    assert fakes.authorize_attempts == 3
    assert fakes.calls.count("payments.authorize") == 3
    assert "payments.void" not in fakes.calls


async def test_customer_cancel_runs_compensations_and_rejects_a_second_cancel(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until_settled(env, handle, fakes)
        snapshot = await handle.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice"))
        assert (snapshot.status, snapshot.cancel_reason) == ("CANCELLED", "CUSTOMER_CANCELLED")
        assert snapshot.compensations == [
            "warehouse.withdraw",
            "erp.cancel_sales_order",
            "payments.void",
            "inventory.release",
            "orders.cancel",
        ]
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(OrderFulfillment.cancel, CancelRequest())
        result = await handle.result()
    assert (result.status, result.cancel_reason) == ("CANCELLED", "CUSTOMER_CANCELLED")
    assert fakes.calls == [
        *ACCEPTED,
        "warehouse.withdraw",
        "erp.cancel_sales_order",
        "payments.void",
        "inventory.release",
        "orders.cancel",
        "notifications.send:order_cancelled",
    ]
    assert fakes.cancel_reasons == ["CUSTOMER_CANCELLED"]


async def test_cancel_with_an_unknown_reason_is_rejected(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until_settled(env, handle, fakes)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(OrderFulfillment.cancel, CancelRequest(reason="BORED"))
        assert (await handle.query(OrderFulfillment.status)).status == "AWAITING_WAVE"


async def test_wait_for_status_answers_once_accepted(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        snapshot = await handle.execute_update(
            OrderFulfillment.wait_for_status, WaitForStatus(statuses=["AWAITING_WAVE"])
        )
        assert snapshot.status == "AWAITING_WAVE"
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(OrderFulfillment.wait_for_status, WaitForStatus(statuses=["NOT_A_STATUS"]))


async def _checkout(env: WorkflowEnvironment, fakes: Fakes, card: str = "tok_visa") -> OrderSnapshot:
    """Start the order and wait for its decision in one update-with-start, as the gateway's checkout does."""
    async with running_worker(env.client, fakes) as tq:
        params = order_input(card=card)
        return await env.client.execute_update_with_start_workflow(
            OrderFulfillment.wait_for_status,
            WaitForStatus.accepted(),
            start_workflow_operation=WithStartWorkflowOperation(
                OrderFulfillment.run,
                params,
                id=workflow_id(params.order_id),
                task_queue=tq,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            ),
        )


async def test_checkout_answers_once_stock_is_reserved_and_payment_authorized(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    snapshot = await _checkout(env, fakes)
    assert snapshot.status in ("PAYMENT_AUTHORIZED", "AWAITING_WAVE")
    assert (snapshot.cancel_reason, snapshot.payment_status) == (None, "AUTHORIZED")
    assert fakes.calls[:5] == ACCEPTED[:5]


async def test_checkout_answers_a_decline_with_its_reason(env: WorkflowEnvironment) -> None:
    snapshot = await _checkout(env, Fakes(), card="tok_declined")
    assert (snapshot.status, snapshot.cancel_reason) == ("CANCELLED", "PAYMENT_DECLINED")
    assert snapshot.compensations == ["payments.void", "inventory.release", "orders.cancel"]


async def test_checkout_answers_out_of_stock_with_its_reason(env: WorkflowEnvironment) -> None:
    fakes = Fakes(out_of_stock=True)
    snapshot = await _checkout(env, fakes)
    assert (snapshot.status, snapshot.cancel_reason) == ("CANCELLED", "OUT_OF_STOCK")
    assert "payments.authorize" not in fakes.calls


async def test_wait_for_change_answers_the_next_status_and_at_the_end(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until_settled(env, handle, fakes)
        # Not waiting: the order has moved on from PENDING already.
        moved = await handle.execute_update(OrderFulfillment.wait_for_change, WaitForChange(status="PENDING"))
        assert moved.status == "AWAITING_WAVE"
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(OrderFulfillment.wait_for_change, WaitForChange(status="SOMETHING"))
        waiting = await handle.start_update(
            OrderFulfillment.wait_for_change,
            WaitForChange(status="AWAITING_WAVE"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await handle.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice"))
        assert (await waiting.result()).status == "CANCELLED"
        # Waiting on the final status answers as the run ends, so it never holds the workflow open.
        ended = await handle.execute_update(OrderFulfillment.wait_for_change, WaitForChange(status="CANCELLED"))
        assert ended.status == "CANCELLED"
        assert (await handle.result()).status == "CANCELLED"

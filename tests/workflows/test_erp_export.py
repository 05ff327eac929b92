"""The order's export to the ERP inside OrderFulfillment (time-skipping server, fake activities)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflows.fakes import Fakes, order_input, running_worker, start_order, time_skipping_env, until_settled
from tests.workflows.test_saga_endings import ends_cancelled_by_temporal, until
from workflows.order_fulfillment import CancelRequest, OrderFulfillment, OrderSnapshot

EXPORT = "erp.create_sales_order"
#: Newest first: the payment, the stock, the order; then the customer is told.
UNDOS = ["payments.void", "inventory.release", "orders.cancel"]


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_env() as environment:
        yield environment


def after_export(fakes: Fakes) -> list[str]:
    return fakes.calls[fakes.calls.index(EXPORT) + 1 :]


async def test_the_document_number_goes_on_the_awaiting_wave_transition(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    params = order_input()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, params)
        snapshot = await until_settled(env, handle, fakes)
    number = fakes.erp_orders[params.order_id]
    assert (snapshot.status, snapshot.erp_document_number) == ("AWAITING_WAVE", number)
    # After the payment is authorized, before the warehouse backlog: an order the ERP refuses never reaches the floor.
    assert fakes.calls.index("orders.transition:PAYMENT_AUTHORIZED") < fakes.calls.index(EXPORT)
    assert fakes.calls.index(EXPORT) < fakes.calls.index("warehouse.enqueue")
    assert fakes.calls.count(EXPORT) == 1
    carried = {t.status: t.erp_document_number for t in fakes.transitions}
    assert carried == {"RESERVED": None, "PAYMENT_AUTHORIZED": None, "AWAITING_WAVE": number}


@pytest.mark.parametrize("rejection", ["CustomerBlocked", "UnknownMaterial"])
async def test_the_erps_no_cancels_erp_rejected_and_compensates_newest_first(
    env: WorkflowEnvironment, rejection: str
) -> None:
    fakes = Fakes(rejects={EXPORT: rejection})
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        result = await handle.result()
        snapshot = await handle.query(OrderFulfillment.status)
    assert (result.status, result.cancel_reason) == ("CANCELLED", "ERP_REJECTED")
    assert fakes.attempts[EXPORT] == 1  # a business "no" is not retried
    assert after_export(fakes) == [*UNDOS, "notifications.send:order_cancelled"]
    assert (snapshot.compensations, snapshot.erp_document_number) == (UNDOS, None)
    assert fakes.cancel_reasons == ["ERP_REJECTED"]
    assert fakes.messages == ["order_cancelled"]  # never confirmed, told once why
    assert "warehouse.enqueue" not in fakes.calls


async def test_the_erp_down_keeps_the_order_waiting_then_it_proceeds(env: WorkflowEnvironment) -> None:
    # More failures than any forward step's attempt limit (10): the export has none.
    fakes = Fakes(transient_failures={EXPORT: 12})
    params = order_input()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, params)
        await until(lambda: fakes.attempts.get(EXPORT, 0) >= 3)
        waiting: OrderSnapshot = await handle.query(OrderFulfillment.status)
        assert (waiting.status, waiting.cancel_reason, waiting.erp_document_number) == (
            "PAYMENT_AUTHORIZED",
            None,
            None,
        )
        for _ in range(40):  # backoff 1 s doubling to 60 s: about 7 minutes of workflow time
            if "orders.transition:AWAITING_WAVE" in fakes.calls:
                break
            await env.sleep(timedelta(seconds=30))
        snapshot = await until_settled(env, handle, fakes)
    assert fakes.attempts[EXPORT] == 13
    assert (snapshot.status, snapshot.cancel_reason) == ("AWAITING_WAVE", None)
    assert snapshot.erp_document_number == fakes.erp_orders[params.order_id]
    assert not set(UNDOS) & set(fakes.calls)
    assert fakes.messages == ["order_confirmed"]


async def test_a_cancel_while_the_export_retries_interrupts_it_and_compensates(env: WorkflowEnvironment) -> None:
    fakes = Fakes(down={EXPORT})
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until(lambda: fakes.attempts.get(EXPORT, 0) >= 2)
        # No time is skipped: the update must not wait out the backoff.
        snapshot = await asyncio.wait_for(
            handle.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice")), 15
        )
        result = await handle.result()
    assert (result.status, result.cancel_reason) == ("CANCELLED", "CUSTOMER_CANCELLED")
    assert snapshot.compensations == UNDOS
    assert fakes.calls[-4:] == [*UNDOS, "notifications.send:order_cancelled"]
    assert "warehouse.enqueue" not in fakes.calls
    assert fakes.cancel_requesters == ["alice"]


async def test_a_temporal_cancel_while_the_export_retries_compensates(env: WorkflowEnvironment) -> None:
    fakes = Fakes(down={EXPORT})
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until(lambda: fakes.attempts.get(EXPORT, 0) >= 2)
        await handle.cancel()
        snapshot = await ends_cancelled_by_temporal(handle)
    assert (snapshot.status, snapshot.cancel_reason) == ("CANCELLED", "OPERATOR_CANCELLED")
    assert snapshot.compensations == UNDOS
    assert fakes.calls[-4:] == [*UNDOS, "notifications.send:order_cancelled"]


async def test_a_purchase_order_the_erp_holds_with_other_content_fails_the_order(env: WorkflowEnvironment) -> None:
    # Not the customer's doing and not transient: the order is undone as a failed fulfilment.
    fakes = Fakes(rejects={EXPORT: "DuplicatePurchaseOrder"})
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        result = await handle.result()
    assert (result.status, result.cancel_reason) == ("CANCELLED", "FULFILMENT_FAILED")
    assert fakes.attempts[EXPORT] == 1
    assert after_export(fakes) == [*UNDOS, "notifications.send:order_cancelled"]

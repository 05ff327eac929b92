"""The order's export to the ERP inside OrderFulfillment, and its undo (time-skipping server, fake activities)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from activities.erp_orders import SalesOrderCancelled, SalesOrderCreated
from tests.workflows.fakes import (
    ERP_UNDO,
    EXPORT,
    Fakes,
    order_input,
    running_worker,
    start_order,
    time_skipping_env,
    until_settled,
)
from tests.workflows.test_saga_endings import ends_cancelled_by_temporal, until
from workflows.erp_status import ErpStatusEvent
from workflows.order_fulfillment import CancelRequest, OrderFulfillment, OrderSnapshot
from workflows.order_types import ERP_UNDO_RETRY

#: Newest first: the sales order (its undo is registered as the export starts), the payment, the stock,
#: the order; then the customer is told.
UNDOS = [ERP_UNDO, "payments.void", "inventory.release", "orders.cancel"]
#: Once the order waits for a wave, it first leaves the wave backlog.
UNDOS_WAITING = ["warehouse.withdraw", *UNDOS]


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
    params = order_input()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, params)
        result = await handle.result()
        snapshot = await handle.query(OrderFulfillment.status)
    assert (result.status, result.cancel_reason) == ("CANCELLED", "ERP_REJECTED")
    assert fakes.attempts[EXPORT] == 1  # a business "no" is not retried
    assert after_export(fakes) == [*UNDOS, "notifications.send:order_cancelled"]
    assert (snapshot.compensations, snapshot.erp_document_number) == (UNDOS, None)
    # The undo posts the same order again and meets the same "no": nothing was, or is, created.
    assert fakes.erp_undone == [SalesOrderCancelled(params.order_id, None, "never_created")]
    assert (fakes.erp_orders, snapshot.compensation_failures) == ({}, [])
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


async def test_a_cancel_after_the_export_cancels_the_sales_order_newest_first(env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    params = order_input()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, params)
        await until_settled(env, handle, fakes)
        snapshot = await handle.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice"))
        result = await handle.result()
    number = fakes.erp_orders[params.order_id]
    assert (result.status, result.cancel_reason) == ("CANCELLED", "CUSTOMER_CANCELLED")
    # After the backlog (enqueued after the export), before the payment and the stock.
    assert fakes.calls[fakes.calls.index("notifications.send:order_confirmed") + 1 :] == [
        "warehouse.withdraw",
        ERP_UNDO,
        "payments.void",
        "inventory.release",
        "orders.cancel",
        "notifications.send:order_cancelled",
    ]
    assert snapshot.compensations == UNDOS_WAITING
    assert fakes.erp_undone == [SalesOrderCancelled(params.order_id, number, "cancelled")]
    assert fakes.erp_cancelled == {params.order_id}
    assert (snapshot.erp_document_number, snapshot.compensation_failures) == (number, [])


async def test_a_cancel_while_the_export_is_in_flight_cancels_what_it_makes(env: WorkflowEnvironment) -> None:
    # The export's request is on its way when the customer cancels: the step is abandoned, its request is not.
    fakes = Fakes(hold={EXPORT})
    params = order_input()
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, params)
        await until(lambda: EXPORT in fakes.calls)
        snapshot = await asyncio.wait_for(
            handle.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice")), 15
        )
        await handle.result()
        fakes.release.set()  # the export's request arrives after the undo
        await until(lambda: bool(fakes.erp_exports))
    number = fakes.erp_orders[params.order_id]
    assert snapshot.compensations == UNDOS
    # The undo got there first and made the sales order to cancel it; the late export found that same order.
    assert fakes.erp_undone == [SalesOrderCancelled(params.order_id, number, "cancelled")]
    assert fakes.erp_exports == [SalesOrderCreated(params.order_id, number, created=False)]
    assert fakes.erp_cancelled == {params.order_id}
    assert "warehouse.enqueue" not in fakes.calls


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
    assert fakes.calls[-5:] == [*UNDOS, "notifications.send:order_cancelled"]
    assert "warehouse.enqueue" not in fakes.calls
    assert fakes.cancel_requesters == ["alice"]
    # An attempt may still reach the ERP: the undo made sure of the sales order and cancelled it.
    assert [u.outcome for u in fakes.erp_undone] == ["cancelled"]
    assert fakes.erp_cancelled == set(fakes.erp_orders)


async def test_a_temporal_cancel_while_the_export_retries_compensates(env: WorkflowEnvironment) -> None:
    fakes = Fakes(down={EXPORT})
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until(lambda: fakes.attempts.get(EXPORT, 0) >= 2)
        await handle.cancel()
        snapshot = await ends_cancelled_by_temporal(handle)
    assert (snapshot.status, snapshot.cancel_reason) == ("CANCELLED", "OPERATOR_CANCELLED")
    assert snapshot.compensations == UNDOS
    assert fakes.calls[-5:] == [*UNDOS, "notifications.send:order_cancelled"]
    assert [u.outcome for u in fakes.erp_undone] == ["cancelled"]


async def test_the_undo_out_of_attempts_is_a_compensation_failure_and_the_rest_still_run(
    env: WorkflowEnvironment,
) -> None:
    # The ERP is down for the export and for its undo: the customer's cancel must not wait for it for ever.
    fakes = Fakes(down={EXPORT, ERP_UNDO})
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until(lambda: fakes.attempts.get(EXPORT, 0) >= 2)
        update = await handle.start_update(
            OrderFulfillment.cancel, CancelRequest(requested_by="alice"), wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        result = await handle.result()  # the time-skipping server waits out the undo's backoff
        snapshot = await update.result()
        memo = await (await handle.describe()).memo()
    assert (result.status, result.cancel_reason) == ("CANCELLED", "CUSTOMER_CANCELLED")
    assert fakes.attempts[ERP_UNDO] == ERP_UNDO_RETRY.maximum_attempts == 8
    assert fakes.calls[fakes.calls.index(ERP_UNDO) :] == [
        *[ERP_UNDO] * 8,
        "payments.void",
        "inventory.release",
        "orders.cancel",
        f"orders.record_alert:{ERP_UNDO}",
        "notifications.send:order_cancelled",
    ]
    assert snapshot.compensations == UNDOS[1:]
    assert [(f.step, f.error_type) for f in snapshot.compensation_failures] == [(ERP_UNDO, "RuntimeError")]
    assert [(a.kind, a.step) for a in fakes.alerts] == [("COMPENSATION_FAILED", ERP_UNDO)]
    assert memo["compensation_failures"][0]["step"] == ERP_UNDO
    assert fakes.erp_undone == []


async def test_the_erps_own_cancelled_event_during_the_undo_is_ignored(env: WorkflowEnvironment) -> None:
    # Cancelling the sales order makes the ERP send SalesOrderStatusChanged CANCELLED back to PakLog.
    fakes = Fakes(hold={ERP_UNDO})
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        await until_settled(env, handle, fakes)
        update = await handle.start_update(
            OrderFulfillment.cancel, CancelRequest(requested_by="alice"), wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        await until(lambda: ERP_UNDO in fakes.calls)
        await handle.signal(OrderFulfillment.erp_status, ErpStatusEvent("e1", "CANCELLED", "2027-01-12T10:05:00+00:00"))
        fakes.release.set()
        snapshot = await update.result()
        result = await handle.result()
    assert (result.status, result.cancel_reason) == ("CANCELLED", "CUSTOMER_CANCELLED")
    assert (snapshot.cancel_requested_by, snapshot.compensations) == ("alice", UNDOS_WAITING)
    assert (fakes.cancel_reasons, fakes.cancel_requesters) == (["CUSTOMER_CANCELLED"], ["alice"])
    assert fakes.calls.count(ERP_UNDO) == 1  # one pass of the undos, not a second cancel
    assert fakes.messages == ["order_confirmed", "order_cancelled"]


async def test_a_purchase_order_the_erp_holds_with_other_content_fails_the_order(env: WorkflowEnvironment) -> None:
    # Not the customer's doing and not transient: the order is undone as a failed fulfilment.
    fakes = Fakes(rejects={EXPORT: "DuplicatePurchaseOrder"})
    async with running_worker(env.client, fakes) as tq:
        handle = await start_order(env.client, tq, order_input())
        result = await handle.result()
        snapshot = await handle.query(OrderFulfillment.status)
    assert (result.status, result.cancel_reason) == ("CANCELLED", "FULFILMENT_FAILED")
    assert fakes.attempts[EXPORT] == 1
    # The undo meets the same 409: that sales order is not ours to cancel; operators settle it.
    assert fakes.attempts[ERP_UNDO] == 1
    assert after_export(fakes) == [
        *UNDOS,
        f"orders.record_alert:{ERP_UNDO}",
        "notifications.send:order_cancelled",
    ]
    assert snapshot.compensations == UNDOS[1:]
    assert [(f.step, f.error_type) for f in snapshot.compensation_failures] == [(ERP_UNDO, "DuplicatePurchaseOrder")]

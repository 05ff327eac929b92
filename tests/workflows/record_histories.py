"""Record the histories replayed by ``test_replay.py``.

Run ``.venv/bin/python -m tests.workflows.record_histories`` after a
*deliberate* workflow change that ships with ``workflow.patched`` (so old
histories keep replaying) — never to paper over a non-determinism failure.

Histories of earlier code are never re-recorded: ``order_fulfillment_*.json``
without a version came from the code before ``PATCH_SAGA_ENDINGS`` and stay
as they are, so its old paths keep being replayed; the ``v2_`` set came from
the code before ``PATCH_WAREHOUSE`` (the order waited in ``AWAITING_WAVE``).
The ``v3_`` set came from the code before ``PATCH_BACKLOG_FIRST`` (the order was
shown ``AWAITING_WAVE`` before it entered the backlog), the ``v4_`` set from the code
before ``PATCH_DELIVERY`` (the workflow ended at ``SHIPPED``), the ``v5_`` set from the
code before ``PATCH_ERP_EXPORT`` (the order never went to the ERP), the ``v6_`` set and
``order_fulfillment_v7_*`` (orders that heard from the ERP, ``PATCH_ERP_STATUS``: cancelled
by it; held on credit, released, delivered) from the code before ``PATCH_ERP_EXPORT_UNDO``
(the export had no undo), the ``v8_`` set from the code before ``PATCH_LOCAL_ACCEPT``
(the accept path's steps were scheduled activities, and every patch was asked on its
own). This writes the newest set, recorded with today's code: ``order_fulfillment_v9_*``,
with the accept path as local activities and one patch marker: declined, out of stock,
cancelled (update, then Temporal cancel) while a local step was in flight; exported
through an ERP outage, then cancelled by the customer; rejected by the ERP (the undo
finds nothing created); cancelled while the export retried; the undo out of attempts
(a compensation failure); through the warehouse to ``DELIVERED``, cancelled while
picking, or ``DELIVERY_FAILED``. ``pick_pack_ship_v1_*``,
``wave_release_v1_*``, ``erp_import_v1_*``, ``erp_sync_v1_*``, ``order_fulfillment_v7_*`` and
``account_notice_v1_*`` (a welcome; a reset code sent through a notifications outage)
are written only when missing (those workflows, or paths, have not changed since).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowHistory, WorkflowUpdateStage
from temporalio.worker import Worker

from tests.workflows.erp_fakes import FakeErp
from tests.workflows.fakes import (
    Fakes,
    order_input,
    running_worker,
    start_order,
    time_skipping_env,
    until_picking,
    until_settled,
)
from tests.workflows.test_account_notice import FakeNotifications
from tests.workflows.test_account_notice import worker as notice_worker
from workflows.account_notice import AccountNotice, AccountNoticeInput
from workflows.account_notice import workflow_id as notice_workflow_id
from workflows.erp_status import ErpStatusEvent
from workflows.erp_sync import ErpImport, ErpSync
from workflows.erp_types import MATERIALS, STOCK, ErpImportInput, ErpSyncInput, import_workflow_id
from workflows.order_fulfillment import CancelRequest, OrderFulfillment
from workflows.order_types import DeliveryEvent
from workflows.pick_pack_ship import PickPackShip
from workflows.warehouse_types import (
    PackItem,
    PackScan,
    PickScan,
    ReleaseWave,
    WaitForWaveStatus,
    WaveReleaseInput,
)
from workflows.wave_release import WaveRelease

HISTORIES = Path(__file__).parent / "histories"
ORDER_VERSION = "v9"
EXPORT = "erp.create_sales_order"
ERP_UNDO = "erp.cancel_sales_order"
#: Orders that heard from the ERP (``erp_status``), recorded once: ``order_fulfillment_v7_*``.
ERP_STATUS_VERSION = "v7"


async def _until_called(fakes: Fakes, name: str) -> None:
    for _ in range(400):
        if name in fakes.calls:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} never ran")


async def record() -> dict[str, WorkflowHistory]:
    recorded: dict[str, WorkflowHistory] = {}
    async with time_skipping_env() as env:
        fakes = Fakes()
        async with running_worker(env.client, fakes) as tq:
            handle = await start_order(env.client, tq, order_input(order_id="v2-accepted-then-cancelled"))
            await until_settled(env, handle)
            await handle.execute_update(
                OrderFulfillment.cancel, CancelRequest(reason="OUT_OF_STOCK", requested_by="olivia")
            )
            await handle.result()
            recorded["accepted_then_cancelled"] = await handle.fetch_history()

            handle = await start_order(env.client, tq, order_input(order_id="v2-declined", card="tok_declined"))
            await handle.result()
            recorded["declined"] = await handle.fetch_history()

            handle = await start_order(env.client, tq, order_input(order_id="v2-temporal-cancel"))
            await until_settled(env, handle)
            await handle.cancel()
            try:
                await handle.result()
            except WorkflowFailureError:
                pass
            recorded["temporal_cancel"] = await handle.fetch_history()

        held = Fakes(hold={"payments.authorize"})
        async with running_worker(env.client, held) as tq:
            handle = await start_order(env.client, tq, order_input(order_id="v2-cancel-mid-step"))
            await _until_called(held, "payments.authorize")
            await handle.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice"))
            held.release.set()
            await handle.result()
            recorded["cancel_mid_step"] = await handle.fetch_history()

        failing = Fakes(rejects={"inventory.release": "ReservationCommitted"})
        async with running_worker(env.client, failing) as tq:
            handle = await start_order(env.client, tq, order_input(order_id="v2-undo-failed", card="tok_declined"))
            await handle.result()
            recorded["undo_failed"] = await handle.fetch_history()
    return recorded


async def record_export() -> dict[str, WorkflowHistory]:
    """The order's export to the ERP and its undo: through an outage, refused, interrupted by a cancel, undo failed."""
    recorded: dict[str, WorkflowHistory] = {}
    version = f"order_fulfillment_{ORDER_VERSION}"
    async with time_skipping_env() as env:
        flaky = Fakes(transient_failures={EXPORT: 2})
        async with running_worker(env.client, flaky) as tq:
            handle = await start_order(env.client, tq, order_input(order_id=f"{ORDER_VERSION}-exported"))
            await until_settled(env, handle, flaky)
            await handle.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice"))
            await handle.result()
            recorded[f"{version}_exported"] = await handle.fetch_history()

        blocked = Fakes(rejects={EXPORT: "CustomerBlocked"})
        async with running_worker(env.client, blocked) as tq:
            handle = await start_order(env.client, tq, order_input(order_id=f"{ORDER_VERSION}-erp-rejected"))
            await handle.result()
            recorded[f"{version}_erp_rejected"] = await handle.fetch_history()

        down = Fakes(down={EXPORT})
        async with running_worker(env.client, down) as tq:
            handle = await start_order(env.client, tq, order_input(order_id=f"{ORDER_VERSION}-export-cancelled"))
            for _ in range(400):
                if down.attempts.get(EXPORT, 0) >= 2:
                    break
                await asyncio.sleep(0.05)
            await handle.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice"))
            await handle.result()
            recorded[f"{version}_export_cancelled"] = await handle.fetch_history()

        # The ERP gone for good after the export: its undo runs out of attempts, the rest still run.
        gone = Fakes()
        async with running_worker(env.client, gone) as tq:
            handle = await start_order(env.client, tq, order_input(order_id=f"{ORDER_VERSION}-erp-undo-failed"))
            await until_settled(env, handle, gone)
            gone.down.add(ERP_UNDO)
            await handle.start_update(
                OrderFulfillment.cancel,
                CancelRequest(requested_by="alice"),
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            )
            await handle.result()
            recorded[f"{version}_erp_undo_failed"] = await handle.fetch_history()
    return recorded


async def record_accept() -> dict[str, WorkflowHistory]:
    """The accept path as local activities (``PATCH_LOCAL_ACCEPT``): declined, out of stock, cancelled mid-step."""
    recorded: dict[str, WorkflowHistory] = {}
    version = f"order_fulfillment_{ORDER_VERSION}"
    async with time_skipping_env() as env:
        fakes = Fakes()
        async with running_worker(env.client, fakes) as tq:
            handle = await start_order(
                env.client, tq, order_input(order_id=f"{ORDER_VERSION}-declined", card="tok_declined")
            )
            await handle.result()
            recorded[f"{version}_declined"] = await handle.fetch_history()

        empty = Fakes(out_of_stock=True)
        async with running_worker(env.client, empty) as tq:
            handle = await start_order(env.client, tq, order_input(order_id=f"{ORDER_VERSION}-out-of-stock"))
            await handle.result()
            recorded[f"{version}_out_of_stock"] = await handle.fetch_history()

        held = Fakes(hold={"payments.authorize"})
        async with running_worker(env.client, held) as tq:
            handle = await start_order(env.client, tq, order_input(order_id=f"{ORDER_VERSION}-cancel-mid-step"))
            await _until_called(held, "payments.authorize")
            await handle.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice"))
            held.release.set()
            await handle.result()
            recorded[f"{version}_cancel_mid_step"] = await handle.fetch_history()

        held = Fakes(hold={"payments.authorize"})
        async with running_worker(env.client, held) as tq:
            handle = await start_order(env.client, tq, order_input(order_id=f"{ORDER_VERSION}-temporal-cancel"))
            await _until_called(held, "payments.authorize")
            await handle.cancel()  # delivered at the open workflow task's heartbeat; it cancels the held step
            try:
                await handle.result()
            except WorkflowFailureError:
                pass
            held.release.set()
            recorded[f"{version}_temporal_cancel"] = await handle.fetch_history()
    return recorded


async def record_warehouse() -> dict[str, WorkflowHistory]:
    """Orders through the warehouse floor, and the two warehouse workflows, one history per ending."""
    recorded: dict[str, WorkflowHistory] = {}
    async with time_skipping_env() as env:
        fakes = Fakes()
        fakes.floor.elsewhere["MUG-RED"] = 1
        async with running_worker(env.client, fakes) as tq:
            order = await start_order(env.client, tq, order_input(order_id=f"{ORDER_VERSION}-shipped"))
            await until_settled(env, order, fakes)
            empty = await env.client.start_workflow(
                WaveRelease.run, WaveReleaseInput(wave_id="v1-empty-probe"), id="wave-v1-busy", task_queue=tq
            )
            await empty.execute_update(WaveRelease.wait_for_status, WaitForWaveStatus(statuses=["PLANNED"]))
            await empty.execute_update(WaveRelease.release, ReleaseWave(requested_by="olivia"))
            pps = await until_picking(env.client, f"{ORDER_VERSION}-shipped")
            first = fakes.floor.tasks_of(f"{ORDER_VERSION}-shipped")[0]
            # A short pick found in another bin, then a pack that misses one unit and goes back to picking.
            await pps.execute_update(
                PickPackShip.confirm_pick, PickScan(first.task_id, first.location, first.sku, first.lot, 1, "pat")
            )
            await _pick_open(fakes, pps, f"{ORDER_VERSION}-shipped")
            await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 1)], "pia"))
            await _pick_open(fakes, pps, f"{ORDER_VERSION}-shipped")
            await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)], "pia"))
            await order.result()
            await empty.result()
            recorded[f"order_fulfillment_{ORDER_VERSION}_delivered"] = await order.fetch_history()
            recorded["pick_pack_ship_v1_shipped"] = await pps.fetch_history()
            recorded["wave_release_v1_done"] = await empty.fetch_history()

            order = await start_order(env.client, tq, order_input(order_id=f"{ORDER_VERSION}-cancel-picking"))
            await until_settled(env, order, fakes)
            wave = await env.client.start_workflow(
                WaveRelease.run, WaveReleaseInput(wave_id="v1-cancel"), id="wave-v1-cancel", task_queue=tq
            )
            await wave.execute_update(WaveRelease.wait_for_status, WaitForWaveStatus(statuses=["PLANNED"]))
            await wave.execute_update(WaveRelease.release, ReleaseWave())
            pps = await until_picking(env.client, f"{ORDER_VERSION}-cancel-picking")
            await order.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice"))
            await order.result()
            await wave.result()
            recorded[f"order_fulfillment_{ORDER_VERSION}_cancelled_while_picking"] = await order.fetch_history()
            recorded["pick_pack_ship_v1_cancelled"] = await pps.fetch_history()

            fakes.auto_deliver = False
            order = await start_order(env.client, tq, order_input(order_id=f"{ORDER_VERSION}-delivery-failed"))
            await until_settled(env, order, fakes)
            wave = await env.client.start_workflow(
                WaveRelease.run, WaveReleaseInput(wave_id="v1-delivery"), id="wave-v1-delivery", task_queue=tq
            )
            await wave.execute_update(WaveRelease.wait_for_status, WaitForWaveStatus(statuses=["PLANNED"]))
            await wave.execute_update(WaveRelease.release, ReleaseWave())
            pps = await until_picking(env.client, f"{ORDER_VERSION}-delivery-failed")
            await _pick_open(fakes, pps, f"{ORDER_VERSION}-delivery-failed")
            await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)], "pia"))
            await order.signal(
                OrderFulfillment.delivery_event,
                DeliveryEvent("e1", "SW123", "IN_TRANSIT", "2026-11-24T10:00:00+00:00", "SWIFT"),
            )
            await order.signal(
                OrderFulfillment.delivery_event,
                DeliveryEvent("e2", "SW123", "EXCEPTION", "2026-11-24T11:00:00+00:00", "SWIFT", "DAMAGED"),
            )
            await order.result()
            await wave.result()
            recorded[f"order_fulfillment_{ORDER_VERSION}_delivery_failed"] = await order.fetch_history()

            nothing = await env.client.start_workflow(
                WaveRelease.run, WaveReleaseInput(wave_id="v1-empty"), id="wave-v1-empty", task_queue=tq
            )
            await nothing.result()
            recorded["wave_release_v1_empty"] = await nothing.fetch_history()
    return recorded


async def _pick_open(fakes: Fakes, pps: WorkflowHandle[Any, Any], order_id: str) -> None:
    for task in fakes.floor.tasks_of(order_id):
        if task.status == "OPEN":
            await pps.execute_update(
                PickPackShip.confirm_pick, PickScan(task.task_id, task.location, task.sku, task.lot, task.quantity)
            )


async def record_erp() -> dict[str, WorkflowHistory]:
    """The master-data import: a chain that continued as new, an outage, a full sync, a sync kept waiting."""
    recorded: dict[str, WorkflowHistory] = {}
    async with time_skipping_env() as env:
        # Pages 1-4: the chain; 5-13: the full sync (3 per entity), the second stock page meeting an outage.
        erp = FakeErp(rows=7, outage_at_call=12, outage_failures=3)
        tq = f"tq-{uuid.uuid4().hex[:8]}"
        async with Worker(env.client, task_queue=tq, workflows=[ErpImport, ErpSync], activities=erp.activities()):
            chain = await env.client.start_workflow(
                ErpImport.run,
                ErpImportInput(entity=MATERIALS, page_size=2, pages_per_run=2),
                id=import_workflow_id(MATERIALS),
                task_queue=tq,
            )
            await chain.result()
            first = env.client.get_workflow_handle(chain.id, run_id=chain.first_execution_run_id)
            recorded["erp_import_v1_continued"] = await first.fetch_history()
            recorded["erp_import_v1_done"] = await chain.fetch_history()

            sync = await env.client.start_workflow(
                ErpSync.run, ErpSyncInput(full=True, page_size=3), id="erp-backfill-v1", task_queue=tq
            )
            await sync.result()
            recorded["erp_sync_v1_full"] = await sync.fetch_history()
            recorded["erp_import_v1_outage"] = await env.client.get_workflow_handle(
                import_workflow_id(STOCK)
            ).fetch_history()

            erp.outage_at_call, erp.outage_failures = erp.page_calls + 1, 10**6
            busy = await env.client.start_workflow(
                ErpImport.run,
                ErpImportInput(entity=MATERIALS, full=True),
                id=import_workflow_id(MATERIALS),
                task_queue=tq,
            )
            for _ in range(400):
                if erp.page_calls >= erp.outage_at_call:
                    break
                await asyncio.sleep(0.05)
            waiting = await env.client.start_workflow(
                ErpSync.run, ErpSyncInput(), id="erp-sync-run-v1-busy", task_queue=tq
            )
            await env.sleep(30)
            erp.outage_failures = 0
            await busy.result()
            await waiting.result()
            recorded["erp_sync_v1_busy"] = await waiting.fetch_history()
    return recorded


async def record_erp_status() -> dict[str, WorkflowHistory]:
    """Orders that heard from the ERP: cancelled by it before picking; held on credit, released, then delivered."""
    recorded: dict[str, WorkflowHistory] = {}
    prefix = f"order_fulfillment_{ERP_STATUS_VERSION}"
    async with time_skipping_env() as env:
        fakes = Fakes()
        async with running_worker(env.client, fakes) as tq:
            order = await start_order(env.client, tq, order_input(order_id=f"{ERP_STATUS_VERSION}-erp-cancelled"))
            await until_settled(env, order, fakes)
            await order.signal(
                OrderFulfillment.erp_status, ErpStatusEvent("e1", "CANCELLED", "2027-01-12T10:05:00+00:00")
            )
            await order.result()
            recorded[f"{prefix}_erp_cancelled"] = await order.fetch_history()

            order_id = f"{ERP_STATUS_VERSION}-credit-hold"
            order = await start_order(env.client, tq, order_input(order_id=order_id))
            await until_settled(env, order, fakes)
            await order.signal(OrderFulfillment.erp_status, ErpStatusEvent("e1", "OPEN", "2027-01-12T10:00:00+00:00"))
            await order.signal(
                OrderFulfillment.erp_status, ErpStatusEvent("e2", "CREDIT_HOLD", "2027-01-12T10:05:00+00:00")
            )
            await _until_called(fakes, "warehouse.hold:1")
            await order.signal(
                OrderFulfillment.erp_status, ErpStatusEvent("e3", "RELEASED", "2027-01-12T10:09:00+00:00")
            )
            await _until_called(fakes, "warehouse.requeue:1")
            wave = await env.client.start_workflow(
                WaveRelease.run, WaveReleaseInput(wave_id="v7-hold"), id="wave-v7-hold", task_queue=tq
            )
            await wave.execute_update(WaveRelease.wait_for_status, WaitForWaveStatus(statuses=["PLANNED"]))
            await wave.execute_update(WaveRelease.release, ReleaseWave())
            pps = await until_picking(env.client, order_id)
            await _pick_open(fakes, pps, order_id)
            await pps.execute_update(PickPackShip.pack, PackScan("PACK-1", [PackItem("MUG-RED", 2)], "pia"))
            await order.result()
            await wave.result()
            recorded[f"{prefix}_credit_hold_released"] = await order.fetch_history()
    return recorded


async def record_account_notice() -> dict[str, WorkflowHistory]:
    """AccountNotice: a welcome; a reset code that met two failures of the notifications service."""
    recorded: dict[str, WorkflowHistory] = {}
    async with time_skipping_env() as env:
        async with notice_worker(env.client, FakeNotifications()) as tq:
            welcome = AccountNoticeInput(kind="welcome", recipient="bob@example.com", name="Bob", username="bob")
            handle = await env.client.start_workflow(
                AccountNotice.run, welcome, id=notice_workflow_id("welcome", "u-v1"), task_queue=tq
            )
            await handle.result()
            recorded["account_notice_v1_welcome"] = await handle.fetch_history()
        async with notice_worker(env.client, FakeNotifications(failures=2)) as tq:
            reset = AccountNoticeInput(
                kind="password_reset",
                recipient="bob@example.com",
                name="Bob",
                username="bob",
                token="recorded-code-not-a-real-one",
                expires_at="2027-01-20 10:30 UTC",
            )
            handle = await env.client.start_workflow(
                AccountNotice.run, reset, id=notice_workflow_id("password_reset", "r-v1"), task_queue=tq
            )
            await handle.result()
            recorded["account_notice_v1_reset_retried"] = await handle.fetch_history()
    return recorded


def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    recorded = asyncio.run(record_export())
    recorded.update(asyncio.run(record_accept()))
    recorded.update(asyncio.run(record_warehouse()))
    recorded.update(asyncio.run(record_erp()))
    recorded.update(asyncio.run(record_erp_status()))
    recorded.update(asyncio.run(record_account_notice()))
    for name, history in recorded.items():
        path = HISTORIES / f"{name}.json"
        if path.exists() and not name.startswith(f"order_fulfillment_{ORDER_VERSION}_"):
            continue  # an older workflow's history: kept as recorded
        path.write_text(history.to_json())
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Recorded histories replay against today's code, so a non-deterministic change fails CI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

with workflow.unsafe.imports_passed_through():
    from common.tracing import WorkerTracing
from workflows.account_notice import AccountNotice, AccountNoticeInput, AccountNoticeResult
from workflows.erp_status import PATCH_ERP_STATUS
from workflows.erp_sync import ErpImport, ErpSync
from workflows.order_fulfillment import (
    PATCH_BACKLOG_FIRST,
    PATCH_DELIVERY,
    PATCH_ERP_EXPORT,
    PATCH_ERP_EXPORT_UNDO,
    PATCH_LOCAL_ACCEPT,
    PATCH_SAGA_ENDINGS,
    PATCH_WAREHOUSE,
    OrderFulfillment,
    OrderFulfillmentInput,
    OrderFulfillmentResult,
)
from workflows.pick_pack_ship import PickPackShip
from workflows.wave_release import WaveRelease

HISTORIES = sorted((Path(__file__).parent / "histories").glob("order_fulfillment_*.json"))
WAREHOUSE_HISTORIES = sorted(
    path
    for pattern in ("pick_pack_ship_*.json", "wave_release_*.json")
    for path in (Path(__file__).parent / "histories").glob(pattern)
)
ERP_HISTORIES = sorted(
    path
    for pattern in ("erp_import_*.json", "erp_sync_*.json")
    for path in (Path(__file__).parent / "histories").glob(pattern)
)

ACCOUNT_HISTORIES = sorted((Path(__file__).parent / "histories").glob("account_notice_*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_histories_are_recorded() -> None:
    names = {path.stem.removeprefix("order_fulfillment_") for path in HISTORIES}
    # Recorded by the code before PATCH_SAGA_ENDINGS: its old paths must keep replaying.
    assert names >= {"accepted_then_cancelled", "declined", "out_of_stock", "flaky_then_cancelled"}
    # Recorded by today's code, one per way the saga can end.
    assert names >= {
        "v2_accepted_then_cancelled",
        "v2_declined",
        "v2_temporal_cancel",
        "v2_cancel_mid_step",
        "v2_undo_failed",
    }
    # Through the warehouse floor (PATCH_WAREHOUSE), and the warehouse workflows themselves.
    assert names >= {"v3_shipped", "v3_cancelled_while_picking"}
    # The backlog before AWAITING_WAVE (PATCH_BACKLOG_FIRST).
    assert names >= {"v4_shipped", "v4_cancelled_while_picking"}
    # After the dock (PATCH_DELIVERY): delivered, or the delivery failed and was undone.
    assert names >= {"v5_delivered", "v5_delivery_failed", "v5_cancelled_while_picking"}
    # The export to the ERP (PATCH_ERP_EXPORT): through an outage, refused by the ERP, cancelled while it
    # retried; and the whole way again with it.
    assert names >= {"v6_exported", "v6_erp_rejected", "v6_export_cancelled"}
    assert names >= {"v6_delivered", "v6_delivery_failed", "v6_cancelled_while_picking"}
    # Orders that heard from the ERP (PATCH_ERP_STATUS): cancelled by it; held on credit, released, delivered.
    assert names >= {"v7_erp_cancelled", "v7_credit_hold_released"}
    # The export's undo (PATCH_ERP_EXPORT_UNDO): exported then cancelled by the customer, refused by the ERP
    # (nothing created), cancelled while it retried, the undo out of attempts; and the whole way again with it.
    assert names >= {"v8_exported", "v8_erp_rejected", "v8_export_cancelled", "v8_erp_undo_failed"}
    assert names >= {"v8_delivered", "v8_delivery_failed", "v8_cancelled_while_picking"}
    # The accept path as local activities, every earlier patch given (PATCH_LOCAL_ACCEPT): its own endings
    # (declined, out of stock, the cancel update and a Temporal cancel during a local step), and the rest again.
    assert names >= {"v9_declined", "v9_out_of_stock", "v9_cancel_mid_step", "v9_temporal_cancel"}
    assert names >= {"v9_exported", "v9_erp_rejected", "v9_export_cancelled", "v9_erp_undo_failed"}
    assert names >= {"v9_delivered", "v9_delivery_failed", "v9_cancelled_while_picking"}
    assert {path.stem for path in WAREHOUSE_HISTORIES} >= {
        "pick_pack_ship_v1_shipped",
        "pick_pack_ship_v1_cancelled",
        "wave_release_v1_done",
        "wave_release_v1_empty",
    }
    # The master-data import: a run that continued as new, the chain's last run, a page through an
    # outage, a full sync, a sync kept waiting for an import another run held.
    assert {path.stem for path in ERP_HISTORIES} >= {
        "erp_import_v1_continued",
        "erp_import_v1_done",
        "erp_import_v1_outage",
        "erp_sync_v1_full",
        "erp_sync_v1_busy",
    }
    # Account notices: a welcome; a reset code through a notifications outage.
    assert {path.stem for path in ACCOUNT_HISTORIES} >= {"account_notice_v1_welcome", "account_notice_v1_reset_retried"}


def _patches(history: WorkflowHistory) -> set[str]:
    return {
        json.loads(payload.data)["id"]
        for event in history.events
        if event.marker_recorded_event_attributes.marker_name == "core_patch"
        for payload in event.marker_recorded_event_attributes.details["patch-data"].payloads
    }


#: v6 and v8 histories the ERP refused (or a cancel stopped at the export): they never reached the backlog.
STOPPED_AT_EXPORT = {"v6_erp_rejected", "v6_export_cancelled", "v8_erp_rejected", "v8_export_cancelled"}
#: Every version recorded since PATCH_SAGA_ENDINGS, and those that exported the order.
HARDENED = ("v2_", "v3_", "v4_", "v5_", "v6_", "v7_", "v8_")
EXPORTING = ("v6_", "v7_", "v8_")


def test_current_histories_carry_one_marker_and_accept_in_local_steps() -> None:
    current = [path for path in HISTORIES if path.stem.startswith("order_fulfillment_v9_")]
    assert current
    for path in current:
        history = load(path)
        # One marker stands for every earlier patch: the saga asks nothing else.
        assert _patches(history) == {PATCH_LOCAL_ACCEPT}, path.name
        scheduled = {
            event.activity_task_scheduled_event_attributes.activity_type.name
            for event in history.events
            if event.HasField("activity_task_scheduled_event_attributes")
        }
        assert not scheduled & {"orders.create", "inventory.reserve", "payments.authorize"}, path.name
        local = [e for e in history.events if e.marker_recorded_event_attributes.marker_name == "core_local_activity"]
        assert len(local) >= 2, path.name  # create and reserve at least, each recorded as a marker
    for path in HISTORIES:
        if not path.stem.startswith("order_fulfillment_v9_"):
            assert PATCH_LOCAL_ACCEPT not in _patches(load(path)), path.name


def test_new_histories_carry_the_patch_marker_and_old_ones_do_not() -> None:
    for path in HISTORIES:
        patches = _patches(load(path))
        name = path.stem.removeprefix("order_fulfillment_")
        version = name[:3]
        if version == "v9_":
            continue  # one marker for all (test_current_histories_carry_one_marker_and_accept_in_local_steps)
        past_export = name not in STOPPED_AT_EXPORT
        assert (PATCH_SAGA_ENDINGS in patches) == (version in HARDENED), path.name
        assert (PATCH_WAREHOUSE in patches) == (version in HARDENED[1:] and past_export), name
        assert (PATCH_BACKLOG_FIRST in patches) == (version in HARDENED[2:] and past_export), name
        # A history that never shipped never reached the delivery patch.
        shipped = (version in ("v5_", "v6_", "v8_") and name.endswith(("_delivered", "_delivery_failed"))) or (
            version == "v7_" and "cancelled" not in name
        )
        assert (PATCH_DELIVERY in patches) == shipped, path.name
        # Only v6 and later exported the order; the older ones never called the ERP.
        assert (PATCH_ERP_EXPORT in patches) == (version in EXPORTING), path.name
        text = path.read_text()
        assert ('"erp.create_sales_order"' in text) == (version in EXPORTING), path.name
        # Only v8 undoes the export, on every ending but the delivered one (v6 and v7 left it open).
        assert (PATCH_ERP_EXPORT_UNDO in patches) == (version == "v8_"), path.name
        undone = '"erp.cancel_sales_order"' in text
        assert undone == (version == "v8_" and not name.endswith("_delivered")), path.name
        # Only an order the ERP cancelled or held acted on its status.
        assert (PATCH_ERP_STATUS in patches) == (version == "v7_"), path.name


@pytest.mark.parametrize(
    "path", HISTORIES + WAREHOUSE_HISTORIES + ERP_HISTORIES + ACCOUNT_HISTORIES, ids=lambda p: p.stem
)
async def test_history_replays_deterministically(path: Path) -> None:
    workflows = [OrderFulfillment, PickPackShip, WaveRelease, ErpImport, ErpSync, AccountNotice]
    # With the worker's interceptor (common.tracing): it adds headers, never commands.
    await Replayer(workflows=workflows, interceptors=[WorkerTracing()]).replay_workflow(load(path))


@workflow.defn(name="AccountNotice")
class SilentAccountNotice(AccountNotice):
    """A careless edit: the message dropped."""

    @workflow.run
    async def run(self, params: AccountNoticeInput) -> AccountNoticeResult:
        return AccountNoticeResult(message_id="", status="SKIPPED")


async def test_replay_catches_a_dropped_account_notice() -> None:
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[SilentAccountNotice]).replay_workflow(load(ACCOUNT_HISTORIES[0]))


@workflow.defn(name="OrderFulfillment")
class ReorderedOrderFulfillment(OrderFulfillment):
    """A careless edit: authorize before reserving."""

    async def _accept(self, params: OrderFulfillmentInput) -> None:
        from activities.payments import AuthorizePayment, PaymentsActivities
        from workflows.order_types import AUTHORIZE_TIMEOUT

        await workflow.execute_activity_method(
            PaymentsActivities.authorize,
            AuthorizePayment(params.order_id, 1, params.currency, params.card_token),
            start_to_close_timeout=AUTHORIZE_TIMEOUT,
        )
        await super()._accept(params)

    @workflow.run
    async def run(self, params: OrderFulfillmentInput) -> OrderFulfillmentResult:
        return await super().run(params)


async def test_replay_catches_a_non_deterministic_change() -> None:
    history = load(next(p for p in HISTORIES if "declined" in p.stem))
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[ReorderedOrderFulfillment]).replay_workflow(history)


@workflow.defn(name="OrderFulfillment")
class ExportlessOrderFulfillment(OrderFulfillment):
    """A careless edit: the export dropped while the patch marker stays."""

    async def _export(self) -> None:
        return None

    @workflow.run
    async def run(self, params: OrderFulfillmentInput) -> OrderFulfillmentResult:
        return await super().run(params)


async def test_replay_catches_a_dropped_export() -> None:
    history = load(next(p for p in HISTORIES if p.stem.endswith("v6_exported")))
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[ExportlessOrderFulfillment]).replay_workflow(history)


@workflow.defn(name="OrderFulfillment")
class UndolessOrderFulfillment(OrderFulfillment):
    """A careless edit: the export's undo dropped while the patch marker stays."""

    async def _cancel_sales_order(self) -> None:
        return None

    @workflow.run
    async def run(self, params: OrderFulfillmentInput) -> OrderFulfillmentResult:
        return await super().run(params)


@pytest.mark.parametrize("ending", ["v8_exported", "v8_erp_rejected", "v8_delivery_failed", "v9_exported"])
async def test_replay_catches_a_dropped_undo(ending: str) -> None:
    history = load(next(p for p in HISTORIES if p.stem.endswith(ending)))
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[UndolessOrderFulfillment]).replay_workflow(history)


def _paklog_replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paklog", "replay", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_paklog_replay_accepts_the_recorded_histories() -> None:
    done = _paklog_replay(*map(str, HISTORIES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok") == len(HISTORIES)


def test_paklog_replay_exits_1_on_a_history_the_code_cannot_produce(tmp_path: Path) -> None:
    original = next(p for p in HISTORIES if "declined" in p.stem)
    tampered = tmp_path / "tampered.json"
    # The history claims the first step scheduled another activity than today's code does.
    tampered.write_text(original.read_text().replace('"orders.create"', '"orders.import"', 1))
    done = _paklog_replay(str(tampered))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NON-DETERMINISTIC" in done.stdout

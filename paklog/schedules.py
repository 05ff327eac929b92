"""Temporal Schedules PakLog keeps: ``wave-planner`` starts a WaveRelease, ``erp-sync`` an ErpSync, every interval."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from common.logging import get_logger
from workflows.erp_types import ERP_SCHEDULE_ID, ERP_SYNC_RUN_ID, ERP_SYNC_WORKFLOW_NAME, ErpSyncInput
from workflows.warehouse_types import WAVE_SCHEDULE_ID, WAVE_WORKFLOW_NAME, WaveReleaseInput

log = get_logger("paklog.schedules")


def wave_schedule(task_queue: str, interval_seconds: float) -> Schedule:
    """Every interval: a WaveRelease that plans from the waiting orders and releases at once.

    Each run's workflow id is ``wave-auto-<time>`` (Temporal appends the
    scheduled time), and so is the wave's id. Overlapping runs are allowed:
    the warehouse hands each waiting order to one wave only.
    """
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WAVE_WORKFLOW_NAME,
            WaveReleaseInput(wave_id="", auto_release=True),
            id="wave-auto",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=interval_seconds))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
    )


def erp_schedule(task_queue: str, interval_seconds: float) -> Schedule:
    """Every interval: an ErpSync that imports what changed in the ERP since each entity's watermark.

    Each run's workflow id is ``erp-sync-run-<time>``. A run still going when
    the next is due makes the Schedule skip that one (overlap ``SKIP``): the
    imports would only wait for each other.
    """
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ERP_SYNC_WORKFLOW_NAME, ErpSyncInput(), id=ERP_SYNC_RUN_ID, task_queue=task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=interval_seconds))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_wave_schedule(client: Client, task_queue: str, interval_seconds: float) -> None:
    """Create ``wave-planner``, or bring an existing one's interval and action up to date (paused stays paused)."""
    if interval_seconds > 0:
        await _ensure(client, WAVE_SCHEDULE_ID, wave_schedule(task_queue, interval_seconds))


async def ensure_erp_schedule(client: Client, task_queue: str, interval_seconds: float) -> None:
    """Create ``erp-sync``, or bring an existing one's interval and action up to date (paused stays paused)."""
    if interval_seconds > 0:
        await _ensure(client, ERP_SCHEDULE_ID, erp_schedule(task_queue, interval_seconds))


async def _ensure(client: Client, schedule_id: str, schedule: Schedule) -> None:
    try:
        await client.create_schedule(schedule_id, schedule)
        log.info("schedule created", schedule=schedule_id)
        return
    except ScheduleAlreadyRunningError:
        pass

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule.state = current.description.schedule.state  # keep a pause an operator set
        return ScheduleUpdate(schedule=schedule)

    await client.get_schedule_handle(schedule_id).update(update)

"""Temporal Schedules PakLog keeps: ``wave-planner`` starts a WaveRelease every interval."""

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


async def ensure_wave_schedule(client: Client, task_queue: str, interval_seconds: float) -> None:
    """Create ``wave-planner``, or bring an existing one's interval and action up to date (paused stays paused)."""
    if interval_seconds <= 0:
        return
    schedule = wave_schedule(task_queue, interval_seconds)
    try:
        await client.create_schedule(WAVE_SCHEDULE_ID, schedule)
        log.info("schedule created", schedule=WAVE_SCHEDULE_ID, every_seconds=interval_seconds)
        return
    except ScheduleAlreadyRunningError:
        pass

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule.state = current.description.schedule.state  # keep a pause an operator set
        return ScheduleUpdate(schedule=schedule)

    await client.get_schedule_handle(WAVE_SCHEDULE_ID).update(update)

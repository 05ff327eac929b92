"""WaveRelease: plan a wave from the orders waiting, allocate, release it to the floor, track it to done."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.warehouse import PlanWave, RemoveOrder, WarehouseActivities, WaveProgress, WaveRef
    from workflows.order_types import COMPENSATION_RETRY, STEP_RETRY, STEP_TIMEOUT, workflow_id
    from workflows.shielding import run_to_end
    from workflows.warehouse_types import (
        ILLEGAL_WAVE_TRANSITION,
        NOTHING_TO_PLAN,
        WAVE_WORKFLOW_NAME,
        ReleaseWave,
        RemoveOrderFromWave,
        TaskSettled,
        WaitForWaveStatus,
        WaveReleased,
        WaveReleaseInput,
        WaveState,
        WaveStatus,
    )

#: A wave re-reads its counts this often even without a signal (a lost signal never strands it).
RECHECK_INTERVAL = timedelta(minutes=5)
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]+")


def wave_id_of(params: WaveReleaseInput, workflow_id_: str) -> str:
    """The wave's id: the input's, else from the workflow id (a Schedule's run appends its time)."""
    if params.wave_id:
        return params.wave_id
    return _UNSAFE_ID.sub("", workflow_id_.removeprefix("wave-"))[-64:] or "wave"


@workflow.defn(name=WAVE_WORKFLOW_NAME)
class WaveRelease:
    """One wave, from planning to done.

    Steps: ``warehouse.plan_wave`` (waiting orders by carrier cutoff, then
    priority, then age, within the order and line limits; none waiting ends
    the run ``EMPTY``) → ``warehouse.allocate_wave`` (bins FEFO, then FIFO,
    tasks in pick-path order) → the ``release`` update, or at once with
    ``auto_release`` (the ``wave-planner`` Schedule) → ``warehouse.release_wave``
    → signal ``wave_released`` to each order's workflow (which starts its
    PickPackShip) → wait for ``task_settled`` signals, re-reading the wave's
    counts, until no task is open → ``warehouse.complete_wave`` (``DONE``).

    Update ``remove_order`` sends an order back to the backlog while the wave
    is planned; ``release`` is refused unless the wave is planned (a wave is
    never released twice). A Temporal cancel before release cancels the wave
    (its orders go back to the backlog); after release the floor finishes it.
    Query ``status``; update ``wait_for_status``.
    """

    @workflow.init
    def __init__(self, params: WaveReleaseInput) -> None:
        self._params = params
        self._wave_id = wave_id_of(params, workflow.info().workflow_id)
        self._status = WaveState.PLANNING
        self._order_ids: list[str] = []
        self._release_requested = params.auto_release
        self._settled_signals = 0
        self._progress: WaveProgress | None = None
        self._shortages = 0

    @workflow.run
    async def run(self, params: WaveReleaseInput) -> WaveStatus:
        ref = WaveRef(wave_id=self._wave_id)
        try:
            plan = await workflow.execute_activity_method(
                WarehouseActivities.plan_wave,
                PlanWave(wave_id=self._wave_id, max_orders=params.max_orders, max_lines=params.max_lines),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=STEP_RETRY,
            )
        except ActivityError as err:
            if isinstance(err.cause, ApplicationError) and err.cause.type == NOTHING_TO_PLAN:
                self._status = WaveState.EMPTY
                return self._snapshot()
            raise
        self._order_ids = list(plan.order_ids)
        try:
            allocation = await workflow.execute_activity_method(
                WarehouseActivities.allocate_wave, ref, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY
            )
            self._shortages = sum(shortage.quantity for shortage in allocation.shortages)
            self._status = WaveState.PLANNED
            await workflow.wait_condition(lambda: self._release_requested)
        except (asyncio.CancelledError, ActivityError):
            await self._cancel_wave_shielded(ref)
            raise
        await workflow.execute_activity_method(
            WarehouseActivities.release_wave, ref, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY
        )
        self._status = WaveState.RELEASED
        for order_id in self._order_ids:
            handle = workflow.get_external_workflow_handle(workflow_id(order_id))
            try:
                released = WaveReleased(wave_id=self._wave_id, workflow_id=workflow.info().workflow_id)
                await handle.signal("wave_released", released)
            except Exception:  # the order's workflow is gone (cancelled meanwhile); its tasks were returned
                workflow.logger.warning("order workflow not reachable", extra={"order_id": order_id})
        await self._track(ref)
        await workflow.execute_activity_method(
            WarehouseActivities.complete_wave, ref, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY
        )
        self._status = WaveState.DONE
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._snapshot()

    async def _track(self, ref: WaveRef) -> None:
        while True:
            seen = self._settled_signals
            self._progress = await workflow.execute_activity_method(
                WarehouseActivities.wave_progress, ref, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY
            )
            if self._progress.status == WaveState.PICKING:
                self._status = WaveState.PICKING
            if self._progress.unsettled == 0:
                return
            try:
                await workflow.wait_condition(self._settled_since(seen), timeout=RECHECK_INTERVAL)
            except TimeoutError:
                pass

    def _settled_since(self, seen: int) -> Callable[[], bool]:
        return lambda: self._settled_signals > seen

    async def _cancel_wave_shielded(self, ref: WaveRef) -> None:
        await run_to_end(
            workflow.execute_activity_method(
                WarehouseActivities.cancel_wave,
                ref,
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=COMPENSATION_RETRY,
            )
        )
        self._status = WaveState.CANCELLED

    # -- handlers ----------------------------------------------------------------------------
    def _snapshot(self) -> WaveStatus:
        progress = self._progress
        return WaveStatus(
            wave_id=self._wave_id,
            status=self._status,
            order_ids=list(self._order_ids),
            open=progress.unsettled if progress else 0,
            picked=progress.picked if progress else 0,
            short=progress.short if progress else 0,
            shortages=self._shortages,
        )

    @workflow.query
    def status(self) -> WaveStatus:
        return self._snapshot()

    @workflow.signal
    def task_settled(self, settled: TaskSettled) -> None:
        self._settled_signals += 1

    @workflow.update
    async def release(self, request: ReleaseWave) -> WaveStatus:
        self._release_requested = True
        await workflow.wait_condition(lambda: self._status != WaveState.PLANNED)
        return self._snapshot()

    @release.validator
    def _validate_release(self, request: ReleaseWave) -> None:
        if self._status != WaveState.PLANNED or self._release_requested:
            raise ApplicationError(
                f"wave {self._wave_id} is {self._status}; only a planned wave can be released",
                type=ILLEGAL_WAVE_TRANSITION,
            )

    @workflow.update
    async def remove_order(self, request: RemoveOrderFromWave) -> WaveStatus:
        plan = await workflow.execute_activity_method(
            WarehouseActivities.remove_from_wave,
            RemoveOrder(wave_id=self._wave_id, order_id=request.order_id),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY,
        )
        self._order_ids = list(plan.order_ids)
        return self._snapshot()

    @remove_order.validator
    def _validate_remove(self, request: RemoveOrderFromWave) -> None:
        if self._status != WaveState.PLANNED or self._release_requested:
            raise ApplicationError(
                f"wave {self._wave_id} is {self._status}; orders leave only a planned wave",
                type=ILLEGAL_WAVE_TRANSITION,
            )
        if request.order_id not in self._order_ids:
            raise ApplicationError(f"order {request.order_id} is not in wave {self._wave_id}", type="NotInWave")

    @workflow.update
    async def wait_for_status(self, request: WaitForWaveStatus) -> WaveStatus:
        await workflow.wait_condition(
            lambda: self._status in request.statuses or self._status in (WaveState.EMPTY, WaveState.CANCELLED)
        )
        return self._snapshot()

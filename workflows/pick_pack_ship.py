"""PickPackShip: one order's way across the warehouse floor, as a child of OrderFulfillment."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.inventory import AdjustReservation, CommitStock, ProductDimensions, SkuList, StockActivities
    from activities.notifications import NotificationsActivities, SendMessage
    from activities.orders import (
        FulfilmentActivities,
        OrdersActivities,
        RecordAlert,
        ShipOrder,
        ShippedLine,
        ShippingAddress,
        TransitionOrder,
    )
    from activities.payments import CaptureActivities, CapturePayment
    from activities.shipping import BuyLabel, ChooseCarton, Label, ShippingActivities, VoidLabel
    from activities.warehouse import ConfirmTask, OrderRef, PickTask, Reallocate, WarehouseActivities
    from common.vocabulary import OrderStatus
    from workflows.order_types import COMPENSATION_RETRY, NOTIFY_RETRY, STEP_RETRY, STEP_TIMEOUT
    from workflows.shielding import run_to_end
    from workflows.warehouse_types import (
        AFTER_ISSUE_RETRY,
        ALREADY_PACKED,
        NOT_PICKED,
        PACK_MISMATCH,
        PPS_WORKFLOW_NAME,
        QUANTITY_EXCEEDS_TASK,
        SCAN_MISMATCH,
        TASK_NOT_OPEN,
        UNKNOWN_TASK,
        OperatorRetry,
        OrderProgress,
        PackItem,
        PackResult,
        PackScan,
        PickConfirmed,
        PickPackShipInput,
        PickPackShipResult,
        PickPackShipStatus,
        PickScan,
        TaskSettled,
        wave_workflow_id,
    )

T = TypeVar("T")

OPEN_STATUSES = frozenset({"OPEN", "ASSIGNED"})
STATION_PATTERN = re.compile(r"^PACK-[0-9]{1,3}$")
LABEL_TIMEOUT_SECONDS = 30


class PickPackShipStage:
    PICKING = "PICKING"
    PACKED = "PACKED"
    SHIPPING = "SHIPPING"
    SHIPPED = "SHIPPED"
    CANCELLED = "CANCELLED"


def _summary(counter: Counter[str]) -> str:
    return ", ".join(f"{sku} x{quantity}" for sku, quantity in sorted(counter.items()) if quantity > 0)


@workflow.defn(name=PPS_WORKFLOW_NAME)
class PickPackShip:
    """Pick an order's tasks, pack it, buy its label, issue the goods, capture and ship.

    Started by OrderFulfillment when the order's wave is released
    (``pps-<order_id>``). Scanners confirm picks with the ``confirm_pick``
    update; a short pick writes the missing units off (bin and reservation),
    reserves replacements and finds them in another bin, or short-ships the
    line. The packer's ``pack`` update checks the scanned items against what
    was picked: extra items are refused (the refusal names them), missing
    items go back to picking. Then: carton, order ``PACKED``, label (rate
    shopping and failover in ``shipping``), goods issue, capture of what
    ships, order ``SHIPPED``, the customer notified.

    Before goods issue, a cancel (the parent's, or a Temporal cancel)
    undoes newest-first: void the label, return the picks to their bins;
    the parent then undoes its own steps. After goods issue nothing is undone:
    the remaining steps retry transient errors for as long as it takes, and a
    rejection raises an alert on the order and waits for the operator's
    ``retry`` update.
    """

    @workflow.init
    def __init__(self, params: PickPackShipInput) -> None:
        self._params = params
        self._address: ShippingAddress = params.shipping_address
        self._stage = PickPackShipStage.PICKING
        self._tasks: dict[str, PickTask] = {}
        self._loaded = False
        self._busy = 0  # update handlers still working on the floor
        self._picking_reported = False
        self._short_shipped: Counter[str] = Counter()
        self._pack_attempts = 0
        self._packed = False
        self._carton: str | None = None
        #: Weight (g) and volume (cm³) of what ships, measured once at packing (carton and label).
        self._parcel = (0, 0)
        self._label: Label | None = None
        self._issued = False
        self._compensations: list[tuple[str, Callable[[], Awaitable[object]]]] = []
        self._compensated: list[str] = []
        self._needs_operator: str | None = None
        self._operator_retry = False
        self._captured_cents = 0

    # -- the process -----------------------------------------------------------------
    @workflow.run
    async def run(self, params: PickPackShipInput) -> PickPackShipResult:
        try:
            self._compensations.append(("warehouse.return_picks", self._return_picks))
            tasks = await workflow.execute_activity_method(
                WarehouseActivities.order_tasks,
                OrderRef(order_id=params.order_id),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=STEP_RETRY,
            )
            self._tasks = {task.task_id: task for task in tasks if task.status != "CANCELLED"}
            self._loaded = True
            await self._short_ship_unallocated()
            # Packed, or every unit short: nothing left to pick and nothing to ship.
            await workflow.wait_condition(lambda: self._packed or (not self._busy and not self._shipped_lines()))
            if not self._packed:
                raise ApplicationError("no unit of this order could be found", type="OutOfStock", non_retryable=True)
            await self._buy_label()
        except (asyncio.CancelledError, ActivityError, ApplicationError) as err:
            await self._compensate_shielded()
            await workflow.wait_condition(workflow.all_handlers_finished)
            if isinstance(err, asyncio.CancelledError) or is_cancelled_exception(err):
                raise asyncio.CancelledError("pick-pack-ship cancelled; its steps were undone") from None
            raise
        # Past this point the goods leave: a cancel is not obeyed, every step finishes.
        result, cancelled = await run_to_end(self._ship())
        if cancelled:
            workflow.logger.warning("cancel ignored: the goods are issued")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    async def _short_ship_unallocated(self) -> None:
        """Units no bin had when the wave was allocated are short-shipped at once."""
        allocated: Counter[str] = Counter()
        for task in self._tasks.values():
            allocated[task.sku] += task.quantity
        for sku, ordered in sorted(self._ordered().items()):
            missing = ordered - allocated[sku]
            if missing > 0:
                await self._stock_step(
                    StockActivities.release_units,
                    AdjustReservation(order_id=self._params.order_id, sku=sku, quantity=missing, ref=f"alloc-{sku}"),
                )
                self._short_shipped[sku] += missing

    async def _buy_label(self) -> None:
        params = self._params
        weight, volume = self._parcel
        self._compensations.append(("shipping.void_label", self._void_label))
        self._label = await workflow.execute_activity_method(
            ShippingActivities.buy_label,
            BuyLabel(
                order_id=params.order_id,
                carton=self._carton or "",
                weight_grams=weight,
                volume_cm3=volume,
                service_level=params.service_level,
                destination=self._address,
            ),
            start_to_close_timeout=STEP_TIMEOUT * 3,
            retry_policy=STEP_RETRY,
        )
        self._stage = PickPackShipStage.SHIPPING

    async def _ship(self) -> PickPackShipResult:
        params = self._params
        assert self._label is not None
        await self._must_finish(
            "inventory.commit",
            lambda: workflow.execute_activity_method(
                StockActivities.commit,
                CommitStock(order_id=params.order_id),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=AFTER_ISSUE_RETRY,
            ),
        )
        self._issued = True
        self._compensations.clear()
        await self._report(OrderProgress(status=OrderStatus.PACKED.value, goods_issued=True))
        await self._must_finish(
            "warehouse.issue",
            lambda: workflow.execute_activity_method(
                WarehouseActivities.issue,
                OrderRef(order_id=params.order_id),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=AFTER_ISSUE_RETRY,
            ),
        )
        amount = self._shipped_value()
        payment = await self._must_finish(
            "payments.capture",
            lambda: workflow.execute_activity_method(
                CaptureActivities.capture,
                CapturePayment(order_id=params.order_id, amount_cents=amount),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=AFTER_ISSUE_RETRY,
            ),
        )
        self._captured_cents = amount if payment.status else 0
        label = self._label
        shipped = self._shipped_lines()
        await self._must_finish(
            "orders.ship",
            lambda: workflow.execute_activity_method(
                FulfilmentActivities.ship,
                ShipOrder(
                    order_id=params.order_id,
                    tracking_code=label.tracking_code,
                    carrier=label.carrier,
                    shipped_lines=[ShippedLine(sku=line.sku, quantity=line.quantity) for line in shipped],
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=AFTER_ISSUE_RETRY,
            ),
        )
        self._stage = PickPackShipStage.SHIPPED
        await self._report(
            OrderProgress(
                status=OrderStatus.SHIPPED.value,
                tracking_code=label.tracking_code,
                carrier=label.carrier,
                shipped_lines=shipped,
                goods_issued=True,
            )
        )
        await self._notify(
            "order_shipped",
            {"tracking_code": label.tracking_code, "carrier": label.carrier},
        )
        return PickPackShipResult(
            order_id=params.order_id,
            status=PickPackShipStage.SHIPPED,
            tracking_code=label.tracking_code,
            carrier=label.carrier,
            shipped_lines=shipped,
            captured_cents=self._captured_cents,
        )

    async def _must_finish(self, step: str, run: Callable[[], Awaitable[T]]) -> T:
        """A step after goods issue: a rejection waits for an operator instead of ending half-done."""
        while True:
            try:
                return await run()
            except ActivityError as err:
                cause = err.cause
                detail = f"{getattr(cause, 'type', None) or type(cause).__name__}: {cause or err}"[:500]
                self._needs_operator = f"{step}: {detail}"
                workflow.upsert_memo({"needs_operator": self._needs_operator})
                workflow.logger.error("step after goods issue failed; waiting for an operator", extra={"step": step})
                try:
                    await workflow.execute_activity_method(
                        OrdersActivities.record_alert,
                        RecordAlert(order_id=self._params.order_id, kind="NEEDS_OPERATOR", step=step, detail=detail),
                        start_to_close_timeout=STEP_TIMEOUT,
                        retry_policy=NOTIFY_RETRY,
                    )
                except ActivityError:
                    workflow.logger.error("could not record the alert on the order", extra={"step": step})
                self._operator_retry = False
                await workflow.wait_condition(lambda: self._operator_retry)
                self._needs_operator = None
                workflow.upsert_memo({"needs_operator": None})

    # -- compensation ----------------------------------------------------------------------
    async def _compensate_shielded(self) -> None:
        await run_to_end(self._compensate())

    async def _compensate(self) -> None:
        for name, undo in reversed(self._compensations):
            try:
                await undo()
            except ActivityError:
                workflow.logger.error("compensation failed; operators must settle it", extra={"step": name})
                continue
            self._compensated.append(name)
        self._compensations.clear()
        self._stage = PickPackShipStage.CANCELLED

    async def _return_picks(self) -> None:
        await workflow.execute_activity_method(
            WarehouseActivities.return_picks,
            OrderRef(order_id=self._params.order_id),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=COMPENSATION_RETRY,
        )
        cancelled = [task for task in self._tasks.values() if task.status in OPEN_STATUSES]
        self._tasks = {
            task_id: task if task.status not in OPEN_STATUSES else replace(task, status="CANCELLED")
            for task_id, task in self._tasks.items()
        }
        if cancelled:
            # The wave stops waiting for them now rather than at its next periodic re-read.
            await self._tell_wave(replace(cancelled[0], status="CANCELLED"))

    async def _void_label(self) -> None:
        await workflow.execute_activity_method(
            ShippingActivities.void_label,
            VoidLabel(order_id=self._params.order_id),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=COMPENSATION_RETRY,
        )

    # -- helpers -------------------------------------------------------------------------
    def _ordered(self) -> Counter[str]:
        ordered: Counter[str] = Counter()
        for line in self._params.lines:
            ordered[line.sku] += line.quantity
        return ordered

    def _picked(self) -> Counter[str]:
        picked: Counter[str] = Counter()
        for task in self._tasks.values():
            if task.status in ("PICKED", "SHORT"):
                picked[task.sku] += task.picked_quantity
        return picked

    def _open_tasks(self) -> list[PickTask]:
        return [task for task in self._tasks.values() if task.status in OPEN_STATUSES]

    def _shipped_lines(self) -> list[PackItem]:
        ordered = self._ordered()
        return [
            PackItem(sku=sku, quantity=ordered[sku] - self._short_shipped[sku])
            for sku in sorted(ordered)
            if ordered[sku] - self._short_shipped[sku] > 0
        ]

    def _shipped_value(self) -> int:
        """What ships, at the order's prices; a short line is charged for what ships."""
        remaining_short = Counter(self._short_shipped)
        total = 0
        for line in self._params.lines:
            short = min(line.quantity, remaining_short[line.sku])
            remaining_short[line.sku] -= short
            total += (line.quantity - short) * line.unit_price_cents
        return total

    async def _measure(self) -> tuple[int, int]:
        shipped = self._shipped_lines()
        dimensions: list[ProductDimensions] = await workflow.execute_activity_method(
            StockActivities.dimensions,
            SkuList(skus=[line.sku for line in shipped]),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY,
        )
        by_sku = {d.sku: d for d in dimensions}
        weight = sum(by_sku[line.sku].weight_grams * line.quantity for line in shipped if line.sku in by_sku)
        volume = sum(by_sku[line.sku].volume_cm3 * line.quantity for line in shipped if line.sku in by_sku)
        return weight, volume

    async def _stock_step(self, activity: Callable[..., Any], params: AdjustReservation) -> Any:
        return await workflow.execute_activity_method(
            activity, params, start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY
        )

    async def _report(self, progress: OrderProgress) -> None:
        """Tell the parent OrderFulfillment that the order moved on (its status query follows)."""
        parent = workflow.info().parent
        if parent is None:
            return
        handle = workflow.get_external_workflow_handle(parent.workflow_id)
        try:
            await handle.signal("progress", progress)
        except Exception:  # the parent is gone; the orders service has the truth
            workflow.logger.warning("could not tell the parent", extra={"status": progress.status})

    async def _tell_wave(self, task: PickTask) -> None:
        handle = workflow.get_external_workflow_handle(self._params.wave_workflow_id or wave_workflow_id(task.wave_id))
        try:
            await handle.signal(
                "task_settled", TaskSettled(task_id=task.task_id, order_id=task.order_id, status=task.status)
            )
        except Exception:  # a wave no longer tracked re-reads its counts on its own timer
            workflow.logger.warning("could not tell the wave", extra={"wave_id": task.wave_id})

    async def _transition(self, status: OrderStatus) -> None:
        await workflow.execute_activity_method(
            OrdersActivities.transition,
            TransitionOrder(order_id=self._params.order_id, status=status.value),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY,
        )
        await self._report(OrderProgress(status=status.value))

    async def _notify(self, template: str, extra: dict[str, Any]) -> None:
        params = self._params
        context: dict[str, Any] = {
            "order_id": params.order_id,
            "name": self._address.name,
            "currency": params.currency,
            "lines": [{"sku": line.sku, "quantity": line.quantity} for line in self._shipped_lines()],
            **extra,
        }
        try:
            await workflow.execute_activity_method(
                NotificationsActivities.send,
                SendMessage(
                    template=template, recipient=params.customer_email, order_id=params.order_id, context=context
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=NOTIFY_RETRY,
            )
        except ActivityError:
            workflow.logger.warning("notification failed", extra={"template": template})

    # -- short picks -------------------------------------------------------------------------
    async def _handle_short(self, task: PickTask, missing: int) -> list[str]:
        """Write the missing units off, reserve and find replacements, or short-ship them."""
        order_id = self._params.order_id
        adjust = AdjustReservation(order_id=order_id, sku=task.sku, quantity=missing, ref=task.task_id)
        await self._stock_step(StockActivities.write_off, adjust)
        try:
            await self._stock_step(StockActivities.top_up, adjust)
        except ActivityError as err:
            if not (isinstance(err.cause, ApplicationError) and err.cause.type == "OutOfStock"):
                raise
            self._short_shipped[task.sku] += missing
            return []
        found = await workflow.execute_activity_method(
            WarehouseActivities.reallocate,
            Reallocate(order_id=order_id, sku=task.sku, quantity=missing, ref=task.task_id),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=STEP_RETRY,
        )
        for new_task in found.tasks:
            self._tasks[new_task.task_id] = new_task
        if found.unallocated > 0:
            await self._stock_step(StockActivities.release_units, replace(adjust, quantity=found.unallocated))
            self._short_shipped[task.sku] += found.unallocated
        return [new_task.task_id for new_task in found.tasks]

    # -- updates and queries -----------------------------------------------------------------
    @workflow.update
    async def confirm_pick(self, scan: PickScan) -> PickConfirmed:
        self._busy += 1
        try:
            await workflow.wait_condition(lambda: self._loaded)
            self._check_pick(scan)  # again: the validator may have run before the tasks were loaded
            if not self._picking_reported:
                self._picking_reported = True
                await self._transition(OrderStatus.PICKING)
            confirmed = await workflow.execute_activity_method(
                WarehouseActivities.confirm_task,
                ConfirmTask(
                    task_id=scan.task_id,
                    location=scan.location,
                    sku=scan.sku,
                    lot=scan.lot,
                    quantity=scan.quantity,
                    picker=scan.picker,
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=STEP_RETRY,
            )
            task = confirmed.task
            self._tasks[task.task_id] = task
            new_tasks: list[str] = []
            if confirmed.short_quantity > 0:
                new_tasks = await self._handle_short(task, confirmed.short_quantity)
            await self._tell_wave(task)
            return PickConfirmed(
                task_id=task.task_id,
                status=task.status,
                picked_quantity=task.picked_quantity,
                short_quantity=confirmed.short_quantity,
                new_task_ids=new_tasks,
            )
        finally:
            self._busy -= 1

    @confirm_pick.validator
    def _validate_pick(self, scan: PickScan) -> None:
        if self._loaded:
            self._check_pick(scan)

    def _check_pick(self, scan: PickScan) -> None:
        """Refuse a scan that does not match an open task of this order (nothing changes)."""
        task = self._tasks.get(scan.task_id)
        if task is None:
            raise ApplicationError(f"task {scan.task_id} is not a task of this order", type=UNKNOWN_TASK)
        if task.status not in OPEN_STATUSES or self._stage != PickPackShipStage.PICKING:
            raise ApplicationError(f"task {scan.task_id} is {task.status}, not open", type=TASK_NOT_OPEN)
        wrong = [
            f"{what} {scanned!r} (expected {expected!r})"
            for what, scanned, expected in (
                ("location", scan.location, task.location),
                ("SKU", scan.sku, task.sku),
                ("lot", scan.lot, task.lot),
            )
            if scanned != expected
        ]
        if wrong:
            raise ApplicationError("wrong " + ", ".join(wrong), type=SCAN_MISMATCH)
        if scan.quantity < 0 or scan.quantity > task.quantity:
            raise ApplicationError(
                f"quantity {scan.quantity} is outside 0..{task.quantity} for task {scan.task_id}",
                type=QUANTITY_EXCEEDS_TASK,
            )

    @workflow.update
    async def pack(self, scan: PackScan) -> PackResult:
        await workflow.wait_condition(lambda: self._loaded)
        self._check_pack(scan)
        self._busy += 1
        try:
            self._pack_attempts += 1
            scanned: Counter[str] = Counter()
            for item in scan.items:
                scanned[item.sku] += item.quantity
            missing = self._picked() - scanned
            if missing:
                for sku, quantity in sorted(missing.items()):
                    found = await workflow.execute_activity_method(
                        WarehouseActivities.repick,
                        Reallocate(
                            order_id=self._params.order_id,
                            sku=sku,
                            quantity=quantity,
                            ref=f"{self._pack_attempts}-{sku}",
                        ),
                        start_to_close_timeout=STEP_TIMEOUT,
                        retry_policy=STEP_RETRY,
                    )
                    # The picked tasks gave the missing units back to new open tasks.
                    refreshed = await workflow.execute_activity_method(
                        WarehouseActivities.order_tasks,
                        OrderRef(order_id=self._params.order_id),
                        start_to_close_timeout=STEP_TIMEOUT,
                        retry_policy=STEP_RETRY,
                    )
                    self._tasks = {t.task_id: t for t in refreshed if t.status != "CANCELLED"}
                    for new_task in found.tasks:
                        self._tasks[new_task.task_id] = new_task
                return PackResult(
                    order_id=self._params.order_id,
                    status="SENT_BACK_TO_PICKING",
                    missing=[PackItem(sku=sku, quantity=q) for sku, q in sorted(missing.items())],
                )
            weight, volume = self._parcel = await self._measure()
            carton = await workflow.execute_activity_method(
                ShippingActivities.choose_carton,
                ChooseCarton(weight_grams=weight, volume_cm3=volume),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=STEP_RETRY,
            )
            self._carton = carton.code
            await self._transition(OrderStatus.PACKED)
            if self._short_shipped:
                ordered = self._ordered()
                short = [
                    {"sku": sku, "ordered": ordered[sku], "shipped": ordered[sku] - quantity}
                    for sku, quantity in sorted(self._short_shipped.items())
                ]
                await self._notify("order_short_shipped", {**short[0], "short_lines": short})
            self._stage = PickPackShipStage.PACKED
            self._packed = True
            return PackResult(order_id=self._params.order_id, status="PACKED", carton=carton.code)
        finally:
            self._busy -= 1

    @pack.validator
    def _validate_pack(self, scan: PackScan) -> None:
        # Before the tasks are loaded (a validator can run ahead of the history's activity
        # results when the workflow is not cached) the handler checks once they are.
        if self._loaded:
            self._check_pack(scan)

    def _check_pack(self, scan: PackScan) -> None:
        """Refuse a scan of items that were not picked, or an order not picked yet (nothing changes)."""
        if self._packed or self._stage != PickPackShipStage.PICKING:
            raise ApplicationError(f"order {self._params.order_id} is already packed", type=ALREADY_PACKED)
        if not STATION_PATTERN.match(scan.station):
            raise ApplicationError(f"unknown pack station {scan.station!r}", type=PACK_MISMATCH)
        if self._busy or self._open_tasks():
            open_ids = ", ".join(sorted(task.task_id for task in self._open_tasks())) or "in progress"
            raise ApplicationError(f"order {self._params.order_id} is not picked yet ({open_ids})", type=NOT_PICKED)
        scanned: Counter[str] = Counter()
        for item in scan.items:
            if item.quantity < 0:
                raise ApplicationError(f"negative quantity for {item.sku}", type=PACK_MISMATCH)
            scanned[item.sku] += item.quantity
        extra = scanned - self._picked()
        if extra:
            raise ApplicationError(f"not picked for this order: {_summary(extra)}", type=PACK_MISMATCH)

    @workflow.update
    async def retry(self, request: OperatorRetry) -> PickPackShipStatus:
        workflow.logger.info("operator retries the waiting step", extra={"by": request.requested_by})
        self._operator_retry = True
        self._needs_operator = None
        return self._snapshot()

    @retry.validator
    def _validate_retry(self, request: OperatorRetry) -> None:
        if self._needs_operator is None:
            raise ApplicationError("nothing is waiting for an operator", type="NothingToRetry")

    @workflow.signal
    def address_changed(self, address: ShippingAddress) -> None:
        if self._label is None:
            self._address = address

    def _snapshot(self) -> PickPackShipStatus:
        statuses = Counter(task.status for task in self._tasks.values())
        label = self._label
        return PickPackShipStatus(
            order_id=self._params.order_id,
            wave_id=self._params.wave_id,
            status=self._stage,
            tasks_open=statuses["OPEN"] + statuses["ASSIGNED"],
            tasks_picked=statuses["PICKED"],
            tasks_short=statuses["SHORT"],
            carton=self._carton,
            tracking_code=label.tracking_code if label else None,
            carrier=label.carrier if label else None,
            shipped_lines=self._shipped_lines(),
            needs_operator=self._needs_operator,
        )

    @workflow.query
    def status(self) -> PickPackShipStatus:
        return self._snapshot()

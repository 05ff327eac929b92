"""Fake activities under the real names, recording what the workflow asked for."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.delivery import (
    NoticesSent,
    RefundPayment,
    ReturnState,
    ReturnStock,
    Subscribe,
)
from activities.erp_orders import CreateSalesOrder, SalesOrderCancelled, SalesOrderCreated
from activities.inventory import (
    AdjustReservation,
    CommitStock,
    ProductDimensions,
    ReleaseStock,
    ReservationState,
    ReserveStock,
    SkuList,
)
from activities.notifications import MessageSent, SendMessage
from activities.orders import (
    AlertRecorded,
    CancelOrder,
    ChangeAddress,
    CreateOrder,
    OrderState,
    RecordAlert,
    ShipOrder,
    TransitionOrder,
)
from activities.payments import AuthorizePayment, CapturePayment, PaymentState, VoidPayment
from activities.shipping import BuyLabel, Carton, ChooseCarton, Label, ShipmentState, VoidLabel
from activities.warehouse import (
    BacklogState,
    ConfirmTask,
    EnqueueOrder,
    HoldOrder,
    IssueState,
    OrderRef,
    PickTask,
    PlanWave,
    Reallocate,
    Reallocated,
    RemoveOrder,
    Shortage,
    TaskConfirmed,
    WaveAllocation,
    WavePlan,
    WaveProgress,
    WaveRef,
)
from workflows.order_fulfillment import (
    OrderFulfillment,
    OrderFulfillmentInput,
    OrderLine,
    OrderSnapshot,
    ShippingAddress,
    workflow_id,
)
from workflows.order_types import DeliveryEvent
from workflows.pick_pack_ship import PickPackShip
from workflows.warehouse_types import pps_workflow_id
from workflows.wave_release import WaveRelease

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"
EXPORT = "erp.create_sales_order"
ERP_UNDO = "erp.cancel_sales_order"
#: The ERP's "no" to an order: no sales order exists, so its undo finds nothing to cancel.
ERP_REFUSALS = frozenset({"CustomerBlocked", "UnknownMaterial"})


@dataclass
class Fakes:
    """Scripted service behaviour; ``calls`` is the activity names in the order they ran."""

    out_of_stock: bool = False
    card: str = "tok_visa"
    calls: list[str] = field(default_factory=list)
    authorize_attempts: int = 0
    messages: list[str] = field(default_factory=list)
    cancel_reasons: list[str] = field(default_factory=list)
    cancel_requesters: list[str | None] = field(default_factory=list)
    alerts: list[RecordAlert] = field(default_factory=list)
    #: activity name -> error type it fails with (a 4xx the service would answer), every attempt.
    rejects: dict[str, str] = field(default_factory=dict)
    #: activity name -> how many first attempts are rejected (default: all).
    reject_attempts: dict[str, int] = field(default_factory=dict)
    #: activity name -> how many first attempts fail with a transient error.
    transient_failures: dict[str, int] = field(default_factory=dict)
    #: activity names that fail transiently on every attempt (an outage).
    down: set[str] = field(default_factory=set)
    #: activity names that hold until ``release`` is set (a step in flight).
    hold: set[str] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    attempts: dict[str, int] = field(default_factory=dict)
    #: The warehouse floor, in memory: see :class:`FakeFloor`.
    floor: FakeFloor = field(default_factory=lambda: FakeFloor())
    #: The carrier delivers at once: subscribing the customer (right after ``SHIPPED``)
    #: signals a ``DELIVERED`` event to the order. Off, a test sends the events itself.
    auto_deliver: bool = True
    #: Tracking notices sent: (status, event id) per subscriber notice activity.
    notices: list[tuple[str, str]] = field(default_factory=list)
    #: The ERP: order id -> its sales order number (one per order, whatever the retries).
    erp_orders: dict[str, str] = field(default_factory=dict)
    #: Every answer of the export (a late one too), the order ids whose sales order is ``CANCELLED``,
    #: and every answer of the export's undo.
    erp_exports: list[SalesOrderCreated] = field(default_factory=list)
    erp_cancelled: set[str] = field(default_factory=set)
    erp_undone: list[SalesOrderCancelled] = field(default_factory=list)
    #: Every ``orders.transition`` asked for, with what it carried.
    transitions: list[TransitionOrder] = field(default_factory=list)

    async def _behave(self, name: str, *, undo: bool = False) -> None:
        """Apply the scripted behaviour of ``name`` for this attempt."""
        self.attempts[name] = self.attempts.get(name, 0) + 1
        if name in self.hold:
            await self.release.wait()
        if name in self.down or self.attempts[name] <= self.transient_failures.get(name, 0):
            raise RuntimeError(f"{name}: service unavailable (503)")
        if name in self.rejects and self.attempts[name] <= self.reject_attempts.get(name, 1 << 30):
            # Undo activities leave retrying to the workflow's compensation policy.
            raise ApplicationError(f"{name} rejected", type=self.rejects[name], non_retryable=not undo)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="orders.create")
        async def create(params: CreateOrder) -> OrderState:
            self.calls.append("orders.create")
            return OrderState(order_id=params.order_id, status="PENDING")

        @activity.defn(name="orders.transition")
        async def transition(params: TransitionOrder) -> OrderState:
            self.calls.append(f"orders.transition:{params.status}")
            self.transitions.append(params)
            return OrderState(order_id=params.order_id, status=params.status)

        @activity.defn(name=EXPORT)
        async def create_sales_order(params: CreateSalesOrder) -> SalesOrderCreated:
            self.calls.append(EXPORT)
            await self._behave(EXPORT)
            created = params.order_id not in self.erp_orders
            number = self.erp_orders.setdefault(params.order_id, f"{500001 + len(self.erp_orders):010d}")
            answer = SalesOrderCreated(order_id=params.order_id, document_number=number, created=created)
            self.erp_exports.append(answer)
            return answer

        @activity.defn(name=ERP_UNDO)
        async def cancel_sales_order(params: CreateSalesOrder) -> SalesOrderCancelled:
            # As the ERP answers the undo's re-post: the sales order made before, else the export's
            # rejection again, else one made now; then it is cancelled (once).
            self.calls.append(ERP_UNDO)
            await self._behave(ERP_UNDO, undo=True)
            refused = self.rejects.get(EXPORT)
            if params.order_id not in self.erp_orders and refused is not None:
                if refused not in ERP_REFUSALS:
                    raise ApplicationError(f"{ERP_UNDO} rejected", type=refused, non_retryable=False)
                undone = SalesOrderCancelled(order_id=params.order_id, document_number=None, outcome="never_created")
            else:
                number = self.erp_orders.setdefault(params.order_id, f"{500001 + len(self.erp_orders):010d}")
                outcome = "already_cancelled" if params.order_id in self.erp_cancelled else "cancelled"
                self.erp_cancelled.add(params.order_id)
                undone = SalesOrderCancelled(order_id=params.order_id, document_number=number, outcome=outcome)
            self.erp_undone.append(undone)
            return undone

        @activity.defn(name="orders.cancel")
        async def cancel(params: CancelOrder) -> OrderState:
            self.calls.append("orders.cancel")
            await self._behave("orders.cancel", undo=True)
            self.cancel_reasons.append(params.reason)
            self.cancel_requesters.append(params.requested_by)
            return OrderState(order_id=params.order_id, status="CANCELLED", cancel_reason=params.reason)

        @activity.defn(name="inventory.reserve")
        async def reserve(params: ReserveStock) -> ReservationState:
            self.calls.append("inventory.reserve")
            await self._behave("inventory.reserve")
            if self.out_of_stock:
                raise ApplicationError("not enough MUG-RED", type="OutOfStock", non_retryable=True)
            return ReservationState(order_id=params.order_id, status="ACTIVE")

        @activity.defn(name="inventory.release")
        async def release(params: ReleaseStock) -> ReservationState:
            self.calls.append("inventory.release")
            await self._behave("inventory.release", undo=True)
            return ReservationState(order_id=params.order_id, status="RELEASED")

        @activity.defn(name="payments.authorize")
        async def authorize(params: AuthorizePayment) -> PaymentState:
            self.calls.append("payments.authorize")
            self.authorize_attempts += 1
            await self._behave("payments.authorize")
            if params.card_token == "tok_declined":
                raise ApplicationError("card declined", type="PaymentDeclined", non_retryable=True)
            if params.card_token == "tok_flaky" and activity.info().attempt <= 2:
                raise RuntimeError("processor unavailable (503)")
            return PaymentState(order_id=params.order_id, status="AUTHORIZED", payment_id="p1")

        @activity.defn(name="payments.void")
        async def void(params: VoidPayment) -> PaymentState:
            self.calls.append("payments.void")
            await self._behave("payments.void", undo=True)
            return PaymentState(order_id=params.order_id, status="VOIDED", payment_id="p1")

        @activity.defn(name="notifications.send")
        async def send(params: SendMessage) -> MessageSent:
            self.calls.append(f"notifications.send:{params.template}")
            self.messages.append(params.template)
            return MessageSent(message_id=uuid.uuid4().hex, status="SENT")

        @activity.defn(name="orders.record_alert")
        async def record_alert(params: RecordAlert) -> AlertRecorded:
            self.calls.append(f"orders.record_alert:{params.step}")
            self.alerts.append(params)
            return AlertRecorded(order_id=params.order_id, kind=params.kind, step=params.step)

        return [
            create,
            transition,
            create_sales_order,
            cancel_sales_order,
            cancel,
            record_alert,
            reserve,
            release,
            authorize,
            void,
            send,
            *self.floor_activities(),
            *self.hold_activities(),
        ]

    def hold_activities(self) -> list[Callable[..., Any]]:
        """The backlog's credit holds (OrderFulfillment's ``erp_status``): a held order is planned into no wave."""
        floor = self.floor

        @activity.defn(name="warehouse.hold")
        async def hold(params: HoldOrder) -> BacklogState:
            self.calls.append(f"warehouse.hold:{params.hold}")
            await self._behave("warehouse.hold")
            if params.order_id in floor.released_orders:
                return BacklogState(order_id=params.order_id, status="RELEASED")
            if params.order_id not in floor.backlog:
                return BacklogState(order_id=params.order_id, status="WITHDRAWN")
            floor.held.add(params.order_id)
            return BacklogState(order_id=params.order_id, status="HELD")

        @activity.defn(name="warehouse.requeue")
        async def requeue(params: HoldOrder) -> BacklogState:
            self.calls.append(f"warehouse.requeue:{params.hold}")
            await self._behave("warehouse.requeue")
            if params.order_id not in floor.backlog:
                return BacklogState(order_id=params.order_id, status="WITHDRAWN")
            floor.held.discard(params.order_id)
            return BacklogState(order_id=params.order_id, status="WAITING")

        return [hold, requeue]

    def floor_activities(self) -> list[Callable[..., Any]]:
        floor = self.floor

        def record(name: str) -> None:
            self.calls.append(name)

        @activity.defn(name="warehouse.enqueue")
        async def enqueue(params: EnqueueOrder) -> BacklogState:
            record("warehouse.enqueue")
            await self._behave("warehouse.enqueue")
            floor.backlog.setdefault(params.order_id, params)
            return BacklogState(order_id=params.order_id, status="WAITING")

        @activity.defn(name="warehouse.withdraw")
        async def withdraw(params: OrderRef) -> BacklogState:
            record("warehouse.withdraw")
            await self._behave("warehouse.withdraw", undo=True)
            floor.backlog.pop(params.order_id, None)
            if params.order_id in floor.released_orders:
                return BacklogState(order_id=params.order_id, status="RELEASED")
            return BacklogState(order_id=params.order_id, status="WITHDRAWN")

        @activity.defn(name="warehouse.plan_wave")
        async def plan_wave(params: PlanWave) -> WavePlan:
            record("warehouse.plan_wave")
            if params.wave_id in floor.waves:
                return WavePlan(wave_id=params.wave_id, status="PLANNED", order_ids=floor.waves[params.wave_id])
            waiting = [o for o in floor.backlog.values() if o.order_id not in floor.planned | floor.held]
            waiting.sort(key=lambda o: (o.service_level != "EXPRESS", -o.priority, o.placed_at))
            chosen = [o.order_id for o in waiting[: params.max_orders]]
            if not chosen:
                raise ApplicationError("nothing waits", type="NothingToPlan", non_retryable=True)
            floor.waves[params.wave_id] = chosen
            floor.planned.update(chosen)
            return WavePlan(wave_id=params.wave_id, status="PLANNED", order_ids=chosen)

        @activity.defn(name="warehouse.allocate_wave")
        async def allocate_wave(params: WaveRef) -> WaveAllocation:
            record("warehouse.allocate_wave")
            shortages: list[Shortage] = []
            for order_id in floor.waves[params.wave_id]:
                if any(t.order_id == order_id for t in floor.tasks.values()):
                    continue
                for line in floor.backlog[order_id].lines:
                    quantity = line.quantity - floor.unallocated.get(line.sku, 0)
                    if quantity < line.quantity:
                        shortages.append(Shortage(order_id, line.sku, line.quantity - quantity))
                    if quantity > 0:
                        floor.add_task(params.wave_id, order_id, line.sku, quantity)
            tasks = sorted((t for t in floor.tasks.values() if t.wave_id == params.wave_id), key=lambda t: t.pick_seq)
            return WaveAllocation(wave_id=params.wave_id, tasks=tasks, shortages=shortages)

        @activity.defn(name="warehouse.release_wave")
        async def release_wave(params: WaveRef) -> WavePlan:
            record("warehouse.release_wave")
            floor.released_orders.update(floor.waves[params.wave_id])
            return WavePlan(wave_id=params.wave_id, status="RELEASED", order_ids=floor.waves[params.wave_id])

        @activity.defn(name="warehouse.remove_from_wave")
        async def remove_from_wave(params: RemoveOrder) -> WavePlan:
            record(f"warehouse.remove_from_wave:{params.order_id}")
            floor.waves[params.wave_id].remove(params.order_id)
            floor.planned.discard(params.order_id)
            for task in list(floor.tasks.values()):
                if task.order_id == params.order_id:
                    del floor.tasks[task.task_id]
            return WavePlan(wave_id=params.wave_id, status="PLANNED", order_ids=floor.waves[params.wave_id])

        @activity.defn(name="warehouse.wave_progress")
        async def wave_progress(params: WaveRef) -> WaveProgress:
            tasks = [t for t in floor.tasks.values() if t.wave_id == params.wave_id]

            def count(status: str) -> int:
                return sum(1 for t in tasks if t.status == status)

            return WaveProgress(
                wave_id=params.wave_id,
                status="PICKING" if count("PICKED") + count("SHORT") else "RELEASED",
                open=count("OPEN"),
                assigned=count("ASSIGNED"),
                picked=count("PICKED"),
                short=count("SHORT"),
                cancelled=count("CANCELLED"),
            )

        @activity.defn(name="warehouse.complete_wave")
        async def complete_wave(params: WaveRef) -> WavePlan:
            record("warehouse.complete_wave")
            return WavePlan(wave_id=params.wave_id, status="DONE", order_ids=floor.waves[params.wave_id])

        @activity.defn(name="warehouse.cancel_wave")
        async def cancel_wave(params: WaveRef) -> WavePlan:
            record("warehouse.cancel_wave")
            floor.planned.difference_update(floor.waves.get(params.wave_id, []))
            return WavePlan(wave_id=params.wave_id, status="CANCELLED", order_ids=[])

        @activity.defn(name="warehouse.order_tasks")
        async def order_tasks(params: OrderRef) -> list[PickTask]:
            return floor.tasks_of(params.order_id)

        @activity.defn(name="warehouse.confirm_task")
        async def confirm_task(params: ConfirmTask) -> TaskConfirmed:
            record(f"warehouse.confirm_task:{params.task_id}")
            await self._behave("warehouse.confirm_task")
            task = floor.tasks[params.task_id]
            if task.status not in ("OPEN", "ASSIGNED"):
                return TaskConfirmed(task=task, short_quantity=task.quantity - task.picked_quantity)
            status = "PICKED" if params.quantity == task.quantity else "SHORT"
            task = floor.update(task, status=status, picked_quantity=params.quantity)
            return TaskConfirmed(task=task, short_quantity=task.quantity - params.quantity)

        @activity.defn(name="warehouse.reallocate")
        async def reallocate(params: Reallocate) -> Reallocated:
            record(f"warehouse.reallocate:{params.sku}:{params.quantity}")
            available = floor.elsewhere.get(params.sku, 0)
            found = min(available, params.quantity)
            floor.elsewhere[params.sku] = available - found
            order_tasks_ = floor.tasks_of(params.order_id)
            wave_id = order_tasks_[0].wave_id if order_tasks_ else "w"
            tasks = [floor.add_task(wave_id, params.order_id, params.sku, found, location="B-02-01-1")] if found else []
            return Reallocated(tasks=tasks, unallocated=params.quantity - found)

        @activity.defn(name="warehouse.repick")
        async def repick(params: Reallocate) -> Reallocated:
            record(f"warehouse.repick:{params.sku}:{params.quantity}")
            source = next(t for t in floor.tasks_of(params.order_id) if t.sku == params.sku and t.picked_quantity)
            floor.update(source, picked_quantity=source.picked_quantity - params.quantity)
            task = floor.add_task(
                source.wave_id, params.order_id, params.sku, params.quantity, location=source.location
            )
            return Reallocated(tasks=[task], unallocated=0)

        @activity.defn(name="warehouse.return_picks")
        async def return_picks(params: OrderRef) -> BacklogState:
            record("warehouse.return_picks")
            await self._behave("warehouse.return_picks", undo=True)
            for task in floor.tasks_of(params.order_id):
                floor.update(task, status="CANCELLED")
            floor.returned.add(params.order_id)
            return BacklogState(order_id=params.order_id, status="RETURNED")

        @activity.defn(name="warehouse.issue")
        async def issue(params: OrderRef) -> IssueState:
            record("warehouse.issue")
            return IssueState(order_id=params.order_id, status="ISSUED")

        @activity.defn(name="inventory.write_off")
        async def write_off(params: AdjustReservation) -> ReservationState:
            record(f"inventory.write_off:{params.sku}:{params.quantity}")
            return ReservationState(order_id=params.order_id, status="ACTIVE")

        @activity.defn(name="inventory.top_up")
        async def top_up(params: AdjustReservation) -> ReservationState:
            record(f"inventory.top_up:{params.sku}:{params.quantity}")
            if params.sku in floor.no_available:
                raise ApplicationError("none left", type="OutOfStock", non_retryable=True)
            return ReservationState(order_id=params.order_id, status="ACTIVE")

        @activity.defn(name="inventory.release_units")
        async def release_units(params: AdjustReservation) -> ReservationState:
            record(f"inventory.release_units:{params.sku}:{params.quantity}")
            return ReservationState(order_id=params.order_id, status="ACTIVE")

        @activity.defn(name="inventory.commit")
        async def commit(params: CommitStock) -> ReservationState:
            record("inventory.commit")
            await self._behave("inventory.commit")
            return ReservationState(order_id=params.order_id, status="COMMITTED")

        @activity.defn(name="inventory.dimensions")
        async def dimensions(params: SkuList) -> list[ProductDimensions]:
            return [ProductDimensions(sku=sku, weight_grams=350, volume_cm3=1200) for sku in params.skus]

        @activity.defn(name="payments.capture")
        async def capture(params: CapturePayment) -> PaymentState:
            record(f"payments.capture:{params.amount_cents}")
            await self._behave("payments.capture")
            return PaymentState(order_id=params.order_id, status="CAPTURED", payment_id="p1")

        @activity.defn(name="shipping.choose_carton")
        async def choose_carton(params: ChooseCarton) -> Carton:
            return Carton(code="S" if params.volume_cm3 <= 4800 else "M", volume_cm3=6000, max_weight_grams=5000)

        @activity.defn(name="shipping.buy_label")
        async def buy_label(params: BuyLabel) -> Label:
            record("shipping.buy_label")
            floor.label_addresses.append(params.destination.line1)
            await self._behave("shipping.buy_label")
            return Label(shipment_id="s1", tracking_code="SW123", carrier="SWIFT", rate_cents=590, currency="EUR")

        @activity.defn(name="shipping.void_label")
        async def void_label(params: VoidLabel) -> ShipmentState:
            record("shipping.void_label")
            return ShipmentState(order_id=params.order_id, status="VOIDED")

        @activity.defn(name="orders.ship")
        async def ship(params: ShipOrder) -> OrderState:
            record("orders.ship")
            floor.shipped[params.order_id] = {line.sku: line.quantity for line in params.shipped_lines}
            return OrderState(order_id=params.order_id, status="SHIPPED")

        @activity.defn(name="orders.change_address")
        async def change_address(params: ChangeAddress) -> OrderState:
            record("orders.change_address")
            return OrderState(order_id=params.order_id, status="AWAITING_WAVE")

        @activity.defn(name="tracking.subscribe")
        async def subscribe(params: Subscribe) -> None:
            record("tracking.subscribe")
            await self._behave("tracking.subscribe")
            if self.auto_deliver:
                order_workflow_id = activity.info().workflow_id
                assert order_workflow_id is not None
                handle = activity.client().get_workflow_handle(order_workflow_id)
                event = DeliveryEvent(
                    event_id=f"auto-{params.tracking_code}",
                    tracking_code=params.tracking_code,
                    status="DELIVERED",
                    occurred_at="2026-01-01T12:00:00+00:00",
                )
                await handle.signal("delivery_event", event)

        @activity.defn(name="tracking.notify_subscribers")
        async def notify_subscribers(params: DeliveryEvent) -> NoticesSent:
            record(f"tracking.notify:{params.status}")
            await self._behave("tracking.notify_subscribers")
            self.notices.append((params.status, params.event_id))
            return NoticesSent(tracking_code=params.tracking_code, event_id=params.event_id, recipients=1)

        @activity.defn(name="payments.refund")
        async def refund(params: RefundPayment) -> PaymentState:
            record(f"payments.refund:{params.amount_cents}")
            await self._behave("payments.refund", undo=True)
            return PaymentState(order_id=params.order_id, status="REFUNDED", payment_id="p1")

        @activity.defn(name="inventory.return")
        async def return_stock(params: ReturnStock) -> ReturnState:
            record("inventory.return:" + ",".join(f"{line.sku}={line.quantity}" for line in params.lines))
            await self._behave("inventory.return", undo=True)
            return ReturnState(order_id=params.order_id, status="RETURNED")

        @activity.defn(name="warehouse.restock")
        async def restock(params: OrderRef) -> ReturnState:
            record("warehouse.restock")
            await self._behave("warehouse.restock", undo=True)
            return ReturnState(order_id=params.order_id, status="RESTOCKED")

        return [
            subscribe,
            notify_subscribers,
            refund,
            return_stock,
            restock,
            enqueue,
            withdraw,
            plan_wave,
            allocate_wave,
            release_wave,
            remove_from_wave,
            wave_progress,
            complete_wave,
            cancel_wave,
            order_tasks,
            confirm_task,
            reallocate,
            repick,
            return_picks,
            issue,
            write_off,
            top_up,
            release_units,
            commit,
            dimensions,
            capture,
            choose_carton,
            buy_label,
            void_label,
            ship,
            change_address,
        ]


@dataclass
class FakeFloor:
    """The warehouse service's state, in memory."""

    backlog: dict[str, EnqueueOrder] = field(default_factory=dict)
    planned: set[str] = field(default_factory=set)
    released_orders: set[str] = field(default_factory=set)
    #: Orders a credit hold keeps out of every wave.
    held: set[str] = field(default_factory=set)
    waves: dict[str, list[str]] = field(default_factory=dict)
    tasks: dict[str, PickTask] = field(default_factory=dict)
    returned: set[str] = field(default_factory=set)
    shipped: dict[str, dict[str, int]] = field(default_factory=dict)
    label_addresses: list[str] = field(default_factory=list)
    #: sku -> units no bin has when the wave is allocated.
    unallocated: dict[str, int] = field(default_factory=dict)
    #: sku -> units other bins have for a re-allocation.
    elsewhere: dict[str, int] = field(default_factory=dict)
    #: SKUs inventory cannot top up (nothing available).
    no_available: set[str] = field(default_factory=set)

    def add_task(self, wave_id: str, order_id: str, sku: str, quantity: int, location: str = "A-01-01-1") -> PickTask:
        number = len(self.tasks) + 1
        task = PickTask(
            task_id=f"t{number}",
            wave_id=wave_id,
            order_id=order_id,
            sku=sku,
            location=location,
            lot="L1",
            quantity=quantity,
            picked_quantity=0,
            status="OPEN",
            pick_seq=number,
        )
        self.tasks[task.task_id] = task
        return task

    def update(self, task: PickTask, **changes: Any) -> PickTask:
        updated = dataclasses.replace(task, **changes)
        self.tasks[task.task_id] = updated
        return updated

    def tasks_of(self, order_id: str) -> list[PickTask]:
        return sorted((t for t in self.tasks.values() if t.order_id == order_id), key=lambda t: t.pick_seq)


def order_input(order_id: str | None = None, card: str = "tok_visa") -> OrderFulfillmentInput:
    return OrderFulfillmentInput(
        order_id=order_id or uuid.uuid4().hex[:12],
        customer_id="alice",
        customer_email="alice@example.com",
        currency="EUR",
        lines=[OrderLine(sku="MUG-RED", quantity=2, unit_price_cents=1200)],
        shipping_address=ShippingAddress(
            name="Alice", line1="1 Street", city="Berlin", postal_code="10115", country="DE"
        ),
        card_token=card,
    )


@asynccontextmanager
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEST_SERVER))
    try:
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def running_worker(client: Client, fakes: Fakes, workflows: list[type] | None = None) -> AsyncIterator[str]:
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=workflows or [OrderFulfillment, PickPackShip, WaveRelease],
        activities=fakes.activities(),
    ):
        yield task_queue


async def start_order(client: Client, task_queue: str, params: OrderFulfillmentInput) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        OrderFulfillment.run, params, id=workflow_id(params.order_id), task_queue=task_queue
    )


async def until_picking(client: Client, order_id: str, seconds: float = 20) -> WorkflowHandle[Any, Any]:
    """Wait in real time until the order's PickPackShip has loaded its tasks (or moved past picking)."""
    pps = client.get_workflow_handle(pps_workflow_id(order_id))
    for _ in range(int(seconds / 0.05)):
        try:
            status = await pps.query(PickPackShip.status)
            if status.tasks_open > 0 or status.status != "PICKING":
                return pps
        except Exception:  # not started yet
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"pick-pack-ship of {order_id} never started")


async def until_settled(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], fakes: Fakes | None = None, limit: int = 300
) -> OrderSnapshot:
    """Advance time until the order reaches AWAITING_WAVE (and, given ``fakes``, went to the backlog) or CANCELLED."""
    for _ in range(limit):
        snapshot: OrderSnapshot = await handle.query(OrderFulfillment.status)
        if snapshot.status == "CANCELLED":
            return snapshot
        if snapshot.status == "AWAITING_WAVE" and (fakes is None or "warehouse.enqueue" in fakes.calls):
            return snapshot
        await env.sleep(timedelta(seconds=1))
    raise AssertionError("order did not settle")

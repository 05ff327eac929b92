"""The benchmark's baseline for the order-to-delivery flow: the real flow's shape, doing nothing.

Three workflows mirror OrderFulfillment, WaveRelease and PickPackShip: the
same number of activities (``bench.noop``), the same updates driven by the
bench (``confirm_pick`` per task, ``pack``), the same signals between them
(``wave_released``, ``task_settled``, ``progress``) and the same parent →
child structure, so ``paklog bench`` can price what the real services and the
workflows' own logic add on top of Temporal itself.

After its child has shipped, :class:`NoopFloorOrder` follows the delivery as
OrderFulfillment does: one step to subscribe the customer, then one
``delivery_event`` signal per carrier event (the bench sends them, standing in
for the gateway's carrier webhook); each status change is one step (notify the
subscribers), an event with the status it already has (a new position) none,
and ``DELIVERED`` one more (the order's transition, before the notice) and
ends the workflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.noop import NoopInput, noop

NOOP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_attempts=10)
NOOP_TIMEOUT = timedelta(seconds=10)
# OrderFulfillment to the backlog: create, reserve, reserved, authorize, authorized, the ERP export, enqueue,
# awaiting_wave, notify.
ORDER_STEPS = (
    "create",
    "reserve",
    "reserved",
    "authorize",
    "authorized",
    "export",
    "enqueue",
    "awaiting_wave",
    "notify",
)
#: How many of ``ORDER_STEPS`` run before the order is ``AWAITING_WAVE``.
ACCEPTED_AFTER = ORDER_STEPS.index("awaiting_wave") + 1
#: How many of ``ORDER_STEPS`` run as local activities.
LOCAL_STEPS = ORDER_STEPS.index("authorized") + 1
# PickPackShip after the pack: label, commit, issue, capture, ship, notify.
SHIP_STEPS = ("label", "commit", "issue", "capture", "ship", "notify")
# The pack update: dimensions, carton, packed.
PACK_STEPS = ("dimensions", "carton", "packed")
# After SHIPPED: subscribe once; per status change notify; DELIVERED also moves the order (before its notice).
SUBSCRIBE_STEP = "subscribe"
NOTIFY_STEP = "notify_subscribers"
DELIVERED_STEP = "transition_delivered"
DELIVERED = "DELIVERED"


async def _steps(*steps: str, local: bool = False) -> None:
    execute = workflow.execute_local_activity if local else workflow.execute_activity
    for step in steps:
        await execute(noop, NoopInput(step=step), start_to_close_timeout=NOOP_TIMEOUT, retry_policy=NOOP_RETRY)


def noop_order_id(label: str) -> str:
    return f"noop-order-{label}"


def noop_pick_id(label: str) -> str:
    return f"noop-pps-{label}"


@dataclass(frozen=True)
class NoopOrderInput:
    label: str


@dataclass(frozen=True)
class NoopWaveInput:
    label: str
    order_labels: list[str]
    tasks: int


@dataclass
class NoopFloorStatus:
    label: str
    status: str
    shipped: bool = False
    settled: int = 0
    order_labels: list[str] = field(default_factory=list)
    delivery_status: str | None = None


@workflow.defn(name="NoopFloorOrder")
class NoopFloorOrder:
    """OrderFulfillment's shape: nine steps, wait for the wave, a child until shipped, then the delivery.

    Steps: ``ORDER_STEPS`` (AWAITING_WAVE after the eighth); the wave's signal;
    the :class:`NoopFloorPick` child (``SHIPPED`` when it ends); ``subscribe``;
    then per ``delivery_event`` that changes the status ``notify_subscribers``
    (``DELIVERED``: ``transition_delivered`` first, and the workflow ends).
    No compensations: nothing fails here.
    """

    def __init__(self) -> None:
        self._status = "PENDING"
        self._wave: str | None = None
        self._inbox: list[str] = []
        self._delivery_status: str | None = None

    @workflow.run
    async def run(self, params: NoopOrderInput) -> NoopFloorStatus:
        # The accept path's five steps are local activities, as in OrderFulfillment (``accept-in-one-task``).
        await _steps(*ORDER_STEPS[:LOCAL_STEPS], local=True)
        await _steps(*ORDER_STEPS[LOCAL_STEPS:ACCEPTED_AFTER])
        self._status = "AWAITING_WAVE"
        await _steps(*ORDER_STEPS[ACCEPTED_AFTER:])
        await workflow.wait_condition(lambda: self._wave is not None)
        await workflow.execute_child_workflow(
            NoopFloorPick.run, NoopOrderInput(label=params.label), id=noop_pick_id(params.label)
        )
        self._status = "SHIPPED"
        await self._follow_delivery()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return NoopFloorStatus(
            label=params.label, status=self._status, shipped=True, delivery_status=self._delivery_status
        )

    async def _follow_delivery(self) -> None:
        await _steps(SUBSCRIBE_STEP)
        while self._status != DELIVERED:
            await workflow.wait_condition(lambda: bool(self._inbox))
            status = self._inbox.pop(0)
            if status == self._delivery_status:
                continue  # a new position, no change: nobody is told
            self._delivery_status = status
            if status == DELIVERED:
                await _steps(DELIVERED_STEP)
                self._status = DELIVERED
            await _steps(NOTIFY_STEP)

    @workflow.signal
    def wave_released(self, wave: str) -> None:
        self._wave = wave

    @workflow.signal
    def progress(self, status: str) -> None:
        self._status = status

    @workflow.signal
    def delivery_event(self, status: str) -> None:
        """The carrier's event (the bench stands in for the gateway's webhook); kept until it is handled."""
        self._inbox.append(status)

    @workflow.update
    async def wait_awaiting_wave(self) -> NoopFloorStatus:
        await workflow.wait_condition(lambda: self._status != "PENDING")
        return NoopFloorStatus(label="", status=self._status)

    @workflow.update
    async def wait_shipped(self) -> NoopFloorStatus:
        """Answers once the child has shipped (as ``wait_for_status(["SHIPPED"])`` does for the real order)."""
        await workflow.wait_condition(lambda: self._status in ("SHIPPED", DELIVERED))
        return NoopFloorStatus(label="", status=self._status, shipped=True)


@workflow.defn(name="NoopFloorPick")
class NoopFloorPick:
    """PickPackShip's shape: load tasks, one update per pick, one to pack, then the shipping steps."""

    def __init__(self) -> None:
        self._picked = False
        self._packed = False
        self._wave = ""

    @workflow.run
    async def run(self, params: NoopOrderInput) -> NoopFloorStatus:
        await _steps("order_tasks")
        await workflow.wait_condition(lambda: self._packed)
        await _steps(*SHIP_STEPS[:2])
        await self._tell_parent("PACKED")
        await _steps(*SHIP_STEPS[2:5])
        await self._tell_parent("SHIPPED")
        await _steps(*SHIP_STEPS[5:])
        return NoopFloorStatus(label=params.label, status="SHIPPED", shipped=True)

    async def _tell_parent(self, status: str) -> None:
        parent = workflow.info().parent
        if parent is not None:
            await workflow.get_external_workflow_handle(parent.workflow_id).signal("progress", status)

    @workflow.update
    async def confirm_pick(self, wave_workflow_id: str) -> NoopFloorStatus:
        if not self._picked:
            self._picked = True
            await _steps("picking")
            await self._tell_parent("PICKING")
        await _steps("confirm")
        await workflow.get_external_workflow_handle(wave_workflow_id).signal("task_settled", "task")
        return NoopFloorStatus(label="", status="PICKED")

    @workflow.update
    async def pack(self) -> NoopFloorStatus:
        await _steps(*PACK_STEPS)
        await self._tell_parent("PACKED")
        self._packed = True
        return NoopFloorStatus(label="", status="PACKED")


@workflow.defn(name="NoopWave")
class NoopWave:
    """WaveRelease's shape: plan, allocate, release, tell each order, track the tasks, complete."""

    def __init__(self) -> None:
        self._status = "PLANNING"
        self._settled = 0

    @workflow.run
    async def run(self, params: NoopWaveInput) -> NoopFloorStatus:
        await _steps("plan", "allocate", "release")
        for label in params.order_labels:
            await workflow.get_external_workflow_handle(noop_order_id(label)).signal("wave_released", params.label)
        self._status = "RELEASED"
        while True:
            seen = self._settled
            await _steps("progress")
            if seen >= params.tasks:
                break
            await workflow.wait_condition(self._settled_since(seen))
        await _steps("complete")
        self._status = "DONE"
        return NoopFloorStatus(label=params.label, status=self._status, settled=self._settled)

    def _settled_since(self, seen: int) -> Callable[[], bool]:
        return lambda: self._settled > seen

    @workflow.signal
    def task_settled(self, task: str) -> None:
        self._settled += 1

    @workflow.update
    async def wait_released(self) -> NoopFloorStatus:
        await workflow.wait_condition(lambda: self._status != "PLANNING")
        return NoopFloorStatus(label="", status=self._status)

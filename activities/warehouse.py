"""Activities of the warehouse service: the wave backlog, waves, pick tasks and goods issue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from activities.base import ServiceClient, idempotency_key, raise_for_rejection


@dataclass(frozen=True)
class PickLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class EnqueueOrder:
    order_id: str
    lines: list[PickLine]
    service_level: str
    priority: int
    placed_at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class OrderRef:
    order_id: str


@dataclass(frozen=True)
class HoldOrder:
    """The order's ``hold``-th credit hold (1, 2, ...): each hold and its requeue get keys of their own."""

    order_id: str
    hold: int


@dataclass(frozen=True)
class BacklogState:
    order_id: str
    status: str | None


@dataclass(frozen=True)
class PlanWave:
    wave_id: str
    max_orders: int
    max_lines: int


@dataclass(frozen=True)
class WaveRef:
    wave_id: str


@dataclass(frozen=True)
class RemoveOrder:
    wave_id: str
    order_id: str


@dataclass(frozen=True)
class WavePlan:
    wave_id: str
    status: str
    order_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PickTask:
    task_id: str
    wave_id: str
    order_id: str
    sku: str
    location: str
    lot: str
    quantity: int
    picked_quantity: int
    status: str
    pick_seq: int


@dataclass(frozen=True)
class Shortage:
    order_id: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class WaveAllocation:
    wave_id: str
    tasks: list[PickTask]
    shortages: list[Shortage]


@dataclass(frozen=True)
class WaveProgress:
    wave_id: str
    status: str
    open: int
    assigned: int
    picked: int
    short: int
    cancelled: int

    @property
    def unsettled(self) -> int:
        return self.open + self.assigned


@dataclass(frozen=True)
class ConfirmTask:
    task_id: str
    location: str
    sku: str
    lot: str
    quantity: int
    picker: str | None = None


@dataclass(frozen=True)
class TaskConfirmed:
    task: PickTask
    short_quantity: int


@dataclass(frozen=True)
class Reallocate:
    order_id: str
    sku: str
    quantity: int
    ref: str


@dataclass(frozen=True)
class Reallocated:
    tasks: list[PickTask]
    unallocated: int


@dataclass(frozen=True)
class IssueState:
    order_id: str
    status: str


#: A hold the warehouse refuses because it comes too late, and the state it then answers.
_HOLD_TOO_LATE = {"OrderReleased": "RELEASED", "OrderWithdrawn": "WITHDRAWN"}


class WarehouseClient(ServiceClient):
    """Typed client of the warehouse service."""


def pick_task(body: dict[str, Any]) -> PickTask:
    return PickTask(
        task_id=str(body["task_id"]),
        wave_id=str(body["wave_id"]),
        order_id=str(body["order_id"]),
        sku=str(body["sku"]),
        location=str(body["location"]),
        lot=str(body.get("lot") or ""),
        quantity=int(body["quantity"]),
        picked_quantity=int(body.get("picked_quantity") or 0),
        status=str(body["status"]),
        pick_seq=int(body.get("pick_seq") or 0),
    )


def _plan(body: dict[str, Any]) -> WavePlan:
    return WavePlan(
        wave_id=str(body["wave_id"]), status=str(body["status"]), order_ids=list(body.get("order_ids") or [])
    )


class WarehouseActivities:
    def __init__(self, client: WarehouseClient) -> None:
        self.client = client

    # -- the backlog (OrderFulfillment) ----------------------------------------------
    @activity.defn(name="warehouse.enqueue")
    async def enqueue(self, params: EnqueueOrder) -> BacklogState:
        """Put the order in the wave backlog. Key ``<workflow id>:enqueue``; ``OrderWithdrawn`` is final."""
        payload = {
            "order_id": params.order_id,
            "lines": [{"sku": line.sku, "quantity": line.quantity} for line in params.lines],
            "service_level": params.service_level,
            "priority": params.priority,
            "placed_at": params.placed_at,
        }
        resp = await self.client.post("/backlog", payload, idempotency_key("enqueue"))
        raise_for_rejection(resp)
        return BacklogState(order_id=params.order_id, status=resp.json().get("status"))

    @activity.defn(name="warehouse.withdraw")
    async def withdraw(self, params: OrderRef) -> BacklogState:
        """Compensation: take the order out of the backlog (or a planned wave). Key ``<workflow id>:withdraw``.

        An order already in a released wave answers ``status: RELEASED``: its picks must be returned.
        """
        resp = await self.client.post(f"/backlog/{params.order_id}/withdraw", None, idempotency_key("withdraw"))
        if resp.status_code == 409 and resp.json().get("type") == "OrderReleased":
            # Already on the floor: the caller returns the picks instead (``warehouse.return_picks``).
            return BacklogState(order_id=params.order_id, status="RELEASED")
        raise_for_rejection(resp, undo=True)
        return BacklogState(order_id=params.order_id, status=resp.json().get("status"))

    @activity.defn(name="warehouse.hold")
    async def hold(self, params: HoldOrder) -> BacklogState:
        """Keep the order out of every wave while the ERP holds it. Key ``<workflow id>:hold-<n>``.

        Too late (its wave is on the floor) answers ``status: RELEASED``; withdrawn meanwhile (cancelled)
        answers ``status: WITHDRAWN``: neither is an error, the hold simply does not take.
        """
        resp = await self.client.post(f"/backlog/{params.order_id}/hold", None, idempotency_key(f"hold-{params.hold}"))
        if resp.status_code == 409 and resp.json().get("type") in _HOLD_TOO_LATE:
            return BacklogState(order_id=params.order_id, status=_HOLD_TOO_LATE[resp.json()["type"]])
        raise_for_rejection(resp)
        return BacklogState(order_id=params.order_id, status=resp.json().get("status"))

    @activity.defn(name="warehouse.requeue")
    async def requeue(self, params: HoldOrder) -> BacklogState:
        """The held order waits for a wave again. Key ``<workflow id>:requeue-<n>``.

        Withdrawn meanwhile (cancelled) answers ``status: WITHDRAWN``.
        """
        resp = await self.client.post(
            f"/backlog/{params.order_id}/requeue", None, idempotency_key(f"requeue-{params.hold}")
        )
        if resp.status_code == 409 and resp.json().get("type") == "OrderWithdrawn":
            return BacklogState(order_id=params.order_id, status="WITHDRAWN")
        raise_for_rejection(resp)
        return BacklogState(order_id=params.order_id, status=resp.json().get("status"))

    # -- waves (WaveRelease) -------------------------------------------------------------
    @activity.defn(name="warehouse.plan_wave")
    async def plan_wave(self, params: PlanWave) -> WavePlan:
        """Choose the waiting orders; ``NothingToPlan`` is final. Key ``<workflow id>:plan``."""
        payload = {"wave_id": params.wave_id, "max_orders": params.max_orders, "max_lines": params.max_lines}
        resp = await self.client.post("/waves", payload, idempotency_key("plan"))
        raise_for_rejection(resp)
        return _plan(resp.json())

    @activity.defn(name="warehouse.allocate_wave")
    async def allocate_wave(self, params: WaveRef) -> WaveAllocation:
        """Allocate bins (FEFO, then FIFO) and create the pick tasks. Key ``<workflow id>:allocate``."""
        resp = await self.client.post(f"/waves/{params.wave_id}/allocate", None, idempotency_key("allocate"))
        raise_for_rejection(resp)
        body = resp.json()
        return WaveAllocation(
            wave_id=params.wave_id,
            tasks=[pick_task(task) for task in body.get("tasks") or []],
            shortages=[
                Shortage(order_id=str(s["order_id"]), sku=str(s["sku"]), quantity=int(s["quantity"]))
                for s in body.get("shortages") or []
            ],
        )

    @activity.defn(name="warehouse.release_wave")
    async def release_wave(self, params: WaveRef) -> WavePlan:
        """Release the wave to the floor. Key ``<workflow id>:release``."""
        resp = await self.client.post(f"/waves/{params.wave_id}/release", None, idempotency_key("release"))
        raise_for_rejection(resp)
        return _plan(resp.json())

    @activity.defn(name="warehouse.remove_from_wave")
    async def remove_from_wave(self, params: RemoveOrder) -> WavePlan:
        """Send one order of a planned wave back to the backlog. Key ``<workflow id>:remove:<order id>``."""
        resp = await self.client.post(
            f"/waves/{params.wave_id}/remove-order",
            {"order_id": params.order_id},
            idempotency_key(f"remove:{params.order_id}"),
        )
        raise_for_rejection(resp)
        return _plan(resp.json())

    @activity.defn(name="warehouse.wave_progress")
    async def wave_progress(self, params: WaveRef) -> WaveProgress:
        """Read the wave's task counts (a read: no key)."""
        resp = await self.client.get(f"/waves/{params.wave_id}")
        raise_for_rejection(resp)
        body = resp.json()
        counts = body.get("counts") or {}
        return WaveProgress(
            wave_id=params.wave_id,
            status=str(body["status"]),
            open=int(counts.get("open", 0)),
            assigned=int(counts.get("assigned", 0)),
            picked=int(counts.get("picked", 0)),
            short=int(counts.get("short", 0)),
            cancelled=int(counts.get("cancelled", 0)),
        )

    @activity.defn(name="warehouse.complete_wave")
    async def complete_wave(self, params: WaveRef) -> WavePlan:
        """Mark the wave ``DONE`` (``TasksOpen`` while a task is open). Key ``<workflow id>:complete``."""
        resp = await self.client.post(f"/waves/{params.wave_id}/complete", None, idempotency_key("complete"))
        raise_for_rejection(resp)
        return _plan(resp.json())

    @activity.defn(name="warehouse.cancel_wave")
    async def cancel_wave(self, params: WaveRef) -> WavePlan:
        """Compensation: cancel a planned wave, its orders back to the backlog. Key ``<workflow id>:cancel``."""
        resp = await self.client.post(f"/waves/{params.wave_id}/cancel", None, idempotency_key("cancel"))
        raise_for_rejection(resp, undo=True)
        return _plan(resp.json())

    # -- picking, packing, goods issue (PickPackShip) ------------------------------------
    @activity.defn(name="warehouse.order_tasks")
    async def order_tasks(self, params: OrderRef) -> list[PickTask]:
        """The order's pick tasks (a read)."""
        resp = await self.client.get(f"/orders/{params.order_id}/tasks")
        raise_for_rejection(resp)
        body = resp.json()
        items = body.get("items", []) if isinstance(body, dict) else body
        return [pick_task(task) for task in items]

    @activity.defn(name="warehouse.confirm_task")
    async def confirm_task(self, params: ConfirmTask) -> TaskConfirmed:
        """Record a scan; fewer units is a short pick. Key ``<workflow id>:confirm:<task id>``."""
        payload = {
            "location": params.location,
            "sku": params.sku,
            "lot": params.lot or None,  # "" in the workflow: a SKU without lots
            "quantity": params.quantity,
            "picker": params.picker,
        }
        resp = await self.client.post(
            f"/tasks/{params.task_id}/confirm", payload, idempotency_key(f"confirm:{params.task_id}")
        )
        raise_for_rejection(resp)
        body = resp.json()
        return TaskConfirmed(task=pick_task(body["task"]), short_quantity=int(body.get("short_quantity") or 0))

    @activity.defn(name="warehouse.reallocate")
    async def reallocate(self, params: Reallocate) -> Reallocated:
        """Find missing units in other bins. Key ``<workflow id>:reallocate:<ref>``."""
        return await self._new_tasks("reallocate", params)

    @activity.defn(name="warehouse.repick")
    async def repick(self, params: Reallocate) -> Reallocated:
        """Send units the packer did not find back to picking. Key ``<workflow id>:repick:<ref>``."""
        return await self._new_tasks("repick", params)

    async def _new_tasks(self, op: str, params: Reallocate) -> Reallocated:
        resp = await self.client.post(
            f"/orders/{params.order_id}/{op}",
            {"sku": params.sku, "quantity": params.quantity},
            idempotency_key(f"{op}:{params.ref}"),
        )
        raise_for_rejection(resp)
        body = resp.json()
        return Reallocated(
            tasks=[pick_task(task) for task in body.get("tasks") or []], unallocated=int(body.get("unallocated") or 0)
        )

    @activity.defn(name="warehouse.return_picks")
    async def return_picks(self, params: OrderRef) -> BacklogState:
        """Compensation: cancel the order's tasks, picked units back to their bins. Key ``<workflow id>:return_picks``."""
        resp = await self.client.post(f"/orders/{params.order_id}/return-picks", None, idempotency_key("return_picks"))
        raise_for_rejection(resp, undo=True)
        return BacklogState(order_id=params.order_id, status=resp.json().get("status"))

    @activity.defn(name="warehouse.issue")
    async def issue(self, params: OrderRef) -> IssueState:
        """Goods issue: the picked units leave their bins. Key ``<workflow id>:issue``."""
        resp = await self.client.post(f"/orders/{params.order_id}/issue", None, idempotency_key("issue"))
        raise_for_rejection(resp)
        return IssueState(order_id=params.order_id, status=str(resp.json().get("status")))

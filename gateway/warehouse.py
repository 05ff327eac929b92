"""Warehouse-floor use cases of the gateway: plan and release waves, confirm picks, pack, change an address.

The gateway never moves stock or tasks itself: it starts ``WaveRelease``
(``wave-<id>``) and sends updates to it, to the order's ``PickPackShip``
(``pps-<order_id>``) and to its ``OrderFulfillment`` (``order-<order_id>``);
reads come from the warehouse and shipping services.

Every update runs under a deadline (``update_wait_seconds``): once the
workflow has accepted it (its validator passed) the work goes on, so a
deadline that passes is answered 202 with the state at that moment, never an
error. A validator's refusal (or a failure of the update's own steps) is 409
with the ``ApplicationError``'s ``type`` and message, e.g. ``ScanMismatch``.
"""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.orders import ShippingAddress
from common.errors import Conflict, NotFound, RuleViolation
from common.security import Principal
from gateway import orders
from gateway.clients import ServiceClients
from gateway.models import AddressRequest, OrderStatus, OrderView
from gateway.updates import GONE, Done, Rejection, WorkflowBusy, run_update
from gateway.warehouse_models import (
    OperatorRetryView,
    PackItemView,
    PackRequest,
    PackResultView,
    PickConfirmedView,
    PickScanRequest,
    PlanWaveRequest,
    WaveView,
)
from workflows.order_types import workflow_id as order_workflow_id
from workflows.warehouse_types import (
    ADDRESS_LOCKED,
    ALREADY_PACKED,
    ILLEGAL_WAVE_TRANSITION,
    NOT_PICKED,
    NOTHING_TO_PLAN,
    PACK_MISMATCH,
    TASK_NOT_OPEN,
    WAVE_WORKFLOW_NAME,
    ChangeAddressRequest,
    OperatorRetry,
    PackItem,
    PackResult,
    PackScan,
    PickConfirmed,
    PickPackShipStatus,
    PickScan,
    ReleaseWave,
    RemoveOrderFromWave,
    WaitForWaveStatus,
    WaveReleaseInput,
    WaveState,
    WaveStatus,
    pps_workflow_id,
    wave_workflow_id,
)

NOTHING_TO_RETRY = "NothingToRetry"

_PLANNED_OR_DONE = [WaveState.PLANNED, WaveState.EMPTY, WaveState.CANCELLED]
_PACKED_OR_LATER = frozenset({OrderStatus.PACKED, OrderStatus.SHIPPED, OrderStatus.DELIVERED})


class NotReady(Conflict):
    """409 ``NotReady`` with ``Retry-After: 1``: the order's PickPackShip has not started yet."""

    default_type = "NotReady"
    headers = {"Retry-After": "1"}  # noqa: RUF012 - a class-wide constant, never mutated


async def _exists(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the workflow ever ran (closed ones included)."""
    return await _status(handle) is not None


async def _status(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionStatus | None:
    """The workflow's status (``None``: it never ran)."""
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return described.status


# -- waves ------------------------------------------------------------------------------
def new_wave_id() -> str:
    return uuid.uuid4().hex[:12]


def _view_of(status: WaveStatus) -> WaveView:
    """The workflow's own account, when the warehouse has no row (yet)."""
    return WaveView(wave_id=status.wave_id, status=status.status, order_ids=status.order_ids)


async def plan_wave(
    client: Client,
    clients: ServiceClients,
    *,
    task_queue: str,
    wait_seconds: float,
    principal: Principal,
    body: PlanWaveRequest,
) -> tuple[WaveView, bool]:
    """Start a ``WaveRelease`` (released by hand later) and wait until it is planned.

    Returns:
        The wave, and whether planning finished within the deadline (else it is still ``PLANNING``).

    Raises:
        Conflict: ``NothingToPlan`` when no order was waiting.
    """
    wave_id = new_wave_id()
    handle = await client.start_workflow(
        WAVE_WORKFLOW_NAME,
        WaveReleaseInput(wave_id=wave_id, max_orders=body.max_orders, max_lines=body.max_lines, auto_release=False),
        id=wave_workflow_id(wave_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        memo={"requested_by": principal.username},
    )
    try:
        done = await run_update(
            handle,
            "wait_for_status",
            WaitForWaveStatus(statuses=list(_PLANNED_OR_DONE)),
            wait_seconds=wait_seconds,
            result_type=WaveStatus,
        )
    except Rejection as rejected:
        raise rejected.conflict(ILLEGAL_WAVE_TRANSITION) from None
    except RPCError as exc:
        if exc.status not in GONE:
            raise
        # It ended before the update reached it (nothing to plan, most likely): its result says how.
        result = await client.get_workflow_handle(handle.id, result_type=WaveStatus).result()
        done = Done(result)
    if done is None:
        return await clients.wave(wave_id) or WaveView(wave_id=wave_id, status=WaveState.PLANNING, order_ids=[]), False
    status: WaveStatus = done.value
    if status.status == WaveState.EMPTY:
        raise Conflict("no order is waiting for a wave", type=NOTHING_TO_PLAN)
    return await clients.wave(wave_id) or _view_of(status), True


async def update_wave(
    client: Client, clients: ServiceClients, *, wait_seconds: float, wave_id: str, update: str, arg: Any
) -> tuple[WaveView, bool]:
    """Run ``release`` or ``remove_order`` on ``wave-<id>``; answers the wave as the warehouse has it.

    Raises:
        NotFound: ``WaveNotFound``: no such wave workflow.
        Conflict: ``IllegalWaveTransition`` (the validator's type): released twice, removal after release,
            or the wave's workflow has ended.
    """
    handle = client.get_workflow_handle(wave_workflow_id(wave_id))
    try:
        done = await run_update(handle, update, arg, wait_seconds=wait_seconds, result_type=WaveStatus)
    except Rejection as rejected:
        raise rejected.conflict(ILLEGAL_WAVE_TRANSITION) from None
    except RPCError as exc:
        if exc.status not in GONE:
            raise
        if not await _exists(handle):
            raise NotFound(f"no wave {wave_id}", type="WaveNotFound") from None
        raise Conflict(f"wave {wave_id} has ended", type=ILLEGAL_WAVE_TRANSITION) from None
    view = await clients.wave(wave_id)
    if view is None:
        if done is None:
            raise NotFound(f"no wave {wave_id}", type="WaveNotFound")
        view = _view_of(done.value)
    return view, done is not None


def release_request(principal: Principal) -> ReleaseWave:
    return ReleaseWave(requested_by=principal.username)


def remove_request(order_id: str) -> RemoveOrderFromWave:
    return RemoveOrderFromWave(order_id=order_id)


async def wave_or_404(clients: ServiceClients, wave_id: str) -> WaveView:
    view = await clients.wave(wave_id)
    if view is None:
        raise NotFound(f"no wave {wave_id}", type="WaveNotFound")
    return view


# -- picking ----------------------------------------------------------------------------
async def confirm_pick(
    client: Client,
    clients: ServiceClients,
    *,
    wait_seconds: float,
    principal: Principal,
    task_id: str,
    scan: PickScanRequest,
    short: bool = False,
) -> tuple[PickConfirmedView, bool]:
    """Send the scan to the task's order's ``PickPackShip`` (update ``confirm_pick``).

    Raises:
        NotFound: ``TaskNotFound``.
        RuleViolation: ``NotAShortPick``: ``short`` with a quantity not below the task's.
        Conflict: the validator's type (``ScanMismatch``, ``QuantityExceedsTask``, ``TaskNotOpen``,
            ``UnknownTask``); ``NotReady`` (retry in a second) when the PickPackShip has not started.
    """
    task = await clients.task(task_id)
    if task is None:
        raise NotFound(f"no pick task {task_id}", type="TaskNotFound")
    if short and scan.quantity >= task.quantity:
        raise RuleViolation(
            f"a short pick reports fewer than the task's {task.quantity} units; confirm it instead",
            type="NotAShortPick",
        )
    handle = client.get_workflow_handle(pps_workflow_id(task.order_id))
    pick = PickScan(
        task_id=task_id,
        location=scan.location,
        sku=scan.sku,
        lot=scan.lot or "",
        quantity=scan.quantity,
        picker=principal.username,
    )
    try:
        done = await run_update(handle, "confirm_pick", pick, wait_seconds=wait_seconds, result_type=PickConfirmed)
    except Rejection as rejected:
        raise rejected.conflict(TASK_NOT_OPEN) from None
    except WorkflowBusy:
        raise NotReady(f"order {task.order_id} is not ready for scans right now; retry in a second") from None
    except RPCError as exc:
        if exc.status not in GONE:
            raise
        status = await _status(handle)
        if status is None:
            raise NotReady(f"order {task.order_id} is not on the floor yet; retry in a second") from None
        ended = status.name.lower()
        raise Conflict(
            f"order {task.order_id} has left picking (its pick-pack-ship {ended})", type=TASK_NOT_OPEN
        ) from None
    if done is None:
        return PickConfirmedView(task_id=task_id, status="PENDING", picked_quantity=None, short_quantity=None), False
    confirmed: PickConfirmed = done.value
    return (
        PickConfirmedView(
            task_id=confirmed.task_id,
            status="SHORT" if confirmed.status == "SHORT" else "PICKED",
            picked_quantity=confirmed.picked_quantity,
            short_quantity=confirmed.short_quantity,
            new_task_ids=confirmed.new_task_ids,
        ),
        True,
    )


# -- packing ----------------------------------------------------------------------------
async def pack(
    client: Client,
    clients: ServiceClients,
    *,
    wait_seconds: float,
    principal: Principal,
    order_id: str,
    body: PackRequest,
) -> tuple[PackResultView, bool]:
    """Scan the carton's items into the order's ``PickPackShip`` (update ``pack``).

    Raises:
        Conflict: ``PackMismatch`` with ``missing`` when items are missing (they go back to picking);
            the validator's type (``PackMismatch``, ``NotPicked``, ``AlreadyPacked``); ``NotPicked``
            when the order has no PickPackShip yet.
    """
    merged: dict[str, int] = {}
    for item in body.items:
        merged[item.sku] = merged.get(item.sku, 0) + item.quantity
    scan = PackScan(
        station=body.station,
        items=[PackItem(sku=sku, quantity=quantity) for sku, quantity in merged.items()],
        packer=principal.username,
    )
    handle = client.get_workflow_handle(pps_workflow_id(order_id))
    try:
        done = await run_update(handle, "pack", scan, wait_seconds=wait_seconds, result_type=PackResult)
    except Rejection as rejected:
        raise rejected.conflict(PACK_MISMATCH) from None
    except RPCError as exc:
        if exc.status not in GONE:
            raise
        if not await _exists(handle):
            raise Conflict(f"order {order_id} has not been picked", type=NOT_PICKED) from None
        record = await clients.order(order_id)
        if record is not None and record.status in _PACKED_OR_LATER:
            raise Conflict(f"order {order_id} is already {record.status.value}", type=ALREADY_PACKED) from None
        raise Conflict(f"order {order_id} has left the floor", type=NOT_PICKED) from None
    if done is None:
        return PackResultView(order_id=order_id, status="PACKING"), False
    result: PackResult = done.value
    if result.status != "PACKED":
        missing = [PackItemView(sku=m.sku, quantity=m.quantity).model_dump() for m in result.missing]
        names = ", ".join(f"{m['quantity']} x {m['sku']}" for m in missing)
        raise Conflict(
            f"the carton lacks {names or 'items'}; they went back to picking",
            type=PACK_MISMATCH,
            extra={"missing": missing},
        )
    return PackResultView(order_id=result.order_id, status="PACKED", carton=result.carton), True


async def retry_after_goods_issue(
    client: Client, *, wait_seconds: float, principal: Principal, order_id: str
) -> OperatorRetryView:
    """Tell an order's ``PickPackShip`` that waits for an operator (after goods issue) to try its step again.

    Raises:
        Conflict: ``NothingToRetry`` when nothing of this order waits for an operator.
    """
    handle = client.get_workflow_handle(pps_workflow_id(order_id))
    try:
        done = await run_update(
            handle,
            "retry",
            OperatorRetry(requested_by=principal.username),
            wait_seconds=wait_seconds,
            result_type=PickPackShipStatus,
        )
    except Rejection as rejected:
        raise rejected.conflict(NOTHING_TO_RETRY) from None
    except RPCError as exc:
        if exc.status not in GONE:
            raise
        raise Conflict(f"nothing of order {order_id} waits for an operator", type=NOTHING_TO_RETRY) from None
    if done is None:
        return OperatorRetryView(order_id=order_id, status="SHIPPING", needs_operator=None)
    status: PickPackShipStatus = done.value
    return OperatorRetryView(order_id=order_id, status=status.status, needs_operator=status.needs_operator)


# -- the order's address ----------------------------------------------------------------
async def change_address(
    client: Client,
    clients: ServiceClients,
    *,
    wait_seconds: float,
    principal: Principal,
    order_id: str,
    address: AddressRequest,
) -> tuple[OrderView, bool]:
    """The order's ``change_address`` update; the owner or staff only (others see no such order).

    Raises:
        NotFound: ``OrderNotFound``.
        Conflict: ``AddressLocked`` once the order is packed (or its workflow has ended).
    """
    await orders.get_order(client, clients, principal, order_id)
    request = ChangeAddressRequest(
        shipping_address=ShippingAddress(
            name=address.name,
            line1=address.line1,
            city=address.city,
            postal_code=address.postal_code,
            country=address.country,
        ),
        requested_by=principal.username,
    )
    handle = client.get_workflow_handle(order_workflow_id(order_id))
    try:
        done = await run_update(handle, "change_address", request, wait_seconds=wait_seconds)
    except Rejection as rejected:
        raise Conflict(rejected.detail, type=ADDRESS_LOCKED) from None
    except RPCError as exc:
        if exc.status not in GONE:
            raise
        raise Conflict(f"order {order_id} can no longer change its address", type=ADDRESS_LOCKED) from None
    return await orders.get_order(client, clients, principal, order_id), done is not None

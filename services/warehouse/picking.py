"""Pick tasks: handing them to pickers, confirmations (short picks), re-allocation, re-picks,
returning picks (compensation), goods issue and the restock after a failed delivery.

``OPEN → ASSIGNED → PICKED | SHORT``, or ``CANCELLED``. Picked units stay
counted (``allocated``) in their bin until goods issue, so for every SKU the
bins' quantities equal inventory's ``on_hand`` at every moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlmodel import col, update

from common.errors import Conflict, NotFound
from services.warehouse.models import (
    LIVE_TASKS,
    PICKED_TASKS,
    BacklogOrder,
    BacklogState,
    ConfirmIn,
    IssueState,
    NextTask,
    PickTask,
    Reallocated,
    RestockLine,
    RestockState,
    SkuQuantityIn,
    TaskConfirmed,
    TaskPublic,
    TaskStatus,
    Wave,
    WaveStatus,
)
from services.warehouse.repository import WarehouseRepository
from services.warehouse.service import cancel_tasks, get_location, issued_lines, task_public
from services.warehouse.waves import PICKABLE_WAVES, allocate_units, get_wave


async def get_task(repo: WarehouseRepository, task_id: str, *, for_update: bool = False) -> PickTask:
    task = await repo.get_task(task_id, for_update=for_update)
    if task is None:
        raise NotFound(f"no pick task {task_id}", type="TaskNotFound")
    return task


async def order_tasks(repo: WarehouseRepository, order_id: str) -> list[TaskPublic]:
    return [task_public(t) for t in await repo.tasks_of_order(order_id)]


async def next_task(repo: WarehouseRepository, picker: str, wave_id: str | None) -> NextTask:
    """The picker's ASSIGNED task, else the first OPEN one of a released wave, now assigned to the picker."""
    task = await repo.assigned_task(picker, wave_id)
    if task is None:
        task = await repo.claim_open_task(wave_id, PICKABLE_WAVES)
        if task is None:
            return NextTask(task=None)
        task.status, task.assigned_to, task.updated_at = TaskStatus.ASSIGNED, picker, datetime.now(UTC)
        await repo.save(task)
    return NextTask(task=task_public(task))


async def confirm(repo: WarehouseRepository, task_id: str, body: ConfirmIn) -> TaskConfirmed:
    """Record the scan: ``PICKED``, or ``SHORT`` when fewer units were there.

    A short pick locks the bin (it needs a count) and writes the missing units
    off its quantity and allocation. The first confirmation of a RELEASED wave
    moves it to PICKING.

    Raises:
        Conflict: ``TaskNotOpen`` (settled, cancelled, or its wave not
            released); ``ScanMismatch`` (location, SKU or lot); ``QuantityExceedsTask``.
    """
    now = datetime.now(UTC)
    task = await get_task(repo, task_id, for_update=True)
    wave = await get_wave(repo, task.wave_id)
    if task.status not in LIVE_TASKS or wave.status not in PICKABLE_WAVES:
        raise Conflict(
            f"task {task_id} is {task.status} in a {wave.status} wave; nothing to confirm",
            type="TaskNotOpen",
            extra={"status": task.status},
        )
    scanned = {"location": body.location, "sku": body.sku, "lot": body.lot}
    expected = {"location": task.location, "sku": task.sku, "lot": task.lot}
    if scanned != expected:
        raise Conflict(
            f"scan does not match task {task_id}",
            type="ScanMismatch",
            extra={"expected": expected, "scanned": scanned},
        )
    if body.quantity > task.quantity:
        raise Conflict(
            f"task {task_id} asks for {task.quantity}, {body.quantity} scanned",
            type="QuantityExceedsTask",
            extra={"expected": task.quantity, "scanned": body.quantity},
        )
    short = task.quantity - body.quantity
    task.picked_quantity, task.assigned_to, task.updated_at = body.quantity, body.picker, now
    task.status = TaskStatus.SHORT if short else TaskStatus.PICKED
    await repo.save(task)
    if wave.status == WaveStatus.RELEASED:
        # Conditional: only the first confirmation moves it, and a PICKING wave's row is not locked at all.
        await repo.session.exec(
            update(Wave)
            .where(col(Wave.wave_id) == wave.wave_id, col(Wave.status) == WaveStatus.RELEASED)
            .values(status=WaveStatus.PICKING, updated_at=now)
        )
    if short:
        location = await get_location(repo, task.location, for_update=True)
        location.locked, location.updated_at = True, now
        location.lock_reason = f"short pick of task {task_id}: {short} missing, count the bin"
        await repo.save(location)
        await repo.lock_bins([task.bin_id])
        await repo.change_bin(task.bin_id, quantity=-short, allocated=-short)
    return TaskConfirmed(task=task_public(task), short_quantity=short)


async def _order_for_change(repo: WarehouseRepository, order_id: str) -> BacklogOrder:
    order = await repo.get_backlog(order_id, for_update=True)
    if order is None or order.placed_at is None:
        raise NotFound(f"order {order_id} is not in the warehouse", type="OrderNotFound")
    if order.issued_at is not None:
        raise Conflict(f"goods of order {order_id} were issued", type="AlreadyIssued")
    if order.picks_returned_at is not None:
        raise Conflict(f"picks of order {order_id} were returned", type="PicksReturned")
    return order


async def reallocate(repo: WarehouseRepository, order_id: str, body: SkuQuantityIn) -> Reallocated:
    """Allocate ``quantity`` more units of the SKU for the order in its wave (after a short pick).

    Raises:
        Conflict: ``OrderNotInWave``; ``IllegalWaveTransition`` when its wave is
            CANCELLED; ``AlreadyIssued``; ``PicksReturned``.
    """
    order = await _order_for_change(repo, order_id)
    if order.wave_id is None:
        raise Conflict(f"order {order_id} is in no wave", type="OrderNotInWave")
    wave = await get_wave(repo, order.wave_id)
    if wave.status == WaveStatus.CANCELLED:
        raise Conflict(f"wave {wave.wave_id} is CANCELLED", type="IllegalWaveTransition")
    tasks, shortages = await allocate_units(
        repo, wave.wave_id, [(order_id, body.sku, body.quantity)], datetime.now(UTC)
    )
    return Reallocated(tasks=[task_public(t) for t in tasks], unallocated=sum(s.quantity for s in shortages))


async def repick(repo: WarehouseRepository, order_id: str, body: SkuQuantityIn) -> Reallocated:
    """Send picked units back to picking: new OPEN tasks at the bins and lots they came from.

    The picked tasks' ``picked_quantity`` drops by what moves to the new tasks,
    so the bins' allocation is unchanged. Latest-picked tasks give first.

    Raises:
        Conflict: ``RepickExceedsPicked``; ``AlreadyIssued``; ``PicksReturned``.
    """
    now = datetime.now(UTC)
    await _order_for_change(repo, order_id)
    picked = [
        t
        for t in await repo.tasks_of_order(order_id, sku=body.sku, for_update=True)
        if t.status in PICKED_TASKS and t.picked_quantity > 0
    ]
    total = sum(t.picked_quantity for t in picked)
    if body.quantity > total:
        raise Conflict(
            f"order {order_id} has {total} of {body.sku} picked, cannot re-pick {body.quantity}",
            type="RepickExceedsPicked",
            extra={"sku": body.sku, "requested": body.quantity, "picked": total},
        )
    remaining = body.quantity
    new: list[PickTask] = []
    for task in sorted(picked, key=lambda t: (t.updated_at, t.seq or 0), reverse=True):
        take = min(remaining, task.picked_quantity)
        task.picked_quantity -= take
        task.updated_at = now
        repo.session.add(task)
        new.append(
            await repo.add_task(
                wave_id=task.wave_id,
                order_id=order_id,
                bin_row=task,
                bin_id=task.bin_id,
                pick_seq=task.pick_seq,
                quantity=take,
                now=now,
            )
        )
        remaining -= take
        if remaining == 0:
            break
    await repo.session.flush()
    return Reallocated(
        tasks=[task_public(t) for t in sorted(new, key=lambda t: (t.pick_seq, t.seq or 0))], unallocated=0
    )


async def return_picks(repo: WarehouseRepository, order_id: str) -> BacklogState:
    """Compensation: cancel every task of the order and undo its allocation (units stay in their bins).

    ``status`` is ``RETURNED``, or null when the warehouse never had the order.

    Raises:
        Conflict: ``AlreadyIssued`` once the goods left.
    """
    now = datetime.now(UTC)
    order = await repo.get_backlog(order_id, for_update=True)
    if order is None or order.placed_at is None:
        return BacklogState(order_id=order_id, status=None)
    if order.issued_at is not None:
        raise Conflict(f"goods of order {order_id} were issued", type="AlreadyIssued")
    await cancel_tasks(repo, await repo.tasks_of_order(order_id, for_update=True), now)
    if order.picks_returned_at is None:
        order.picks_returned_at, order.updated_at = now, now
        await repo.save(order)
    return BacklogState(order_id=order_id, status="RETURNED")


async def issue(repo: WarehouseRepository, order_id: str) -> IssueState:
    """Goods issue: every bin gives up what was picked from it (quantity and allocation); a repeat answers the same.

    Raises:
        NotFound: ``OrderNotFound``.
        Conflict: ``PicksReturned``; ``TasksOpen`` while a task of the order is OPEN/ASSIGNED.
    """
    now = datetime.now(UTC)
    order = await repo.get_backlog(order_id, for_update=True)
    if order is None or order.placed_at is None:
        raise NotFound(f"order {order_id} is not in the warehouse", type="OrderNotFound")
    if order.picks_returned_at is not None:
        raise Conflict(f"picks of order {order_id} were returned", type="PicksReturned")
    tasks = await repo.tasks_of_order(order_id, for_update=True)
    if order.issued_at is None:
        open_tasks = [t.task_id for t in tasks if t.status in LIVE_TASKS]
        if open_tasks:
            raise Conflict(
                f"order {order_id} has {len(open_tasks)} tasks still to pick",
                type="TasksOpen",
                extra={"task_ids": open_tasks},
            )
        await _take_picked(repo, tasks)
        order.issued_at, order.updated_at = now, now
        await repo.save(order)
    return IssueState(order_id=order_id, status="ISSUED", lines=issued_lines(order, tasks))


async def _take_picked(repo: WarehouseRepository, tasks: Sequence[PickTask]) -> None:
    picked = [t for t in tasks if t.status in PICKED_TASKS and t.picked_quantity > 0]
    await repo.lock_bins(t.bin_id for t in picked)
    for task in sorted(picked, key=lambda t: t.bin_id):
        await repo.change_bin(task.bin_id, quantity=-task.picked_quantity, allocated=-task.picked_quantity)


async def restock(repo: WarehouseRepository, order_id: str) -> RestockState:
    """A failed delivery came back: the issued units go back into the bins (location and lot) they were picked from.

    What was issued is what the order's PICKED/SHORT tasks hold (their
    ``picked_quantity``; tasks do not change after issue). The units come back
    free (not allocated), also into a locked bin; a bin row that is gone is made
    again. Done once (``restocked_at``): a repeat answers the same lines.

    Raises:
        NotFound: ``OrderNotFound``.
        Conflict: ``NotIssued`` before goods issue (also after ``return-picks``).
    """
    now = datetime.now(UTC)
    order = await repo.get_backlog(order_id, for_update=True)
    if order is None or order.placed_at is None:
        raise NotFound(f"order {order_id} is not in the warehouse", type="OrderNotFound")
    if order.issued_at is None:
        raise Conflict(f"goods of order {order_id} were not issued; nothing to restock", type="NotIssued")
    by_bin = _issued_by_bin(await repo.tasks_of_order(order_id))
    if order.restocked_at is None:
        await repo.lock_bins(by_bin)
        for bin_id in sorted(by_bin):
            task, quantity = by_bin[bin_id]
            await repo.put_back(task, quantity, now)
        order.restocked_at, order.updated_at = now, now
        await repo.save(order)
    lines = [
        RestockLine(sku=task.sku, location=task.location, lot=task.lot, quantity=quantity)
        for task, quantity in sorted(by_bin.values(), key=lambda item: (item[0].sku, item[0].pick_seq, item[0].bin_id))
    ]
    return RestockState(order_id=order_id, status="RESTOCKED", lines=lines)


def _issued_by_bin(tasks: Sequence[PickTask]) -> dict[int, tuple[PickTask, int]]:
    """Units issued from each bin row (several tasks may have picked from one), with one of its tasks."""
    issued: dict[int, tuple[PickTask, int]] = {}
    for task in tasks:
        if task.status in PICKED_TASKS and task.picked_quantity > 0:
            first, quantity = issued.get(task.bin_id, (task, 0))
            issued[task.bin_id] = (first, quantity + task.picked_quantity)
    return issued

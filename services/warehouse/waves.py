"""Waves: planning from the backlog, FEFO/FIFO allocation, and the wave's transitions.

``PLANNED → RELEASED → PICKING → DONE``, or ``CANCELLED`` while PLANNED.
Planning takes waiting orders with ``FOR UPDATE SKIP LOCKED``, so two
planners at once never take the same order. Allocation locks the candidate
bin rows ``FOR UPDATE`` in ``id`` order before it counts their free units, so
two allocations at once queue on the rows instead of both taking the last unit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from common.errors import Conflict, NotFound
from services.warehouse.models import (
    LIVE_TASKS,
    BacklogStatus,
    BinStock,
    Location,
    PickTask,
    Shortage,
    Wave,
    WaveAllocation,
    WaveCreate,
    WavePublic,
    WaveStatus,
)
from services.warehouse.repository import WarehouseRepository, fefo_key, planning_key
from services.warehouse.service import cancel_tasks, counts, wave_view, wave_views

#: Waves whose tasks pickers may work on (DONE too: a re-pick or re-allocation after completion).
PICKABLE_WAVES = (WaveStatus.RELEASED, WaveStatus.PICKING, WaveStatus.DONE)


def illegal(wave: Wave, action: str) -> Conflict:
    return Conflict(
        f"wave {wave.wave_id} is {wave.status}; cannot {action}",
        type="IllegalWaveTransition",
        extra={"status": wave.status},
    )


async def get_wave(repo: WarehouseRepository, wave_id: str, *, for_update: bool = False) -> Wave:
    wave = await repo.get_wave(wave_id, for_update=for_update)
    if wave is None:
        raise NotFound(f"no wave {wave_id}", type="WaveNotFound")
    return wave


async def allocate_units(
    repo: WarehouseRepository, wave_id: str, demands: Sequence[tuple[str, str, int]], now: datetime
) -> tuple[list[PickTask], list[Shortage]]:
    """Allocate ``(order_id, sku, quantity)`` demands from unlocked bins, FEFO then FIFO.

    Returns:
        The new OPEN tasks in pick-path order, and what no bin had.
    """
    candidates: dict[str, list[tuple[BinStock, Location]]] = defaultdict(list)
    for item in await repo.lock_free_bins(sku for _, sku, _ in demands):
        candidates[item[0].sku].append(item)
    free: dict[int, int] = {}
    for items in candidates.values():
        items.sort(key=fefo_key)
        free.update({b.id: b.quantity - b.allocated for b, _ in items if b.id is not None})
    tasks: list[PickTask] = []
    shortages: list[Shortage] = []
    for order_id, sku, quantity in demands:
        remaining = quantity
        for bin_row, location in candidates.get(sku, []):
            assert bin_row.id is not None
            take = min(remaining, free[bin_row.id])
            if take <= 0:
                continue
            free[bin_row.id] -= take
            remaining -= take
            await repo.change_bin(bin_row.id, allocated=take)
            task = await repo.add_task(
                wave_id=wave_id,
                order_id=order_id,
                bin_row=bin_row,
                bin_id=bin_row.id,
                pick_seq=location.pick_seq,
                quantity=take,
                now=now,
            )
            tasks.append(task)
            if remaining == 0:
                break
        if remaining:
            shortages.append(Shortage(order_id=order_id, sku=sku, quantity=remaining))
    return sorted(tasks, key=lambda t: (t.pick_seq, t.seq or 0)), shortages


async def plan(repo: WarehouseRepository, body: WaveCreate) -> WavePublic:
    """Plan wave ``wave_id`` from the waiting orders (cutoff, priority desc, placed), within the limits.

    An order whose lines would pass ``max_lines`` is skipped (a smaller one may
    still fit). A repeat with the same limits answers the wave.

    Raises:
        Conflict: ``NothingToPlan`` (and no wave is stored); ``WaveExists``
            when the id was planned with other limits.
    """
    now = datetime.now(UTC)
    claimed = await repo.claim_wave(
        {
            "wave_id": body.wave_id,
            "status": WaveStatus.PLANNED,
            "max_orders": body.max_orders,
            "max_lines": body.max_lines,
            "created_at": now,
            "updated_at": now,
        }
    )
    wave = await get_wave(repo, body.wave_id)
    if not claimed:
        if (wave.max_orders, wave.max_lines) != (body.max_orders, body.max_lines):
            raise Conflict(f"wave {body.wave_id} exists with other limits", type="WaveExists")
        return await wave_view(repo, wave)
    chosen: list[str] = []
    lines = 0
    after = None
    batch_size = min(max(body.max_orders * 2, 50), 1000)
    while len(chosen) < body.max_orders and lines < body.max_lines:
        batch = await repo.waiting(after=after, limit=batch_size, lock=True)
        if not batch:
            break
        for order in batch:
            if len(chosen) == body.max_orders:
                break
            if lines + order.line_count > body.max_lines:
                continue
            chosen.append(order.order_id)
            lines += order.line_count
            order.status, order.wave_id, order.updated_at = BacklogStatus.PLANNED, body.wave_id, now
            repo.session.add(order)
        after = planning_key(batch[-1])
    if not chosen:
        raise Conflict("no order is waiting for a wave", type="NothingToPlan")
    await repo.session.flush()
    await repo.add_wave_orders(body.wave_id, chosen)
    return await wave_view(repo, wave)


async def _allocation(repo: WarehouseRepository, wave: Wave) -> WaveAllocation:
    view = await wave_view(repo, wave)
    shortages = [Shortage.model_validate(s) for s in wave.shortages or []]
    return WaveAllocation(**view.model_dump(), shortages=shortages)


async def allocate(repo: WarehouseRepository, wave_id: str) -> WaveAllocation:
    """Allocate every line of the wave's orders (in planning order); a repeat answers the first allocation.

    Raises:
        Conflict: ``IllegalWaveTransition`` for a wave never allocated and no longer PLANNED.
    """
    now = datetime.now(UTC)
    wave = await get_wave(repo, wave_id, for_update=True)
    if wave.allocated_at is not None:
        return await _allocation(repo, wave)
    if wave.status != WaveStatus.PLANNED:
        raise illegal(wave, "allocate")
    demands = [
        (order.order_id, str(line["sku"]), int(line["quantity"]))
        for order in await repo.backlog_of_wave(wave_id)
        for line in order.lines
    ]
    _, shortages = await allocate_units(repo, wave_id, demands, now)
    wave.allocated_at, wave.updated_at = now, now
    wave.shortages = [s.model_dump() for s in shortages]
    await repo.save(wave)
    return await _allocation(repo, wave)


async def release(repo: WarehouseRepository, wave_id: str) -> WavePublic:
    """PLANNED → RELEASED: its orders are on the floor (no longer withdrawable without returning picks)."""
    now = datetime.now(UTC)
    wave = await get_wave(repo, wave_id, for_update=True)
    if wave.status != WaveStatus.PLANNED:
        raise illegal(wave, "release")
    for order in await repo.backlog_of_wave(wave_id, for_update=True):
        if order.wave_id == wave_id:
            order.status, order.updated_at = BacklogStatus.RELEASED, now
            repo.session.add(order)
    wave.status, wave.released_at, wave.updated_at = WaveStatus.RELEASED, now, now
    await repo.save(wave)
    return await wave_view(repo, wave)


async def remove_order(repo: WarehouseRepository, wave_id: str, order_id: str) -> WavePublic:
    """Send one order of a PLANNED wave back to the backlog, its tasks cancelled; not in the wave → no change."""
    now = datetime.now(UTC)
    wave = await get_wave(repo, wave_id, for_update=True)
    if wave.status != WaveStatus.PLANNED:
        raise illegal(wave, "remove an order")
    order = await repo.get_backlog(order_id, for_update=True)
    if order is not None and order.wave_id == wave_id:
        tasks = [t for t in await repo.tasks_of_order(order_id, for_update=True) if t.wave_id == wave_id]
        await cancel_tasks(repo, tasks, now)
        await repo.remove_wave_order(wave_id, order_id)
        order.status, order.wave_id, order.updated_at = BacklogStatus.WAITING, None, now
        await repo.save(order)
    return await wave_view(repo, wave)


async def complete(repo: WarehouseRepository, wave_id: str) -> WavePublic:
    """RELEASED/PICKING → DONE once no task is OPEN or ASSIGNED (409 ``TasksOpen``); DONE again → same."""
    now = datetime.now(UTC)
    wave = await get_wave(repo, wave_id, for_update=True)
    if wave.status == WaveStatus.DONE:
        return await wave_view(repo, wave)
    if wave.status not in (WaveStatus.RELEASED, WaveStatus.PICKING):
        raise illegal(wave, "complete")
    tasks = await repo.tasks_of_waves([wave_id])
    if any(t.status in LIVE_TASKS for t in tasks):
        tally = counts(tasks)
        raise Conflict(
            f"wave {wave_id} has {tally.open} open and {tally.assigned} assigned tasks",
            type="TasksOpen",
            extra={"open": tally.open, "assigned": tally.assigned},
        )
    wave.status, wave.done_at, wave.updated_at = WaveStatus.DONE, now, now
    await repo.save(wave)
    return await wave_view(repo, wave)


async def cancel(repo: WarehouseRepository, wave_id: str) -> WavePublic:
    """PLANNED → CANCELLED: its orders wait again, its tasks are cancelled and their allocation undone."""
    now = datetime.now(UTC)
    wave = await get_wave(repo, wave_id, for_update=True)
    if wave.status == WaveStatus.CANCELLED:
        return await wave_view(repo, wave)
    if wave.status != WaveStatus.PLANNED:
        raise illegal(wave, "cancel")
    for order in await repo.backlog_of_wave(wave_id, for_update=True):
        if order.wave_id == wave_id:
            order.status, order.wave_id, order.updated_at = BacklogStatus.WAITING, None, now
            repo.session.add(order)
    await repo.session.flush()
    await cancel_tasks(repo, await repo.lock_tasks_of_wave(wave_id), now)
    wave.status, wave.updated_at = WaveStatus.CANCELLED, now
    await repo.save(wave)
    return await wave_view(repo, wave)


async def list_waves(
    repo: WarehouseRepository, *, status: WaveStatus | None, limit: int, offset: int
) -> list[WavePublic]:
    return await wave_views(repo, await repo.list_waves(status=status, limit=limit, offset=offset))

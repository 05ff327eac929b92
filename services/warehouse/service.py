"""Warehouse rules for locations, bin stock and the wave backlog, and the views every route answers.

Waves live in :mod:`services.warehouse.waves`, picking in
:mod:`services.warehouse.picking`. Concurrency is settled in the database:
rows are locked in the order :mod:`services.warehouse.repository` documents,
and the table constraints (``0 ≤ allocated ≤ quantity``) are the last guard.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

from common.errors import Conflict, NotFound
from services.warehouse.models import (
    LIVE_TASKS,
    PICKED_TASKS,
    BacklogIn,
    BacklogOrder,
    BacklogPublic,
    BacklogState,
    BacklogStatus,
    BinStockPublic,
    LinePublic,
    Location,
    LocationPublic,
    LocationType,
    PickTask,
    ServiceLevel,
    StockTotalPublic,
    TaskCounts,
    TaskPublic,
    TaskStatus,
    Wave,
    WavePublic,
)
from services.warehouse.repository import WarehouseRepository
from services.warehouse.settings import WarehouseSettings

# --- views --------------------------------------------------------------------------------------------------------


def task_public(task: PickTask) -> TaskPublic:
    return TaskPublic.model_validate(task, from_attributes=True)


def location_public(location: Location) -> LocationPublic:
    return LocationPublic.model_validate(location, from_attributes=True)


def backlog_public(order: BacklogOrder) -> BacklogPublic:
    return BacklogPublic.model_validate(order, from_attributes=True)


def counts(tasks: Sequence[PickTask]) -> TaskCounts:
    by_status = Counter(t.status for t in tasks)
    return TaskCounts(**{status.lower(): n for status, n in by_status.items()})


async def wave_views(repo: WarehouseRepository, waves: Sequence[Wave]) -> list[WavePublic]:
    ids = [w.wave_id for w in waves]
    order_ids = await repo.wave_order_ids(ids)
    tasks: dict[str, list[PickTask]] = {w: [] for w in ids}
    for task in await repo.tasks_of_waves(ids):
        tasks[task.wave_id].append(task)
    return [
        WavePublic(
            wave_id=w.wave_id,
            status=w.status,
            order_ids=order_ids[w.wave_id],
            tasks=[task_public(t) for t in tasks[w.wave_id]],
            counts=counts(tasks[w.wave_id]),
            max_orders=w.max_orders,
            max_lines=w.max_lines,
            created_at=w.created_at,
            released_at=w.released_at,
            done_at=w.done_at,
        )
        for w in waves
    ]


async def wave_view(repo: WarehouseRepository, wave: Wave) -> WavePublic:
    return (await wave_views(repo, [wave]))[0]


def held_by(task: PickTask) -> int:
    """Units of its bin row the task keeps allocated."""
    if task.status in LIVE_TASKS:
        return task.quantity
    if task.status in PICKED_TASKS:
        return task.picked_quantity
    return 0


async def cancel_tasks(repo: WarehouseRepository, tasks: Sequence[PickTask], now: datetime) -> None:
    """Cancel ``tasks`` (locked by the caller) and give their allocation back to the bins."""
    tasks = [t for t in tasks if t.status != TaskStatus.CANCELLED]
    await repo.lock_bins(t.bin_id for t in tasks)
    for task in sorted(tasks, key=lambda t: t.bin_id):
        if held := held_by(task):
            await repo.change_bin(task.bin_id, allocated=-held)
    await repo.set_task_status([t.task_id for t in tasks], TaskStatus.CANCELLED, now)


# --- locations and stock ------------------------------------------------------------------------------------------


async def get_location(repo: WarehouseRepository, code: str, *, for_update: bool = False) -> Location:
    location = await repo.get_location(code, for_update=for_update)
    if location is None:
        raise NotFound(f"no location {code}", type="LocationNotFound")
    return location


async def lock_location(repo: WarehouseRepository, code: str, reason: str | None) -> LocationPublic:
    """Lock (``reason`` given) or unlock a location; a locked bin is never allocated.

    Raises:
        NotFound: ``LocationNotFound``.
        Conflict: ``AdjustmentBin``: the stock-adjustment bin stays locked as it is, for good.
    """
    location = await get_location(repo, code, for_update=True)
    if location.type == LocationType.ADJUST:
        raise Conflict(f"{code} is the stock-adjustment bin: locked for good", type="AdjustmentBin")
    location.locked, location.lock_reason = reason is not None, reason
    location.updated_at = datetime.now(UTC)
    await repo.save(location)
    return location_public(location)


async def stock(
    repo: WarehouseRepository, *, sku: str | None, location: str | None, limit: int, offset: int
) -> list[BinStockPublic]:
    rows = await repo.stock(sku=sku, location=location, limit=limit, offset=offset)
    return [BinStockPublic.model_validate(r, from_attributes=True) for r in rows]


async def stock_totals(repo: WarehouseRepository) -> list[StockTotalPublic]:
    return [StockTotalPublic(sku=s, quantity=q, allocated=a) for s, q, a in await repo.stock_totals()]


# --- backlog ------------------------------------------------------------------------------------------------------


def next_cutoff(placed_at: datetime, level: ServiceLevel, settings: WarehouseSettings) -> datetime:
    """The first carrier cutoff of ``level`` strictly after ``placed_at`` (daily, UTC)."""
    cutoff: time = settings.express_cutoff if level == ServiceLevel.EXPRESS else settings.standard_cutoff
    at = placed_at.astimezone(UTC)
    today = datetime.combine(at.date(), cutoff.replace(tzinfo=None), tzinfo=UTC)
    return today if at < today else today + timedelta(days=1)


def merged_lines(body: BacklogIn) -> list[dict[str, object]]:
    merged: Counter[str] = Counter()
    for line in body.lines:
        merged[line.sku] += line.quantity
    return [{"sku": sku, "quantity": q} for sku, q in sorted(merged.items())]


async def enqueue(repo: WarehouseRepository, body: BacklogIn, settings: WarehouseSettings) -> BacklogPublic:
    """Put an accepted order in the backlog; a repeat answers its current state.

    A new order is one insert, answered from the request; a repeat reads the row.

    Raises:
        Conflict: ``OrderWithdrawn`` after a withdraw (or its tombstone);
            ``BacklogMismatch`` when the order came before with other content.
    """
    lines = merged_lines(body)
    placed_at = body.placed_at.astimezone(UTC)
    cutoff_at = next_cutoff(body.placed_at, body.service_level, settings)
    facts = {"service_level": body.service_level, "priority": body.priority, "placed_at": placed_at, "lines": lines}
    if await repo.enqueue(
        {
            "order_id": body.order_id,
            **facts,
            "cutoff_at": cutoff_at,
            "line_count": len(lines),
            "at": datetime.now(UTC),
        }
    ):
        return BacklogPublic(
            order_id=body.order_id, status=BacklogStatus.WAITING, cutoff_at=cutoff_at, wave_id=None, **facts
        )
    order = await repo.backlog_row(body.order_id)
    assert order is not None
    if order["status"] == BacklogStatus.WITHDRAWN:
        raise Conflict(f"order {body.order_id} was withdrawn from the warehouse", type="OrderWithdrawn")
    if {name: order[name] for name in facts} != facts:
        raise Conflict(f"order {body.order_id} is in the backlog with other content", type="BacklogMismatch")
    return BacklogPublic(order_id=body.order_id, **order)


async def _lock_order_and_wave(repo: WarehouseRepository, order_id: str) -> tuple[BacklogOrder | None, Wave | None]:
    """Lock the order's wave (if any), then the order: the documented lock order, re-read if the order moved."""
    for _ in range(5):
        seen = await repo.get_backlog(order_id)
        if seen is None:
            return None, None
        wave = await repo.get_wave(seen.wave_id, for_update=True) if seen.wave_id else None
        order = await repo.get_backlog(order_id, for_update=True)
        assert order is not None
        if order.wave_id == seen.wave_id:
            return order, wave
    raise Conflict(f"order {order_id} is changing concurrently; retry", type="Conflict")


async def withdraw(repo: WarehouseRepository, order_id: str) -> BacklogState:
    """Take an order out of the backlog (and out of a PLANNED wave, undoing its allocation).

    Nothing there: a tombstone is left (``status: null``) so a late enqueue is refused.

    Raises:
        Conflict: ``OrderReleased`` when its wave is on the floor and its picks
            were not returned (PickPackShip's ``return-picks`` comes first).
    """
    now = datetime.now(UTC)
    fast = await repo.withdraw_waiting(order_id, now)
    if fast["withdrawn"]:
        return BacklogState(order_id=order_id, status=BacklogStatus.WITHDRAWN)
    if fast["tombstone"]:
        return BacklogState(order_id=order_id, status=None)
    # In a wave, already withdrawn, or enqueued while the statement above waited on its insert:
    # the row is there (the tombstone's insert met it) and backlog rows are never deleted.
    order, wave = await _lock_order_and_wave(repo, order_id)
    assert order is not None
    if order.status == BacklogStatus.WITHDRAWN:
        return BacklogState(order_id=order_id, status=None if order.placed_at is None else order.status)
    if order.status == BacklogStatus.RELEASED and (order.picks_returned_at is None or order.issued_at is not None):
        raise Conflict(
            f"order {order_id} is in released wave {order.wave_id}; return its picks first", type="OrderReleased"
        )
    if order.status == BacklogStatus.PLANNED and wave is not None:
        await cancel_tasks(repo, await repo.tasks_of_order(order_id, for_update=True), now)
        await repo.remove_wave_order(wave.wave_id, order_id)
        order.wave_id = None
    order.status, order.updated_at = BacklogStatus.WITHDRAWN, now
    await repo.save(order)
    return BacklogState(order_id=order_id, status=order.status)


async def waiting(repo: WarehouseRepository, *, limit: int, offset: int) -> list[BacklogPublic]:
    """Waiting orders in planning order (``offset`` skips the first ones)."""
    rows = await repo.waiting(after=None, limit=limit + offset, lock=False)
    return [backlog_public(o) for o in rows[offset:]]


def issued_lines(order: BacklogOrder, tasks: Sequence[PickTask]) -> list[LinePublic]:
    """Units picked per SKU of the order (0 for a line nothing was picked of)."""
    picked: Counter[str] = Counter({str(line["sku"]): 0 for line in order.lines})
    for task in tasks:
        if task.status in PICKED_TASKS:
            picked[task.sku] += task.picked_quantity
    return [LinePublic(sku=sku, quantity=q) for sku, q in sorted(picked.items())]

"""Every warehouse query. Repositories never commit; the caller's unit of work does.

Lock order, so concurrent units of work never deadlock: a wave or backlog row
first, then pick tasks (by ``task_id``), then a location, then bin rows (by
``id``). ERP adjustments lock their new ``applied_adjustments`` rows (by ``id``),
then the adjustment bin's rows (by SKU, ``COLLATE "C"``); they touch no other
bin, and a move holds at most one of those rows.

The saga's calls (enqueue, and withdraw, its compensation) run plain SQL
straight through asyncpg on the session's connection (:mod:`common.sql`), one
statement each in the usual case, no ORM object loaded or flushed
(docs/performance.md). Everything else uses the ORM models.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from asyncpg import Record
from sqlalchemy import func, literal_column, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from common.sql import Sql, driver_connection
from services.warehouse.models import (
    ADJUSTMENT_BIN,
    BacklogOrder,
    BacklogStatus,
    BinStock,
    Location,
    LocationType,
    PickTask,
    TaskStatus,
    Wave,
    WaveOrder,
    WaveStatus,
)

#: Put an order in the backlog, WAITING; no row back when the order already has a backlog row.
ENQUEUE_SQL = Sql(
    """
    INSERT INTO backlog (order_id, status, service_level, priority, placed_at, cutoff_at, lines, line_count,
                         created_at, updated_at)
    VALUES (:order_id, 'WAITING', :service_level, :priority, :placed_at, :cutoff_at, :lines, :line_count, :at, :at)
    ON CONFLICT (order_id) DO NOTHING
    RETURNING order_id
    """,
    json=("lines",),
)

#: What an enqueue compares and answers of an order's backlog row.
BACKLOG_SQL = Sql(
    "SELECT status, service_level, priority, placed_at, cutoff_at, wave_id, lines FROM backlog WHERE order_id = :order_id"
)

#: Withdraw a WAITING order (in no wave, so its row is all there is to lock), or leave a tombstone
#: when the order never came. Neither row back: the order is in a wave, or already withdrawn, or
#: an enqueue committed it while this statement waited on its insert (not in this statement's snapshot).
WITHDRAW_SQL = Sql(
    """
    WITH withdrawn AS (
        UPDATE backlog SET status = 'WITHDRAWN', updated_at = :at
        WHERE order_id = :order_id AND status = 'WAITING' AND wave_id IS NULL
        RETURNING order_id
    ), tombstone AS (
        INSERT INTO backlog (order_id, status, lines, line_count, created_at, updated_at)
        VALUES (:order_id, 'WITHDRAWN', CAST('[]' AS jsonb), 0, :at, :at)
        ON CONFLICT (order_id) DO NOTHING
        RETURNING order_id
    )
    SELECT EXISTS (SELECT FROM withdrawn) AS withdrawn, EXISTS (SELECT FROM tombstone) AS tombstone
    """
)


#: Apply ERP adjustments once each: record the ids not seen before (in id order) and add their deltas,
#: summed per SKU, to the SKU's row (lot null) in the adjustment bin, made when missing (in SKU order).
#: A concurrent call carrying the same ids waits on their inserts and then skips them, so it adds nothing.
#: Every id is inserted before any bin row is touched (the sum needs them all). Answers how many applied.
APPLY_ADJUSTMENTS_SQL = Sql(
    """
    WITH applied AS (
        INSERT INTO applied_adjustments (id, sku, delta, applied_at)
        SELECT g.id, g.sku, g.delta, CAST(:at AS timestamptz)
        FROM unnest(CAST(:ids AS bigint[]), CAST(:skus AS text[]), CAST(:deltas AS integer[])) AS g(id, sku, delta)
        ORDER BY g.id
        ON CONFLICT (id) DO NOTHING
        RETURNING sku, delta
    ), booked AS (
        INSERT INTO bin_stock AS b (location, sku, lot, expiry_date, received_at, quantity, allocated)
        SELECT CAST(:bin AS varchar), a.sku, NULL, NULL, CAST(:at AS timestamptz), sum(a.delta), 0
        FROM applied a
        GROUP BY a.sku
        HAVING sum(a.delta) <> 0
        ORDER BY a.sku COLLATE "C"
        ON CONFLICT (location, sku, coalesce(lot, '')) DO UPDATE SET quantity = b.quantity + excluded.quantity
    )
    SELECT count(*) FROM applied
    """
)

#: Ids already applied with another SKU or delta than given (a reset inventory reusing its ids, say).
MISMATCHED_ADJUSTMENTS_SQL = Sql(
    """
    SELECT s.id
    FROM applied_adjustments s
    JOIN unnest(CAST(:ids AS bigint[]), CAST(:skus AS text[]), CAST(:deltas AS integer[])) AS g(id, sku, delta)
      ON g.id = s.id
    WHERE s.sku <> g.sku OR s.delta <> g.delta
    ORDER BY s.id
    LIMIT 20
    """
)


class WarehouseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _row(self, statement: Sql, params: dict[str, Any]) -> Record | None:
        # Straight through asyncpg on the session's connection, in its transaction (common/sql.py).
        return await statement.fetchrow(await driver_connection(self.session), **params)

    # --- locations -----------------------------------------------------------------------------------------------

    async def list_locations(
        self, *, zone: str | None, locked: bool | None, limit: int, offset: int
    ) -> Sequence[Location]:
        stmt = select(Location)
        if zone is not None:
            stmt = stmt.where(col(Location.zone) == zone)
        if locked is not None:
            stmt = stmt.where(col(Location.locked) == locked)
        result = await self.session.exec(stmt.order_by(col(Location.pick_seq)).limit(limit).offset(offset))
        return result.all()

    async def get_location(self, code: str, *, for_update: bool = False) -> Location | None:
        stmt = select(Location).where(col(Location.code) == code)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt.execution_options(populate_existing=True))).first()

    async def save(self, row: Any) -> None:
        self.session.add(row)
        await self.session.flush()

    # --- bin stock -----------------------------------------------------------------------------------------------

    async def stock(self, *, sku: str | None, location: str | None, limit: int, offset: int) -> Sequence[BinStock]:
        stmt = select(BinStock).join(Location, col(Location.code) == col(BinStock.location))
        if sku is not None:
            stmt = stmt.where(col(BinStock.sku) == sku)
        if location is not None:
            stmt = stmt.where(col(BinStock.location) == location)
        stmt = stmt.order_by(col(BinStock.sku), col(Location.pick_seq), col(BinStock.id)).limit(limit).offset(offset)
        return (await self.session.exec(stmt)).all()

    async def stock_totals(self) -> list[tuple[str, int, int]]:
        stmt = (
            select(BinStock.sku, func.sum(BinStock.quantity), func.sum(BinStock.allocated))
            .group_by(col(BinStock.sku))
            .order_by(col(BinStock.sku))
        )
        return [(sku, int(q), int(a)) for sku, q, a in (await self.session.exec(stmt)).all()]

    async def lock_free_bins(self, skus: Iterable[str]) -> list[tuple[BinStock, Location]]:
        """Lock every bin row of ``skus`` with free units in an unlocked location, in ``id`` order.

        Sorted afterwards by the caller's rule; the lock order is always ``id``,
        so two allocations over overlapping SKUs queue instead of deadlocking,
        and the second sees the first's allocation once it gets the rows.
        """
        stmt = (
            select(BinStock, Location)
            .join(Location, col(Location.code) == col(BinStock.location))
            .where(col(BinStock.sku).in_(sorted(set(skus))))
            .where(col(Location.locked).is_(False))
            # Never the adjustment bin, even were it unlocked: its units are nowhere in particular.
            .where(col(Location.type) != LocationType.ADJUST)
            .where(col(BinStock.quantity) > col(BinStock.allocated))
            .order_by(col(BinStock.id))
            .with_for_update(of=BinStock)
            .execution_options(populate_existing=True)
        )
        return [(b, loc) for b, loc in (await self.session.exec(stmt)).all()]

    async def lock_bins(self, ids: Iterable[int]) -> dict[int, BinStock]:
        stmt = (
            select(BinStock)
            .where(col(BinStock.id).in_(sorted(set(ids))))
            .order_by(col(BinStock.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {b.id: b for b in (await self.session.exec(stmt)).all() if b.id is not None}

    async def change_bin(self, bin_id: int, *, quantity: int = 0, allocated: int = 0) -> None:
        """Add to a bin row's ``quantity`` and ``allocated`` (negative to take); the table's checks guard the result."""
        await self.session.exec(
            update(BinStock)
            .where(col(BinStock.id) == bin_id)
            .values(quantity=col(BinStock.quantity) + quantity, allocated=col(BinStock.allocated) + allocated)
        )

    async def apply_adjustments(
        self, ids: Sequence[int], skus: Sequence[str], deltas: Sequence[int], at: datetime
    ) -> int:
        """Apply adjustments with distinct ``ids`` once each (:data:`APPLY_ADJUSTMENTS_SQL`); how many applied now."""
        applied = await APPLY_ADJUSTMENTS_SQL.fetchval(
            await driver_connection(self.session), ids=ids, skus=skus, deltas=deltas, at=at, bin=ADJUSTMENT_BIN
        )
        return int(applied)

    async def mismatched_adjustments(self, ids: Sequence[int], skus: Sequence[str], deltas: Sequence[int]) -> list[int]:
        """Up to 20 of ``ids`` stored with another SKU or delta (:data:`MISMATCHED_ADJUSTMENTS_SQL`)."""
        rows = await MISMATCHED_ADJUSTMENTS_SQL.fetch(
            await driver_connection(self.session), ids=ids, skus=skus, deltas=deltas
        )
        return [int(r["id"]) for r in rows]

    async def existing_locations(self, codes: Iterable[str]) -> set[str]:
        result = await self.session.exec(select(Location.code).where(col(Location.code).in_(sorted(set(codes)))))
        return set(result.all())

    @staticmethod
    def _same_lot(lot: str | None) -> Any:
        # The unique index's own expression (no lot counts as one lot), so the index serves it.
        return func.coalesce(col(BinStock.lot), "") == (lot or "")

    async def ensure_bins(
        self, sku: str, lot: str | None, locations: Iterable[str], *, expiry_from: str, now: datetime
    ) -> None:
        """Make the missing bin rows of ``sku`` and ``lot`` in ``locations`` (empty, received ``now``).

        Their expiry date is that of the row in ``expiry_from`` (the move's source), if it has one.
        """
        table = BinStock.__table__  # type: ignore[attr-defined]
        expiry = (
            select(col(BinStock.expiry_date))
            .where(col(BinStock.location) == expiry_from, col(BinStock.sku) == sku, self._same_lot(lot))
            .scalar_subquery()
        )
        rows = [
            {
                "location": code,
                "sku": sku,
                "lot": lot,
                "expiry_date": expiry,
                "received_at": now,
                "quantity": 0,
                "allocated": 0,
            }
            for code in sorted(set(locations))
        ]
        if rows:
            await self.session.exec(
                insert(table)
                .values(rows)
                .on_conflict_do_nothing(
                    index_elements=[table.c.location, table.c.sku, literal_column("coalesce(lot, '')")]
                )
            )

    async def lock_lot_bins(self, sku: str, lot: str | None, locations: Iterable[str]) -> dict[str, BinStock]:
        """Lock the bin rows of ``sku`` and ``lot`` in ``locations``, in ``id`` order; by location."""
        stmt = (
            select(BinStock)
            .where(col(BinStock.location).in_(sorted(set(locations))), col(BinStock.sku) == sku, self._same_lot(lot))
            .order_by(col(BinStock.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {b.location: b for b in (await self.session.exec(stmt)).all()}

    async def put_back(self, task: PickTask, quantity: int, now: datetime) -> None:
        """Add ``quantity`` free units to the bin row of ``task``'s location, SKU and lot.

        A row that is gone is made again (received ``now``, the task's expiry date);
        the unique index on location, SKU and lot settles a concurrent insert.
        """
        table = BinStock.__table__  # type: ignore[attr-defined]
        stmt = insert(table).values(
            location=task.location,
            sku=task.sku,
            lot=task.lot,
            expiry_date=task.expiry_date,
            received_at=now,
            quantity=quantity,
            allocated=0,
        )
        await self.session.exec(
            stmt.on_conflict_do_update(
                # The index's own expression (no lot counts as one lot), so Postgres infers it.
                index_elements=[table.c.location, table.c.sku, literal_column("coalesce(lot, '')")],
                set_={"quantity": table.c.quantity + stmt.excluded.quantity},
            )
        )

    # --- backlog -------------------------------------------------------------------------------------------------

    async def enqueue(self, values: dict[str, Any]) -> bool:
        """Put an order in the backlog (:data:`ENQUEUE_SQL`); False when it already has a backlog row."""
        return await self._row(ENQUEUE_SQL, values) is not None

    async def backlog_row(self, order_id: str) -> Record | None:
        """The order's backlog row as :data:`BACKLOG_SQL` reads it, or None."""
        return await self._row(BACKLOG_SQL, {"order_id": order_id})

    async def withdraw_waiting(self, order_id: str, at: datetime) -> Record:
        """Withdraw a WAITING order or leave a tombstone (:data:`WITHDRAW_SQL`): ``withdrawn`` / ``tombstone``."""
        row = await self._row(WITHDRAW_SQL, {"order_id": order_id, "at": at})
        assert row is not None
        return row

    async def get_backlog(self, order_id: str, *, for_update: bool = False) -> BacklogOrder | None:
        stmt = select(BacklogOrder).where(col(BacklogOrder.order_id) == order_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt.execution_options(populate_existing=True))).first()

    @staticmethod
    def _planning_key() -> Any:
        return tuple_(
            col(BacklogOrder.cutoff_at),
            -col(BacklogOrder.priority),
            col(BacklogOrder.placed_at),
            col(BacklogOrder.order_id),
        )

    async def waiting(
        self, *, after: tuple[datetime, int, datetime, str] | None, limit: int, lock: bool
    ) -> Sequence[BacklogOrder]:
        """Waiting orders in planning order (cutoff, priority desc, placed, id) after ``after``.

        With ``lock``, rows another planner holds are skipped (``SKIP LOCKED``).
        """
        stmt = select(BacklogOrder).where(col(BacklogOrder.status) == BacklogStatus.WAITING)
        if after is not None:
            cutoff_at, priority, placed_at, order_id = after
            stmt = stmt.where(self._planning_key() > tuple_(cutoff_at, -priority, placed_at, order_id))
        stmt = stmt.order_by(
            col(BacklogOrder.cutoff_at),
            col(BacklogOrder.priority).desc(),
            col(BacklogOrder.placed_at),
            col(BacklogOrder.order_id),
        ).limit(limit)
        if lock:
            stmt = stmt.with_for_update(skip_locked=True)
        return (await self.session.exec(stmt.execution_options(populate_existing=True))).all()

    async def backlog_of_wave(self, wave_id: str, *, for_update: bool = False) -> Sequence[BacklogOrder]:
        stmt = (
            select(BacklogOrder)
            .join(WaveOrder, col(WaveOrder.order_id) == col(BacklogOrder.order_id))
            .where(col(WaveOrder.wave_id) == wave_id)
            .order_by(col(WaveOrder.position))
        )
        if for_update:
            stmt = stmt.with_for_update(of=BacklogOrder)
        return (await self.session.exec(stmt.execution_options(populate_existing=True))).all()

    # --- waves ---------------------------------------------------------------------------------------------------

    async def claim_wave(self, values: dict[str, Any]) -> bool:
        table = Wave.__table__  # type: ignore[attr-defined]
        result = await self.session.exec(
            insert(table).values(**values).on_conflict_do_nothing(index_elements=["wave_id"]).returning(table.c.wave_id)
        )
        return result.first() is not None

    async def get_wave(self, wave_id: str, *, for_update: bool = False) -> Wave | None:
        stmt = select(Wave).where(col(Wave.wave_id) == wave_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt.execution_options(populate_existing=True))).first()

    async def list_waves(self, *, status: WaveStatus | None, limit: int, offset: int) -> Sequence[Wave]:
        stmt = select(Wave)
        if status is not None:
            stmt = stmt.where(col(Wave.status) == status)
        stmt = stmt.order_by(col(Wave.created_at).desc(), col(Wave.wave_id)).limit(limit).offset(offset)
        return (await self.session.exec(stmt)).all()

    async def add_wave_orders(self, wave_id: str, order_ids: Sequence[str]) -> None:
        self.session.add_all(WaveOrder(wave_id=wave_id, order_id=o, position=i) for i, o in enumerate(order_ids))
        await self.session.flush()

    async def remove_wave_order(self, wave_id: str, order_id: str) -> None:
        await self.session.exec(
            delete(WaveOrder).where(col(WaveOrder.wave_id) == wave_id, col(WaveOrder.order_id) == order_id)
        )

    async def wave_order_ids(self, wave_ids: Sequence[str]) -> dict[str, list[str]]:
        stmt = (
            select(WaveOrder)
            .where(col(WaveOrder.wave_id).in_(wave_ids))
            .order_by(col(WaveOrder.wave_id), col(WaveOrder.position))
        )
        found: dict[str, list[str]] = {w: [] for w in wave_ids}
        for row in (await self.session.exec(stmt)).all():
            found[row.wave_id].append(row.order_id)
        return found

    # --- tasks ---------------------------------------------------------------------------------------------------

    async def add_task(
        self,
        *,
        wave_id: str,
        order_id: str,
        bin_row: BinStock | PickTask,
        bin_id: int,
        pick_seq: int,
        quantity: int,
        now: datetime,
    ) -> PickTask:
        """A new OPEN task for ``quantity`` units at ``bin_row``'s location and lot (a bin row, or a task to repeat)."""
        task = PickTask(
            task_id=uuid.uuid4().hex,
            wave_id=wave_id,
            order_id=order_id,
            sku=bin_row.sku,
            bin_id=bin_id,
            location=bin_row.location,
            lot=bin_row.lot,
            expiry_date=bin_row.expiry_date,
            pick_seq=pick_seq,
            quantity=quantity,
            picked_quantity=0,
            status=TaskStatus.OPEN,
            created_at=now,
            updated_at=now,
        )
        table = PickTask.__table__  # type: ignore[attr-defined]
        values = {c.name: getattr(task, c.name) for c in table.columns if c.name != "seq"}
        task.seq = (await self.session.exec(insert(table).values(**values).returning(table.c.seq))).one()[0]
        return task

    def _tasks(self) -> Any:
        return select(PickTask).order_by(col(PickTask.pick_seq), col(PickTask.seq))

    async def tasks_of_waves(self, wave_ids: Sequence[str]) -> Sequence[PickTask]:
        stmt = self._tasks().where(col(PickTask.wave_id).in_(wave_ids))
        return (await self.session.exec(stmt.execution_options(populate_existing=True))).all()  # type: ignore[no-any-return]

    async def tasks_of_order(
        self, order_id: str, *, sku: str | None = None, for_update: bool = False
    ) -> Sequence[PickTask]:
        stmt = select(PickTask).where(col(PickTask.order_id) == order_id)
        if sku is not None:
            stmt = stmt.where(col(PickTask.sku) == sku)
        if for_update:
            # Locked in task_id order (the documented lock order), answered in pick-path order.
            stmt = stmt.order_by(col(PickTask.task_id)).with_for_update()
            rows = (await self.session.exec(stmt.execution_options(populate_existing=True))).all()
            return sorted(rows, key=lambda t: (t.pick_seq, t.seq or 0))
        stmt = stmt.order_by(col(PickTask.pick_seq), col(PickTask.seq))
        return (await self.session.exec(stmt.execution_options(populate_existing=True))).all()

    async def lock_tasks_of_wave(self, wave_id: str) -> Sequence[PickTask]:
        stmt = (
            select(PickTask)
            .where(col(PickTask.wave_id) == wave_id)
            .order_by(col(PickTask.task_id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(stmt)).all()

    async def get_task(self, task_id: str, *, for_update: bool = False) -> PickTask | None:
        stmt = select(PickTask).where(col(PickTask.task_id) == task_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt.execution_options(populate_existing=True))).first()

    async def assigned_task(self, picker: str, wave_id: str | None) -> PickTask | None:
        stmt = self._tasks().where(col(PickTask.status) == TaskStatus.ASSIGNED, col(PickTask.assigned_to) == picker)
        if wave_id is not None:
            stmt = stmt.where(col(PickTask.wave_id) == wave_id)
        return (await self.session.exec(stmt.limit(1).execution_options(populate_existing=True))).first()  # type: ignore[no-any-return]

    async def claim_open_task(self, wave_id: str | None, wave_statuses: Sequence[WaveStatus]) -> PickTask | None:
        """The first OPEN task in pick-path order of a released wave, locked; tasks another picker holds are skipped."""
        stmt = (
            self._tasks()
            .join(Wave, col(Wave.wave_id) == col(PickTask.wave_id))
            .where(col(PickTask.status) == TaskStatus.OPEN)
            .where(col(Wave.status).in_(wave_statuses))
        )
        if wave_id is not None:
            stmt = stmt.where(col(PickTask.wave_id) == wave_id)
        stmt = stmt.limit(1).with_for_update(of=PickTask, skip_locked=True)
        return (await self.session.exec(stmt.execution_options(populate_existing=True))).first()  # type: ignore[no-any-return]

    async def set_task_status(self, task_ids: Sequence[str], status: TaskStatus, now: datetime) -> None:
        if task_ids:
            await self.session.exec(
                update(PickTask).where(col(PickTask.task_id).in_(task_ids)).values(status=status, updated_at=now)
            )


def planning_key(order: BacklogOrder) -> tuple[datetime, int, datetime, str]:
    assert order.cutoff_at is not None
    assert order.placed_at is not None
    return order.cutoff_at, order.priority, order.placed_at, order.order_id


def fefo_key(item: tuple[BinStock, Location]) -> tuple[date, datetime, int, int, int]:
    """Earliest expiry first (FEFO), undated lots after, then earliest received (FIFO), pick faces before reserve."""
    bin_row, location = item
    return (
        bin_row.expiry_date or date.max,
        bin_row.received_at,
        0 if location.type == "PICK" else 1,
        location.pick_seq,
        bin_row.id or 0,
    )

"""Every inventory query. Repositories never commit; the caller's unit of work does.

The saga's calls (reserve, and release, its compensation) run plain SQL
straight through asyncpg on the session's connection (:mod:`common.sql`): a
reserve is one statement, a release one or two, and no ORM object is loaded
or flushed (docs/performance.md). Everything else uses the ORM models.

Lock order, so concurrent units of work never deadlock: the order's
reservation header first, then product rows in SKU order as Python sorts
SKUs (``COLLATE "C"`` in SQL, whatever the database's collation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from asyncpg import Record
from sqlalchemy import Row, func, text
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from common.sql import Sql, driver_connection
from services.inventory.models import (
    AdjustmentSource,
    MaterialIn,
    Product,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockAdjustment,
    StockIn,
)

# The ERP import's statements: one page is a handful of array parameters and one or two statements,
# never an object or a round trip per row. Rows are touched in SKU order (COLLATE "C"), the lock order of every
# multi-SKU change here (reservations too), so a page and a reservation never deadlock.
#: Insert new SKUs (no stock) and update those whose material data is older; a row back per change,
#: ``inserted`` telling which. Within a page the newest copy of a SKU wins (ON CONFLICT may touch a row once).
UPSERT_MATERIALS_SQL = text("""
INSERT INTO products AS p (sku, name, price_cents, currency, weight_grams, volume_cm3, ean, erp_changed_at,
                           on_hand, available, reserved, updated_at)
SELECT DISTINCT ON (m.sku COLLATE "C")
       m.sku, m.name, m.price_cents, m.currency, m.weight_grams, m.volume_cm3, m.ean, m.changed_at, 0, 0, 0, :now
FROM unnest(CAST(:skus AS text[]), CAST(:names AS text[]), CAST(:prices AS bigint[]), CAST(:currencies AS text[]),
            CAST(:weights AS integer[]), CAST(:volumes AS integer[]), CAST(:eans AS text[]),
            CAST(:changed AS timestamptz[]))
     AS m(sku, name, price_cents, currency, weight_grams, volume_cm3, ean, changed_at)
ORDER BY m.sku COLLATE "C", m.changed_at DESC
ON CONFLICT (sku) DO UPDATE
SET name = excluded.name, price_cents = excluded.price_cents, currency = excluded.currency,
    weight_grams = excluded.weight_grams, volume_cm3 = excluded.volume_cm3, ean = excluded.ean,
    erp_changed_at = excluded.erp_changed_at, updated_at = excluded.updated_at
WHERE p.erp_changed_at IS NULL OR p.erp_changed_at < excluded.erp_changed_at
RETURNING p.xmax = 0 AS inserted
""")
#: Lock the page's SKUs (in SKU order) and read what decides each count: reserved units, last count's time.
LOCK_STOCK_SQL = text("""
SELECT sku, reserved, stock_changed_at FROM products
WHERE sku = ANY(CAST(:skus AS text[]))
ORDER BY sku COLLATE "C"
FOR UPDATE
""")
#: Set counted stock on locked rows and write one adjustment per SKU whose ``on_hand`` changed; answers the rows
#: set. The conditions repeat the caller's decision (the table's checks stand behind). ``old`` reads the rows as
#: they were before this statement (every part of one statement sees the same snapshot, and the caller's lock
#: means nobody changed them since): PostgreSQL 16 has no ``RETURNING old.*``. A count equal to the stored one
#: still takes its change time, but writes no adjustment.
SET_STOCK_SQL = text("""
WITH counted AS (
    SELECT s.sku, s.on_hand, s.changed_at
    FROM unnest(CAST(:skus AS text[]), CAST(:on_hand AS integer[]), CAST(:changed AS timestamptz[]))
         AS s(sku, on_hand, changed_at)
), old AS (
    SELECT p.sku, p.on_hand FROM products p JOIN counted c ON c.sku = p.sku
), applied AS (
    UPDATE products AS p
    SET on_hand = c.on_hand, available = c.on_hand - p.reserved, stock_changed_at = c.changed_at, updated_at = :now
    FROM counted c
    WHERE p.sku = c.sku
      AND (p.stock_changed_at IS NULL OR p.stock_changed_at < c.changed_at)
      AND c.on_hand >= p.reserved
    RETURNING p.sku, p.on_hand
), adjusted AS (
    INSERT INTO stock_adjustments (sku, delta, on_hand, source, ref, created_at)
    SELECT a.sku, a.on_hand - o.on_hand, a.on_hand, :source, :ref, :now
    FROM applied a JOIN old o ON o.sku = a.sku
    WHERE a.on_hand <> o.on_hand
    ORDER BY a.sku COLLATE "C"
)
SELECT count(*) FROM applied
""")

#: Claim the order's header and take every line's stock, all in one statement.
#:
#: The header comes first: ``locked`` only scans products once ``claimed`` has a row (an
#: uncorrelated ``EXISTS`` is a one-time filter the executor runs before the scan), so a repeat
#: touches no stock and the header is always locked before any product row. ``locked`` then locks
#: the product rows in SKU order (the lock sits above the sort), and ``taken`` moves the stock of
#: each row it locked only where ``available >= quantity``: the conditional update. Any line left
#: short (``short_sku``) or an unknown SKU means the caller raises and the unit of work rolls back,
#: so a reservation holds every line or none. Rows come back from ``FOR UPDATE`` as the latest
#: committed version, so ``short_available`` is what was really there.
RESERVE_SQL = Sql(
    """
    WITH claimed AS (
        INSERT INTO reservations (order_id, status, created_at, updated_at)
        VALUES (:order_id, 'ACTIVE', :at, :at)
        ON CONFLICT (order_id) DO NOTHING
        RETURNING order_id
    ), wanted AS (
        SELECT w.sku, w.quantity FROM unnest(CAST(:skus AS text[]), CAST(:quantities AS integer[])) AS w(sku, quantity)
    ), locked AS MATERIALIZED (
        SELECT p.sku, p.available, w.quantity
        FROM products p JOIN wanted w ON w.sku = p.sku
        WHERE EXISTS (SELECT FROM claimed)
        ORDER BY p.sku COLLATE "C"
        FOR UPDATE OF p
    ), taken AS (
        UPDATE products p
        SET available = p.available - l.quantity, reserved = p.reserved + l.quantity, updated_at = :at
        FROM locked l
        WHERE p.sku = l.sku AND p.available >= l.quantity
        RETURNING p.sku, l.quantity
    ), added AS (
        INSERT INTO reservation_lines (order_id, sku, quantity)
        SELECT claimed.order_id, taken.sku, taken.quantity FROM claimed, taken
    ), short AS (
        SELECT l.sku, l.available FROM locked l WHERE l.available < l.quantity ORDER BY l.sku COLLATE "C" LIMIT 1
    )
    SELECT EXISTS (SELECT FROM claimed) AS claimed,
        ARRAY(
            SELECT w.sku FROM wanted w WHERE NOT EXISTS (SELECT FROM products p WHERE p.sku = w.sku)
            ORDER BY w.sku COLLATE "C"
        ) AS unknown,
        short.sku AS short_sku, short.available AS short_available
    FROM (VALUES (1)) AS one LEFT JOIN short ON true
    """
)

#: Release the order's reservation: a RELEASED tombstone when it has none, else ACTIVE → RELEASED
#: (which locks the header). Neither row back: the header is not ACTIVE, or a reserve committed it
#: while this statement waited on its insert (it is not in this statement's snapshot then).
RELEASE_SQL = Sql(
    """
    WITH tombstone AS (
        INSERT INTO reservations (order_id, status, created_at, updated_at)
        VALUES (:order_id, 'RELEASED', :at, :at)
        ON CONFLICT (order_id) DO NOTHING
        RETURNING order_id
    ), released AS (
        UPDATE reservations SET status = 'RELEASED', updated_at = :at
        WHERE order_id = :order_id AND status = 'ACTIVE'
        RETURNING order_id
    )
    SELECT EXISTS (SELECT FROM tombstone) AS tombstone, EXISTS (SELECT FROM released) AS released
    """
)

#: Give the order's held units back to ``available``, product rows locked in SKU order; answers the lines.
#: Run under the header's lock, in a statement of its own: its snapshot then holds every change
#: to the lines made by the header's previous holders.
RETURN_HELD_SQL = Sql(
    """
    WITH held AS MATERIALIZED (
        SELECT sku, quantity FROM reservation_lines WHERE order_id = :order_id
    ), locked AS MATERIALIZED (
        SELECT p.sku, h.quantity FROM products p JOIN held h ON h.sku = p.sku
        ORDER BY p.sku COLLATE "C"
        FOR UPDATE OF p
    ), returned AS (
        UPDATE products p
        SET available = p.available + l.quantity, reserved = p.reserved - l.quantity, updated_at = :at
        FROM locked l
        WHERE p.sku = l.sku
    )
    SELECT ARRAY(SELECT sku FROM held ORDER BY sku COLLATE "C") AS skus,
        ARRAY(SELECT quantity FROM held ORDER BY sku COLLATE "C") AS quantities
    """
)

#: The order's reservation status and its lines in SKU order (no row: it has none).
RESERVATION_SQL = Sql(
    """
    SELECT r.status,
        ARRAY(SELECT l.sku FROM reservation_lines l WHERE l.order_id = r.order_id ORDER BY l.sku COLLATE "C") AS skus,
        ARRAY(
            SELECT l.quantity FROM reservation_lines l WHERE l.order_id = r.order_id ORDER BY l.sku COLLATE "C"
        ) AS quantities
    FROM reservations r WHERE r.order_id = :order_id
    """
)


#: Mark adjustments posted, locked in id order (two carriers posting one batch queue instead of deadlocking);
#: answers how many were still pending. A row another transaction posted meanwhile drops out of ``pending`` when
#: its lock is granted (the condition is checked again on the committed row).
POST_ADJUSTMENTS_SQL = Sql(
    """
    WITH pending AS MATERIALIZED (
        SELECT id FROM stock_adjustments
        WHERE id = ANY(CAST(:ids AS bigint[])) AND posted_at IS NULL
        ORDER BY id
        FOR UPDATE
    ), posted AS (
        UPDATE stock_adjustments a SET posted_at = :at FROM pending WHERE a.id = pending.id RETURNING a.id
    )
    SELECT count(*) FROM posted
    """
)
#: Listed through SQLAlchemy Core (filters come and go): rows, never an ORM object per adjustment.
_ADJUSTMENTS = StockAdjustment.__table__  # type: ignore[attr-defined]


def held_lines(row: Record) -> dict[str, int]:
    """A row's ``skus`` and ``quantities`` as one dict, in SKU order."""
    return dict(zip(row["skus"], row["quantities"], strict=True))


class InventoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def search_products(self, *, q: str | None, limit: int, offset: int) -> tuple[Sequence[Product], int]:
        """A page of products in SKU order, and how many match.

        ``q`` matches a case-insensitive substring of the SKU or the name; ``%``, ``_``
        and the escape character in it are literal.
        """
        match = (
            col(Product.sku).icontains(q, autoescape=True) | col(Product.name).icontains(q, autoescape=True)
            if q
            else None
        )
        rows = select(Product).order_by(col(Product.sku)).limit(limit).offset(offset)
        count = select(func.count()).select_from(Product)
        if match is not None:
            rows, count = rows.where(match), count.where(match)
        items = (await self.session.exec(rows)).all()
        return items, (await self.session.exec(count)).one()

    async def _row(self, statement: Sql, params: dict[str, Any]) -> Record | None:
        # Straight through asyncpg on the session's connection, in its transaction (common/sql.py).
        return await statement.fetchrow(await driver_connection(self.session), **params)

    async def reserve(self, order_id: str, lines: Mapping[str, int], at: datetime) -> Record:
        """Claim the order's header and hold ``lines`` (SKU → units, in SKU order): :data:`RESERVE_SQL`.

        Returns:
            ``claimed`` (False: the order already had a header, nothing was done),
            ``unknown`` (SKUs the catalogue lacks), ``short_sku`` / ``short_available``
            (the first line that could not be covered). On unknown or short SKUs the
            caller must roll back: the other lines were taken.
        """
        row = await self._row(
            RESERVE_SQL, {"order_id": order_id, "skus": list(lines), "quantities": list(lines.values()), "at": at}
        )
        assert row is not None
        return row

    async def release(self, order_id: str, at: datetime) -> Record:
        """Leave a RELEASED tombstone or move an ACTIVE header to RELEASED: :data:`RELEASE_SQL`.

        Returns:
            ``tombstone`` / ``released``, one of them true when that was done.
        """
        row = await self._row(RELEASE_SQL, {"order_id": order_id, "at": at})
        assert row is not None
        return row

    async def return_held(self, order_id: str, at: datetime) -> dict[str, int]:
        """Give the order's held units back to ``available``; the caller holds the header's lock.

        Returns:
            The order's lines (SKU → units), in SKU order.
        """
        row = await self._row(RETURN_HELD_SQL, {"order_id": order_id, "at": at})
        assert row is not None
        return held_lines(row)

    async def reservation(self, order_id: str) -> Record | None:
        """The order's ``status`` with its ``skus`` and ``quantities`` (see :func:`held_lines`), or None."""
        return await self._row(RESERVATION_SQL, {"order_id": order_id})

    async def list_products(self, *, limit: int, offset: int) -> Sequence[Product]:
        result = await self.session.exec(select(Product).order_by(col(Product.sku)).limit(limit).offset(offset))
        return result.all()

    async def get_product(self, sku: str, *, for_update: bool = False) -> Product | None:
        stmt = select(Product).where(Product.sku == sku)
        if for_update:
            stmt = stmt.with_for_update()
        result = await self.session.exec(stmt.execution_options(populate_existing=True))
        return result.first()

    async def existing_skus(self, skus: Sequence[str]) -> set[str]:
        result = await self.session.exec(select(Product.sku).where(col(Product.sku).in_(skus)))
        return set(result.all())

    async def take_available(self, sku: str, quantity: int) -> bool:
        """Move ``quantity`` from available to reserved, only if that much is available."""
        result = await self.session.exec(
            update(Product)
            .where(col(Product.sku) == sku, col(Product.available) >= quantity)
            .values(
                available=col(Product.available) - quantity,
                reserved=col(Product.reserved) + quantity,
                updated_at=datetime.now(UTC),
            )
            .returning(col(Product.sku))
        )
        return result.first() is not None

    async def return_reserved(self, sku: str, quantity: int) -> None:
        await self.session.exec(
            update(Product)
            .where(col(Product.sku) == sku)
            .values(
                available=col(Product.available) + quantity,
                reserved=col(Product.reserved) - quantity,
                updated_at=datetime.now(UTC),
            )
        )

    async def ship_reserved(self, sku: str, quantity: int) -> None:
        await self.session.exec(
            update(Product)
            .where(col(Product.sku) == sku)
            .values(
                on_hand=col(Product.on_hand) - quantity,
                reserved=col(Product.reserved) - quantity,
                updated_at=datetime.now(UTC),
            )
        )

    async def restock(self, sku: str, quantity: int) -> None:
        """Units issued before came back: ``on_hand`` and ``available`` rise together (``reserved`` stays)."""
        await self.session.exec(
            update(Product)
            .where(col(Product.sku) == sku)
            .values(
                on_hand=col(Product.on_hand) + quantity,
                available=col(Product.available) + quantity,
                updated_at=datetime.now(UTC),
            )
        )

    async def get_reservation(self, order_id: str, *, for_update: bool = False) -> Reservation | None:
        stmt = select(Reservation).where(Reservation.order_id == order_id)
        if for_update:
            stmt = stmt.with_for_update()
        result = await self.session.exec(stmt.execution_options(populate_existing=True))
        return result.first()

    async def reservation_lines(self, order_id: str) -> dict[str, int]:
        """The order's lines (SKU → units) in the lock order, so a loop over them locks products in it too."""
        result = await self.session.exec(
            select(ReservationLine)
            .where(ReservationLine.order_id == order_id)
            .order_by(col(ReservationLine.sku).collate("C"))
        )
        return {line.sku: line.quantity for line in result.all()}

    async def mark_returned(self, order_id: str, returned: dict[str, int]) -> None:
        """Record the units of each line that came back (the table's check keeps them within the line)."""
        for sku, quantity in returned.items():
            await self.session.exec(
                update(ReservationLine)
                .where(col(ReservationLine.order_id) == order_id, col(ReservationLine.sku) == sku)
                .values(returned=col(ReservationLine.returned) + quantity)
            )

    async def set_reservation_status(self, reservation: Reservation, status: ReservationStatus) -> None:
        reservation.status = status
        reservation.updated_at = datetime.now(UTC)
        self.session.add(reservation)
        await self.session.flush()

    async def change_line(self, order_id: str, sku: str, delta: int) -> None:
        """Add ``delta`` (may be negative) to the order's line of ``sku``; a line that reaches 0 goes away.

        The caller holds the reservation's lock and has checked the line holds at least ``-delta``.
        """
        if delta > 0:
            table = ReservationLine.__table__  # type: ignore[attr-defined]
            await self.session.exec(
                insert(table)
                .values(order_id=order_id, sku=sku, quantity=delta)
                .on_conflict_do_update(index_elements=["order_id", "sku"], set_={"quantity": table.c.quantity + delta})
            )
            return
        line = (col(ReservationLine.order_id) == order_id) & (col(ReservationLine.sku) == sku)
        # Delete first: once the update ran, the remainder could equal -delta by chance.
        await self.session.exec(delete(ReservationLine).where(line, col(ReservationLine.quantity) == -delta))
        await self.session.exec(
            update(ReservationLine)
            .where(line, col(ReservationLine.quantity) > -delta)
            .values(quantity=col(ReservationLine.quantity) + delta)
        )

    async def all_products(self) -> Sequence[Product]:
        result = await self.session.exec(select(Product).order_by(col(Product.sku)))
        return result.all()

    async def fill_missing_dimensions(self, sku: str, weight_grams: int, volume_cm3: int) -> None:
        """Set the dimensions of a SKU that has none yet (both 0); measured values are kept."""
        await self.session.exec(
            update(Product)
            .where(col(Product.sku) == sku, col(Product.weight_grams) == 0, col(Product.volume_cm3) == 0)
            .values(weight_grams=weight_grams, volume_cm3=volume_cm3)
        )

    async def upsert_materials(self, items: Sequence[MaterialIn]) -> tuple[int, int]:
        """Apply a page of materials, newest wins per SKU; ``(inserted, updated)``."""
        connection = await self.session.connection()
        result = await connection.execute(
            UPSERT_MATERIALS_SQL,
            {
                "skus": [m.sku for m in items],
                "names": [m.name for m in items],
                "prices": [m.price_cents for m in items],
                "currencies": [m.currency for m in items],
                "weights": [m.weight_grams for m in items],
                "volumes": [m.volume_cm3 for m in items],
                "eans": [m.ean for m in items],
                "changed": [m.changed_at for m in items],
                "now": datetime.now(UTC),
            },
        )
        flags = result.scalars().all()
        inserted = sum(flags)
        return inserted, len(flags) - inserted

    async def lock_stock(self, skus: Sequence[str]) -> dict[str, tuple[int, datetime | None]]:
        """Lock the known SKUs among ``skus``; each one's ``(reserved, stock_changed_at)``."""
        connection = await self.session.connection()
        result = await connection.execute(LOCK_STOCK_SQL, {"skus": list(skus)})
        return {sku: (reserved, changed_at) for sku, reserved, changed_at in result}

    async def adjustments(
        self, *, pending: bool | None, sku: str | None, limit: int, offset: int
    ) -> tuple[list[Row[Any]], int]:
        """A page of stock adjustments, oldest (lowest id) first, and how many match.

        ``pending`` True: only those not yet posted (the partial index's rows); False: only posted ones;
        None: all. ``sku``: only that SKU's.
        """
        table = _ADJUSTMENTS
        match = []
        if pending is not None:
            match.append(table.c.posted_at.is_(None) if pending else table.c.posted_at.is_not(None))
        if sku is not None:
            match.append(table.c.sku == sku)
        rows = sa_select(table).where(*match).order_by(table.c.id).limit(limit).offset(offset)
        count = sa_select(func.count()).select_from(table).where(*match)
        connection = await self.session.connection()
        items = list((await connection.execute(rows)).all())
        return items, int((await connection.execute(count)).scalar_one())

    async def post_adjustments(self, ids: Sequence[int]) -> int:
        """Set ``posted_at`` on those of ``ids`` still pending: :data:`POST_ADJUSTMENTS_SQL`; how many."""
        db = await driver_connection(self.session)
        posted: int = await POST_ADJUSTMENTS_SQL.fetchval(db, ids=sorted(set(ids)), at=datetime.now(UTC))
        return posted

    async def set_stock(self, items: Sequence[StockIn], *, source: AdjustmentSource, ref: str) -> int:
        """Set the on-hand counts of locked SKUs (``available`` follows): :data:`SET_STOCK_SQL`.

        Each SKU whose ``on_hand`` changes gets a ``stock_adjustments`` row (``source``, ``ref``) in the
        same statement. ``items`` hold one count per SKU.

        Returns:
            The rows set (a count equal to the stored one included: it takes the count's time).
        """
        if not items:
            return 0
        connection = await self.session.connection()
        result = await connection.execute(
            SET_STOCK_SQL,
            {
                "skus": [s.sku for s in items],
                "on_hand": [s.on_hand for s in items],
                "changed": [s.changed_at for s in items],
                "source": source.value,
                "ref": ref,
                "now": datetime.now(UTC),
            },
        )
        return int(result.scalar_one())

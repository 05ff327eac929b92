"""Every inventory query. Repositories never commit; the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.inventory.models import MaterialIn, Product, Reservation, ReservationLine, ReservationStatus, StockIn

# The ERP import's statements: one page is a handful of array parameters and one or two statements,
# never an object or a round trip per row. Rows are touched in SKU order, the lock order of every
# multi-SKU change here (reservations too), so a page and a reservation never deadlock.
#: Insert new SKUs (no stock) and update those whose material data is older; a row back per change,
#: ``inserted`` telling which. Within a page the newest copy of a SKU wins (ON CONFLICT may touch a row once).
UPSERT_MATERIALS_SQL = text("""
INSERT INTO products AS p (sku, name, price_cents, currency, weight_grams, volume_cm3, ean, erp_changed_at,
                           on_hand, available, reserved, updated_at)
SELECT DISTINCT ON (m.sku)
       m.sku, m.name, m.price_cents, m.currency, m.weight_grams, m.volume_cm3, m.ean, m.changed_at, 0, 0, 0, :now
FROM unnest(CAST(:skus AS text[]), CAST(:names AS text[]), CAST(:prices AS bigint[]), CAST(:currencies AS text[]),
            CAST(:weights AS integer[]), CAST(:volumes AS integer[]), CAST(:eans AS text[]),
            CAST(:changed AS timestamptz[]))
     AS m(sku, name, price_cents, currency, weight_grams, volume_cm3, ean, changed_at)
ORDER BY m.sku, m.changed_at DESC
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
ORDER BY sku
FOR UPDATE
""")
#: Set counted stock on locked rows; the conditions repeat the caller's decision (the table's checks stand behind).
SET_STOCK_SQL = text("""
UPDATE products AS p
SET on_hand = s.on_hand, available = s.on_hand - p.reserved, stock_changed_at = s.changed_at, updated_at = :now
FROM unnest(CAST(:skus AS text[]), CAST(:on_hand AS integer[]), CAST(:changed AS timestamptz[]))
     AS s(sku, on_hand, changed_at)
WHERE p.sku = s.sku
  AND (p.stock_changed_at IS NULL OR p.stock_changed_at < s.changed_at)
  AND s.on_hand >= p.reserved
""")


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

    async def claim_reservation(self, order_id: str, status: ReservationStatus) -> bool:
        """Insert a reservation header (ACTIVE, or a RELEASED tombstone); False when the order already has one."""
        now = datetime.now(UTC)
        table = Reservation.__table__  # type: ignore[attr-defined]
        result = await self.session.exec(
            insert(table)
            .values(order_id=order_id, status=status, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["order_id"])
            .returning(table.c.order_id)
        )
        return result.first() is not None

    async def add_lines(self, order_id: str, lines: dict[str, int]) -> None:
        self.session.add_all(ReservationLine(order_id=order_id, sku=sku, quantity=q) for sku, q in lines.items())
        await self.session.flush()

    async def get_reservation(self, order_id: str, *, for_update: bool = False) -> Reservation | None:
        stmt = select(Reservation).where(Reservation.order_id == order_id)
        if for_update:
            stmt = stmt.with_for_update()
        result = await self.session.exec(stmt.execution_options(populate_existing=True))
        return result.first()

    async def reservation_lines(self, order_id: str) -> dict[str, int]:
        result = await self.session.exec(
            select(ReservationLine).where(ReservationLine.order_id == order_id).order_by(col(ReservationLine.sku))
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

    async def set_stock(self, items: Sequence[StockIn]) -> int:
        """Set the on-hand counts of locked SKUs (``available`` follows); the rows changed."""
        if not items:
            return 0
        connection = await self.session.connection()
        result = await connection.execute(
            SET_STOCK_SQL,
            {
                "skus": [s.sku for s in items],
                "on_hand": [s.on_hand for s in items],
                "changed": [s.changed_at for s in items],
                "now": datetime.now(UTC),
            },
        )
        return int(result.rowcount)

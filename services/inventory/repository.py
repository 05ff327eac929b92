"""Every inventory query. Repositories never commit; the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.inventory.models import Product, Reservation, ReservationLine, ReservationStatus


class InventoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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

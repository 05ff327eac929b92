"""Every shipping query. Repositories never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import and_, func, or_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.paging import Cursor
from services.shipping.models import Carton, Shipment, ShipmentStatus, VoidedShipment


class ShippingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_order(self, order_id: str) -> None:
        """Serialise every change to one order's shipment until the transaction ends."""
        await self.session.exec(select(func.pg_advisory_xact_lock(func.hashtextextended(order_id, 0))))

    async def cartons(self) -> Sequence[Carton]:
        """Every carton, smallest first."""
        result = await self.session.exec(select(Carton).order_by(col(Carton.volume_cm3), col(Carton.code)))
        return result.all()

    async def carton(self, code: str) -> Carton | None:
        return await self.session.get(Carton, code)

    async def by_order(self, order_id: str) -> Shipment | None:
        result = await self.session.exec(
            select(Shipment).where(Shipment.order_id == order_id).execution_options(populate_existing=True)
        )
        return result.first()

    async def by_id_for_update(self, shipment_id: str) -> Shipment | None:
        result = await self.session.exec(
            select(Shipment)
            .where(Shipment.shipment_id == shipment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return result.first()

    async def by_tracking_code(self, tracking_code: str) -> Shipment | None:
        result = await self.session.exec(select(Shipment).where(Shipment.tracking_code == tracking_code))
        return result.first()

    async def save(self, shipment: Shipment) -> None:
        shipment.updated_at = datetime.now(UTC)
        self.session.add(shipment)
        await self.session.flush()

    async def add_tombstone(self, order_id: str) -> None:
        """Remember that the order's shipment was voided (once; repeats are no-ops)."""
        table = VoidedShipment.__table__  # type: ignore[attr-defined]
        await self.session.exec(
            insert(table).values(order_id=order_id, created_at=datetime.now(UTC)).on_conflict_do_nothing()
        )

    async def is_voided(self, order_id: str) -> bool:
        return await self.session.get(VoidedShipment, order_id) is not None

    async def page(
        self,
        *,
        status: ShipmentStatus | None,
        order_id: str | None,
        limit: int,
        offset: int = 0,
        after: Cursor | None = None,
    ) -> tuple[Sequence[Shipment], int]:
        """A page newest first (``created_at DESC, shipment_id``), and how many shipments match in all."""
        filters = []
        if status is not None:
            filters.append(col(Shipment.status) == status)
        if order_id is not None:
            filters.append(col(Shipment.order_id) == order_id)
        total = (await self.session.exec(select(func.count()).select_from(Shipment).where(*filters))).one()
        stmt = select(Shipment).where(*filters)
        if after is not None:
            created_at = col(Shipment.created_at)
            stmt = stmt.where(
                or_(
                    created_at < after.created_at,
                    and_(created_at == after.created_at, col(Shipment.shipment_id) > after.id),
                )
            )
        stmt = stmt.order_by(col(Shipment.created_at).desc(), col(Shipment.shipment_id)).limit(limit).offset(offset)
        return (await self.session.exec(stmt)).all(), int(total)

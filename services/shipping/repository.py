"""Every shipping query. Repositories never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import and_, delete, func, or_, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.paging import Cursor
from services.shipping.models import (
    Carton,
    Shipment,
    ShipmentStatus,
    Subscription,
    TrackingEvent,
    VoidedShipment,
)

_EVENTS = TrackingEvent.__table__  # type: ignore[attr-defined]
_SUBSCRIPTIONS = Subscription.__table__  # type: ignore[attr-defined]


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

    async def by_tracking_code_for_update(self, tracking_code: str) -> Shipment | None:
        """The shipment, locked until the transaction ends (its tracking events go one at a time)."""
        result = await self.session.exec(
            select(Shipment)
            .where(Shipment.tracking_code == tracking_code)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
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

    # -- tracking events --------------------------------------------------------------------------------------------

    async def event(self, event_id: str) -> TrackingEvent | None:
        return await self.session.get(TrackingEvent, event_id, populate_existing=True)

    async def add_event(self, event: TrackingEvent) -> bool:
        """Store the event; False when its id is taken (by a concurrent event of another shipment)."""
        values = {column.name: getattr(event, column.name) for column in _EVENTS.columns}
        stmt = insert(_EVENTS).values(values).on_conflict_do_nothing(index_elements=["event_id"])
        inserted = await self.session.exec(stmt.returning(_EVENTS.c.event_id))
        return inserted.first() is not None

    async def mark_forwarded(self, event_id: str, at: datetime) -> bool:
        """Record (once) that the event was passed on; False when there is no such event."""
        stmt = (
            update(TrackingEvent)
            .where(col(TrackingEvent.event_id) == event_id)
            .values(forwarded_at=func.coalesce(col(TrackingEvent.forwarded_at), at))
            .returning(col(TrackingEvent.event_id))
        )
        return (await self.session.exec(stmt)).first() is not None

    async def trail(self, shipment_id: str) -> Sequence[TrackingEvent]:
        """The shipment's events, oldest first by when they happened (then as they arrived)."""
        stmt = (
            select(TrackingEvent)
            .where(TrackingEvent.shipment_id == shipment_id)
            .order_by(col(TrackingEvent.occurred_at), col(TrackingEvent.received_at), col(TrackingEvent.event_id))
        )
        return (await self.session.exec(stmt)).all()

    # -- subscriptions ----------------------------------------------------------------------------------------------

    async def add_subscription(self, subscription: Subscription) -> Subscription | None:
        """Insert the subscription; None when the user already follows the code."""
        values = {column.name: getattr(subscription, column.name) for column in _SUBSCRIPTIONS.columns}
        stmt = (
            insert(_SUBSCRIPTIONS)
            .values(values)
            .on_conflict_do_nothing(index_elements=["username", "tracking_code"])
            .returning(*_SUBSCRIPTIONS.columns)
        )
        row = (await self.session.exec(stmt)).first()
        return Subscription.model_validate(row._mapping) if row is not None else None

    async def update_subscription(
        self, username: str, tracking_code: str, *, email: str, title: str, at: datetime
    ) -> Subscription | None:
        """Change an existing subscription's e-mail and title; None when there is none (any more)."""
        stmt = (
            update(_SUBSCRIPTIONS)
            .where(_SUBSCRIPTIONS.c.username == username, _SUBSCRIPTIONS.c.tracking_code == tracking_code)
            .values(email=email, title=title, updated_at=at)
            .returning(*_SUBSCRIPTIONS.columns)
        )
        row = (await self.session.exec(stmt)).first()
        return Subscription.model_validate(row._mapping) if row is not None else None

    async def remove_subscription(self, username: str, tracking_code: str) -> Subscription | None:
        """Delete the subscription; answers it, or None when there was none."""
        stmt = (
            delete(_SUBSCRIPTIONS)
            .where(_SUBSCRIPTIONS.c.username == username, _SUBSCRIPTIONS.c.tracking_code == tracking_code)
            .returning(*_SUBSCRIPTIONS.columns)
        )
        row = (await self.session.exec(stmt)).first()
        return Subscription.model_validate(row._mapping) if row is not None else None

    async def subscribers(self, tracking_code: str) -> Sequence[Subscription]:
        """Who follows the code, first subscriber first."""
        stmt = (
            select(Subscription)
            .where(Subscription.tracking_code == tracking_code)
            .order_by(col(Subscription.created_at), col(Subscription.username))
        )
        return (await self.session.exec(stmt)).all()

    async def subscriptions_of(
        self, username: str, *, limit: int, offset: int
    ) -> Sequence[tuple[Subscription, Shipment]]:
        """The user's subscriptions newest first, each with its shipment as it is now."""
        stmt = (
            select(Subscription, Shipment)
            .join(Shipment, col(Shipment.tracking_code) == col(Subscription.tracking_code))
            .where(Subscription.username == username)
            .order_by(col(Subscription.created_at).desc(), col(Subscription.tracking_code))
            .limit(limit)
            .offset(offset)
        )
        return (await self.session.exec(stmt)).all()

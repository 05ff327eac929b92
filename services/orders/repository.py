"""Every orders query. Repositories never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.paging import Cursor
from services.orders.models import Order, OrderAlert, OrderLine, OrderStatus, StatusChange


class OrdersRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, order: Order) -> bool:
        """Insert the order header; False when the id is taken (a repeat)."""
        table = Order.__table__  # type: ignore[attr-defined]
        values = order.model_dump()
        result = await self.session.exec(
            insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["order_id"])
            .returning(table.c.order_id)
        )
        return result.first() is not None

    async def add_lines(self, lines: Sequence[OrderLine]) -> None:
        self.session.add_all(lines)
        await self.session.flush()

    async def get(self, order_id: str, *, for_update: bool = False) -> Order | None:
        stmt = select(Order).where(Order.order_id == order_id)
        if for_update:
            stmt = stmt.with_for_update()
        result = await self.session.exec(stmt.execution_options(populate_existing=True))
        return result.first()

    async def lines(self, order_ids: Sequence[str]) -> dict[str, list[OrderLine]]:
        result = await self.session.exec(
            select(OrderLine).where(col(OrderLine.order_id).in_(order_ids)).order_by(col(OrderLine.line_no))
        )
        grouped: dict[str, list[OrderLine]] = {oid: [] for oid in order_ids}
        for line in result.all():
            grouped[line.order_id].append(line)
        return grouped

    async def history(self, order_id: str) -> Sequence[StatusChange]:
        result = await self.session.exec(
            select(StatusChange).where(StatusChange.order_id == order_id).order_by(col(StatusChange.id))
        )
        return result.all()

    async def record_change(
        self,
        order_id: str,
        from_status: str | None,
        to_status: str,
        reason: str | None,
        at: datetime,
        actor: str | None = None,
    ) -> None:
        self.session.add(
            StatusChange(
                order_id=order_id, from_status=from_status, to_status=to_status, reason=reason, actor=actor, at=at
            )
        )
        await self.session.flush()

    async def alerts(self, order_id: str) -> Sequence[OrderAlert]:
        result = await self.session.exec(
            select(OrderAlert).where(OrderAlert.order_id == order_id).order_by(col(OrderAlert.id))
        )
        return result.all()

    async def add_alert(self, order_id: str, kind: str, step: str, detail: str, at: datetime) -> None:
        """Insert the alert unless the same kind and step is already recorded."""
        table = OrderAlert.__table__  # type: ignore[attr-defined]
        await self.session.exec(
            insert(table)
            .values(order_id=order_id, kind=kind, step=step, detail=detail, at=at)
            .on_conflict_do_nothing(constraint="one_alert_per_step")
        )

    async def save(self, order: Order) -> None:
        self.session.add(order)
        await self.session.flush()

    async def list(
        self,
        *,
        customer_id: str | None,
        status: OrderStatus | None,
        limit: int,
        offset: int = 0,
        after: Cursor | None = None,
    ) -> tuple[Sequence[Order], int]:
        """A page newest first (``created_at DESC, order_id``), and how many orders match in all.

        ``after`` continues strictly past that key (keyset paging: rows inserted
        meanwhile never shift the page); ``offset`` then skips further rows.
        """
        filters = []
        if customer_id is not None:
            filters.append(col(Order.customer_id) == customer_id)
        if status is not None:
            filters.append(col(Order.status) == status)
        total = select(func.count()).select_from(Order).where(*filters).scalar_subquery()
        stmt = select(Order, total).where(*filters)
        if after is not None:
            created_at = col(Order.created_at)
            stmt = stmt.where(
                or_(created_at < after.created_at, and_(created_at == after.created_at, col(Order.order_id) > after.id))
            )
        stmt = stmt.order_by(col(Order.created_at).desc(), col(Order.order_id)).limit(limit).offset(offset)
        rows = (await self.session.exec(stmt)).all()
        if rows:
            return [order for order, _ in rows], int(rows[0][1])
        # Past the end (or an empty filter): the count still answers.
        counted = await self.session.exec(select(func.count()).select_from(Order).where(*filters))
        return [], int(counted.one())

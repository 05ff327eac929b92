"""Every orders query. Repositories never commit.

The hot path (create, transition, cancel: every saga step) runs plain SQL
straight through asyncpg on the session's connection (:mod:`common.sql`),
one statement per piece of work: the order, its lines and its history row
are written by one data-modifying CTE,
and the answer comes back with it, so a call costs one round trip and no ORM
object is loaded or flushed (docs/performance.md). Reads for people (get,
list) use the ORM models.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from asyncpg import Record
from sqlalchemy import and_, func, or_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.paging import Cursor
from common.sql import Sql, driver_connection
from common.vocabulary import CancelReason
from services.orders.models import Order, OrderAlert, OrderCreate, OrderLine, OrderStatus, StatusChange

ORDER_COLUMNS = (
    "order_id, customer_id, customer_email, status, cancel_reason, total_cents, currency, shipping_address,"
    " created_at, updated_at"
)
#: What an answer shows of the order row: its columns, what shipped and its sales order in the ERP.
VIEW_COLUMNS = f"{ORDER_COLUMNS}, tracking_code, carrier, shipped_lines, erp_document_number"
# The order's lines as one JSON array, in line order, beside the order row.
_LINES_JSON = (
    "(SELECT coalesce(json_agg(json_build_object('sku', l.sku, 'quantity', l.quantity,"
    " 'unit_price_cents', l.unit_price_cents) ORDER BY l.line_no), '[]'::json)"
    " FROM order_lines l WHERE l.order_id = {alias}.order_id) AS lines"
)

#: Insert the order, its lines and its first history row at once; no row back when the id is taken.
CREATE_SQL = Sql(
    f"""
    WITH head AS (
        INSERT INTO orders ({ORDER_COLUMNS})
        VALUES (:order_id, :customer_id, :customer_email, :status, NULL, :total_cents, :currency,
                :shipping_address, :at, :at)
        ON CONFLICT (order_id) DO NOTHING
        RETURNING order_id
    ), lines AS (
        INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price_cents)
        SELECT head.order_id, l.line_no, l.sku, l.quantity, l.unit_price_cents
        FROM head, unnest(CAST(:skus AS text[]), CAST(:quantities AS integer[]), CAST(:prices AS bigint[]))
            WITH ORDINALITY AS l(sku, quantity, unit_price_cents, line_no)
    ), history AS (
        INSERT INTO order_status_history (order_id, from_status, to_status, reason, at)
        SELECT order_id, NULL, :status, NULL, :at FROM head
    )
    SELECT order_id FROM head
    """,
    json=("shipping_address",),
)

#: Move the order from ``from_status`` to ``to_status`` and log it; no row back when it was not in ``from_status``.
#: The conditional UPDATE settles races in the database: a concurrent mover waits on the row
#: lock, then finds the status changed and updates nothing. An ERP document number rides along
#: (the move to ``AWAITING_WAVE``) and is kept once set: the row answers which one is stored.
MOVE_SQL = Sql(
    f"""
    WITH moved AS (
        UPDATE orders SET status = :to_status, cancel_reason = :cancel_reason, updated_at = :at,
            erp_document_number = coalesce(erp_document_number, CAST(:erp_document_number AS varchar))
        WHERE order_id = :order_id AND status = :from_status
        RETURNING {VIEW_COLUMNS}
    ), history AS (
        INSERT INTO order_status_history (order_id, from_status, to_status, reason, actor, at)
        SELECT order_id, CAST(:from_status AS varchar), status, CAST(:cancel_reason AS varchar),
               CAST(:actor AS varchar), updated_at
        FROM moved
    )
    SELECT moved.*, {_LINES_JSON.format(alias="moved")} FROM moved
    """
)

#: Ship the order: move it from ``from_status`` to ``to_status`` with what shipped, and log it.
#: ``shipped_lines`` null means everything ordered shipped (one line per SKU, in order-line order).
SHIP_SQL = Sql(
    f"""
    WITH moved AS (
        UPDATE orders SET status = :to_status, updated_at = :at, tracking_code = :tracking_code,
            carrier = :carrier,
            shipped_lines = coalesce(CAST(:shipped_lines AS jsonb), (
                SELECT jsonb_agg(jsonb_build_object('sku', l.sku, 'quantity', l.quantity) ORDER BY l.first_line)
                FROM (SELECT sku, CAST(sum(quantity) AS integer) AS quantity, min(line_no) AS first_line
                      FROM order_lines WHERE order_id = :order_id GROUP BY sku) l))
        WHERE order_id = :order_id AND status = :from_status
        RETURNING {VIEW_COLUMNS}
    ), history AS (
        INSERT INTO order_status_history (order_id, from_status, to_status, reason, actor, at)
        SELECT order_id, CAST(:from_status AS varchar), status, NULL, NULL, updated_at FROM moved
    )
    SELECT moved.*, {_LINES_JSON.format(alias="moved")} FROM moved
    """,
    # A missing list is SQL NULL (so coalesce fills it), not the JSON value null.
    json=("shipped_lines",),
)

#: Change the shipping address unless the order is packed (or later, or cancelled); no row back then.
#: The same address again changes nothing (``updated_at`` stays).
ADDRESS_SQL = Sql(
    f"""
    WITH changed AS (
        UPDATE orders SET shipping_address = :shipping_address,
            updated_at = CASE WHEN shipping_address = :shipping_address THEN updated_at ELSE :at END
        WHERE order_id = :order_id AND status NOT IN ('PACKED', 'SHIPPED', 'DELIVERED', 'CANCELLED')
        RETURNING {VIEW_COLUMNS}
    )
    SELECT changed.*, {_LINES_JSON.format(alias="changed")} FROM changed
    """,
    json=("shipping_address",),
)

#: Record the ERP document number of an order moved without one; no row back when one is stored already.
RECORD_ERP_DOCUMENT_SQL = Sql(
    f"""
    WITH recorded AS (
        UPDATE orders SET erp_document_number = :erp_document_number, updated_at = :at
        WHERE order_id = :order_id AND erp_document_number IS NULL
        RETURNING {VIEW_COLUMNS}
    )
    SELECT recorded.*, {_LINES_JSON.format(alias="recorded")} FROM recorded
    """
)

#: The order row and its lines, optionally locked for the rest of the transaction.
READ_SQL = Sql(f"SELECT o.*, {_LINES_JSON.format(alias='o')} FROM orders o WHERE o.order_id = :order_id")
READ_FOR_UPDATE_SQL = Sql(
    f"SELECT o.*, {_LINES_JSON.format(alias='o')} FROM orders o WHERE o.order_id = :order_id FOR UPDATE OF o"
)

# The history feed (services/orders/history.py): every order's changes in commit order.
#: A row's place in the feed; rows written before migration 0006 have no xid and come first.
_XID = "coalesce(h.xid, '0'::xid8)"
#: The changes after the cursor ``(:xid, :id)`` whose transaction is older than every one still running
#: (``xmin`` of this statement's snapshot), so no row can commit behind them later; with the order's
#: customer and the change's position in its order's history. xid8 travels as text (asyncpg has no codec).
HISTORY_SQL = Sql(
    f"""
    WITH horizon AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
    page AS (
        SELECT {_XID} AS xid, h.id, h.order_id, h.from_status, h.to_status, h.reason, h.actor, h.at
        FROM order_status_history h, horizon
        WHERE ({_XID}, h.id) > (CAST(CAST(:xid AS text) AS xid8), CAST(:id AS bigint)) AND {_XID} < horizon.xmin
        ORDER BY {_XID}, h.id
        LIMIT :limit
    )
    SELECT CAST(page.xid AS text) AS xid, page.id, page.order_id, o.customer_id, page.from_status,
        page.to_status, page.reason, page.actor, page.at,
        (SELECT count(*) FROM order_status_history s WHERE s.order_id = page.order_id AND s.id <= page.id) AS seq
    FROM page JOIN orders o USING (order_id)
    ORDER BY page.xid, page.id
    """
)
#: Whether a committed change after the cursor waits behind a transaction still running (nothing handed out).
HISTORY_HELD_SQL = Sql(
    f"""
    SELECT EXISTS (SELECT 1 FROM order_status_history h
                   WHERE ({_XID}, h.id) > (CAST(CAST(:xid AS text) AS xid8), CAST(:id AS bigint)))
    """
)
#: "Now": every transaction older than the oldest one still running has committed (or aborted).
HISTORY_HEAD_SQL = Sql("SELECT CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text)")

# The ERP's sales-order events (services/orders/erp_events.py).
#: The order's ERP status and its time, locked: two events of one order never both think they are the newest.
LOCK_ERP_STATUS_SQL = Sql("SELECT erp_status, erp_status_at FROM orders WHERE order_id = :order_id FOR UPDATE")
SET_ERP_STATUS_SQL = Sql("UPDATE orders SET erp_status = :status, erp_status_at = :at WHERE order_id = :order_id")
#: Whether an event reached the order's workflow (no row: no such event).
EVENT_FORWARDED_SQL = Sql("SELECT forwarded_at FROM erp_events WHERE event_id = :event_id")
MARK_FORWARDED_SQL = Sql(
    "UPDATE erp_events SET forwarded_at = coalesce(forwarded_at, :at) WHERE event_id = :event_id RETURNING event_id"
)


class OrdersRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _row(self, statement: Sql, params: dict[str, Any]) -> Record | None:
        # Straight through asyncpg on the session's connection, in its transaction (common/sql.py).
        return await statement.fetchrow(await driver_connection(self.session), **params)

    async def create(self, data: OrderCreate, total_cents: int, status: OrderStatus, at: datetime) -> bool:
        """Write the order, its lines and its first history row.

        Returns:
            False when the id is taken (a repeat); nothing was written then.
        """
        created = await self._row(
            CREATE_SQL,
            {
                "order_id": data.order_id,
                "customer_id": data.customer_id,
                "customer_email": data.customer_email,
                "status": status.value,
                "total_cents": total_cents,
                "currency": data.currency,
                "shipping_address": data.shipping_address.model_dump(),
                "at": at,
                "skus": [line.sku for line in data.lines],
                "quantities": [line.quantity for line in data.lines],
                "prices": [line.unit_price_cents for line in data.lines],
            },
        )
        return created is not None

    async def move(
        self,
        order_id: str,
        from_status: OrderStatus,
        to_status: OrderStatus,
        at: datetime,
        cancel_reason: str | None = None,
        actor: str | None = None,
        erp_document_number: str | None = None,
    ) -> Record | None:
        """Conditionally move the order and record the change.

        ``erp_document_number`` is stored unless the order has one already.

        Returns:
            The order row after the move with its ``lines``; None when the order
            does not exist or is not in ``from_status`` (nothing was written).
        """
        return await self._row(
            MOVE_SQL,
            {
                "order_id": order_id,
                "from_status": from_status.value,
                "to_status": to_status.value,
                "cancel_reason": cancel_reason,
                "actor": actor,
                "at": at,
                "erp_document_number": erp_document_number,
            },
        )

    async def record_erp_document(self, order_id: str, erp_document_number: str, at: datetime) -> Record | None:
        """Store the number on an order that has none; None when it has one (or does not exist)."""
        return await self._row(
            RECORD_ERP_DOCUMENT_SQL, {"order_id": order_id, "erp_document_number": erp_document_number, "at": at}
        )

    async def ship(
        self,
        order_id: str,
        from_status: OrderStatus,
        at: datetime,
        *,
        tracking_code: str | None,
        carrier: str | None,
        shipped_lines: list[dict[str, Any]] | None,
    ) -> Record | None:
        """Move the order to ``SHIPPED`` with what shipped; None when it was not in ``from_status``."""
        return await self._row(
            SHIP_SQL,
            {
                "order_id": order_id,
                "from_status": from_status.value,
                "to_status": OrderStatus.SHIPPED.value,
                "tracking_code": tracking_code,
                "carrier": carrier,
                "shipped_lines": shipped_lines,
                "at": at,
            },
        )

    async def change_address(self, order_id: str, address: dict[str, Any], at: datetime) -> Record | None:
        """The order with its new address; None when it does not exist or its address is locked."""
        return await self._row(ADDRESS_SQL, {"order_id": order_id, "shipping_address": address, "at": at})

    async def read(self, order_id: str, *, for_update: bool = False) -> Record | None:
        """The order row with its ``lines`` (a list of dicts), or None."""
        return await self._row(READ_FOR_UPDATE_SQL if for_update else READ_SQL, {"order_id": order_id})

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

    async def list(
        self,
        *,
        customer_id: str | None,
        status: OrderStatus | None,
        limit: int,
        offset: int = 0,
        after: Cursor | None = None,
        reason: CancelReason | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[Sequence[Order], int]:
        """A page newest first (``created_at DESC, order_id``), and how many orders match in all.

        ``after`` continues strictly past that key (keyset paging: rows inserted
        meanwhile never shift the page); ``offset`` then skips further rows.
        ``since`` / ``until`` bound ``created_at`` (at or after / before).
        """
        filters = []
        if customer_id is not None:
            filters.append(col(Order.customer_id) == customer_id)
        if status is not None:
            filters.append(col(Order.status) == status)
        if reason is not None:
            filters.append(col(Order.cancel_reason) == reason.value)
        if since is not None:
            filters.append(col(Order.created_at) >= since)
        if until is not None:
            filters.append(col(Order.created_at) < until)
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

    # -- the history feed ------------------------------------------------------------------------
    async def changes_after(self, xid: int, row_id: int, limit: int) -> Sequence[Record]:
        """Up to ``limit`` changes after ``(xid, row_id)`` that no later commit can precede, in that order."""
        return await HISTORY_SQL.fetch(await driver_connection(self.session), xid=str(xid), id=row_id, limit=limit)

    async def changes_held(self, xid: int, row_id: int) -> bool:
        """Whether a committed change after ``(xid, row_id)`` is held back by an older transaction still running."""
        return bool(await HISTORY_HELD_SQL.fetchval(await driver_connection(self.session), xid=str(xid), id=row_id))

    async def history_head(self) -> int:
        """The xid below which every transaction has ended: the feed's "now"."""
        return int(await HISTORY_HEAD_SQL.fetchval(await driver_connection(self.session)))

    # -- the ERP's sales-order events ----------------------------------------------------------
    async def lock_erp_status(self, order_id: str) -> Record | None:
        """Lock the order; its ``erp_status`` and ``erp_status_at`` (None: no such order)."""
        return await self._row(LOCK_ERP_STATUS_SQL, {"order_id": order_id})

    async def set_erp_status(self, order_id: str, status: str, at: datetime) -> None:
        await SET_ERP_STATUS_SQL.execute(await driver_connection(self.session), order_id=order_id, status=status, at=at)

    async def erp_event_forwarded_at(self, event_id: str) -> tuple[bool, datetime | None]:
        """``(the event is recorded, when it was forwarded)``."""
        row = await self._row(EVENT_FORWARDED_SQL, {"event_id": event_id})
        return (row is not None, row["forwarded_at"] if row is not None else None)

    async def mark_erp_event_forwarded(self, event_id: str, at: datetime) -> bool:
        """Record that the event reached the order's workflow (the first time counts); False: no such event."""
        return await self._row(MARK_FORWARDED_SQL, {"event_id": event_id, "at": at}) is not None

"""Every query of the ERP stand-in, in SQLAlchemy Core (no ORM objects: a page of 1,000 rows stays cheap).

**One clock, one writer at a time.** Every change takes its ``LastChangedAt``
from :func:`tick`, an ``UPDATE`` of the one-row ``clock`` table to
``greatest(clock_timestamp(), last + 1 µs)``. The row lock it takes is held
until the change commits, so writes are serialised: timestamps are unique,
strictly increasing across the whole ERP, *and* changes commit in timestamp
order. The last is what makes ``$skiptoken`` paging gap-free: once a reader
sees a row at ``t``, every change stamped before ``t`` has committed already
(it held the clock until then), and every change after it will be stamped
later than ``t`` and so lands after the reader's position. A change reads its
row ``FOR UPDATE`` only after the clock, so two writers never deadlock.

Each change writes its event to the outbox in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, literal, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.errors import Conflict, NotFound, RuleViolation
from services.erp.entities import CUSTOMERS, FIRST_SALES_ORDER, ONE_TIME_CUSTOMER, SALES_ORDERS, EntitySet
from services.erp.models import (
    CreditBlockIn,
    PreconditionFailed,
    SalesOrderCreate,
    SalesOrderStatus,
)
from services.erp.odata import if_match_allows, next_link
from services.erp.tables import clock, customers, materials, outbox, sales_orders

#: Text kept of a webhook's answer (or of a connection error).
MAX_ANSWER_CHARS = 1000
_ONE_MICROSECOND = timedelta(microseconds=1)


async def tick(conn: AsyncConnection) -> datetime:
    """The next ``LastChangedAt``; the clock stays locked (all other writers wait) until ``conn`` commits."""
    stamp = await conn.execute(
        update(clock)
        .where(clock.c.id == 1)
        .values(last_changed_at=func.greatest(func.clock_timestamp(), clock.c.last_changed_at + _ONE_MICROSECOND))
        .returning(clock.c.last_changed_at)
    )
    moment: datetime = stamp.scalar_one()
    return moment


def event_body(event_id: str, event_type: str, object_id: str, data: dict[str, Any]) -> bytes:
    """The bytes posted (and signed) for an event; ``occurred_at`` is the entity's new ``LastChangedAt``."""
    body = {
        "event_id": event_id,
        "type": event_type,
        "object_id": object_id,
        "occurred_at": data["LastChangedAt"],
        "data": data,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def dump(payload: Any) -> bytes:
    """JSON bytes of an answer."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a collection: the entities, the link to the next page (None: the last), the count."""

    value: list[dict[str, Any]]
    next_link: str | None
    count: int | None

    def body(self) -> bytes:
        payload: dict[str, Any] = {}
        if self.count is not None:
            payload["@odata.count"] = self.count
        payload["value"] = self.value
        if self.next_link is not None:
            payload["@odata.nextLink"] = self.next_link
        return dump(payload)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A pending event: its bytes, how often it was tried, when it may be tried next (None: now)."""

    id: int
    event_id: str
    body: bytes
    attempts: int
    next_attempt_at: datetime | None


def _digest(body: SalesOrderCreate) -> str:
    """What makes two creating requests "the same content" (the e-mail's case aside)."""
    canonical = body.model_dump(mode="json")
    canonical["CustomerEmail"] = body.CustomerEmail.strip().lower()
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ErpStore:
    """The ERP's entities and its outbox.

    Args:
        engine: The stand-in's database.
        changed: Called after every committed change (the sender looks for new events then).
    """

    def __init__(self, engine: AsyncEngine, changed: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.changed = changed or (lambda: None)

    # -- reading ------------------------------------------------------------------
    async def page(
        self,
        entity_set: EntitySet,
        *,
        top: int,
        skip: int = 0,
        since: tuple[str, datetime] | None = None,
        after: tuple[datetime, str] | None = None,
        count: bool = False,
    ) -> Page:
        """Rows in ``(LastChangedAt, key)`` order.

        Args:
            since: ``$filter``: ``("gt" | "ge", timestamp)``.
            after: ``$skiptoken``: only rows strictly after this ``(LastChangedAt, key)``.
            count: Count the rows matching ``since`` (``@odata.count``).
        """
        table, key, changed_at = entity_set.table, entity_set.key, entity_set.changed_at
        matching = []
        if since is not None:
            operator, moment = since
            matching.append(changed_at > moment if operator == "gt" else changed_at >= moment)
        stmt = select(*entity_set.columns).where(*matching)
        if after is not None:
            stmt = stmt.where(tuple_(changed_at, key) > tuple_(literal(after[0]), literal(after[1])))
        stmt = stmt.order_by(changed_at, key).offset(skip).limit(top + 1)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
            total = None
            if count:
                total = (await conn.execute(select(func.count()).select_from(table).where(*matching))).scalar_one()
        link = None
        if len(rows) > top:
            rows = rows[:top]
            last = rows[-1]
            link = next_link(entity_set.name, top, last.last_changed_at, getattr(last, key.name))
        to_json = entity_set.to_json
        return Page([to_json(row) for row in rows], link, total)

    async def get(self, entity_set: EntitySet, key: str) -> dict[str, Any] | None:
        """One entity by its key, or None."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(*entity_set.columns).where(entity_set.key == key))).one_or_none()
        return None if row is None else entity_set.to_json(row)

    # -- changing -----------------------------------------------------------------
    async def _record(self, conn: AsyncConnection, entity_set: EntitySet, row: Any) -> dict[str, Any]:
        """The changed row's JSON, with its event queued in the outbox (same transaction)."""
        data = entity_set.to_json(row)
        event_id = str(uuid.uuid4())
        key = getattr(row, entity_set.key.name)
        await conn.execute(
            insert(outbox).values(
                event_id=event_id,
                type=entity_set.event_type,
                object_id=key,
                occurred_at=row.last_changed_at,
                body=event_body(event_id, entity_set.event_type, key, data),
                status="pending",
                attempts=0,
                next_attempt_at=None,  # due now; set when an attempt fails
                duplicated=False,
                created_at=datetime.now(UTC),
            )
        )
        return data

    async def _change(
        self, conn: AsyncConnection, entity_set: EntitySet, key: str, values: dict[str, Any], stamp: datetime
    ) -> dict[str, Any]:
        """Apply ``values`` to one row at ``stamp`` (from :func:`tick`): a new version, and its event."""
        table = entity_set.table
        row = (
            await conn.execute(
                update(table)
                .where(entity_set.key == key)
                .values(**values, version=table.c.version + 1, last_changed_at=stamp)
                .returning(*entity_set.columns)
            )
        ).one()
        return await self._record(conn, entity_set, row)

    async def patch(self, entity_set: EntitySet, key: str, if_match: str, values: dict[str, Any]) -> dict[str, Any]:
        """Change one entity if ``if_match`` names its current ETag (or is ``*``).

        Raises:
            NotFound: No such entity.
            PreconditionFailed: Its ETag is another (nothing changes).
        """
        async with self.engine.begin() as conn:
            stamp = await tick(conn)  # the clock first, always: the one lock order of every writer
            version = (
                await conn.execute(select(entity_set.table.c.version).where(entity_set.key == key).with_for_update())
            ).scalar_one_or_none()
            if version is None:
                raise NotFound(f"no {entity_set.key_field} {key!r} in {entity_set.name}")
            if not if_match_allows(if_match, version):
                raise PreconditionFailed(f'If-Match {if_match[:100]!r} is not the current ETag W/"{version}" of {key}')
            data = await self._change(conn, entity_set, key, values, stamp)
        self.changed()
        return data

    async def credit_block(self, body: CreditBlockIn) -> list[dict[str, Any]]:
        """Set ``CreditIsBlocked`` of the customer named by number or e-mail (each a change, with an event).

        Raises:
            NotFound: No customer has that number or e-mail.
        """
        async with self.engine.begin() as conn:
            stamp = await tick(conn)
            named = (
                customers.c.customer == body.customer
                if body.customer is not None
                else func.lower(customers.c.email) == (body.email or "").strip().lower()
            )
            keys = (
                (
                    await conn.execute(
                        select(customers.c.customer).where(named).order_by(customers.c.customer).with_for_update()
                    )
                )
                .scalars()
                .all()
            )
            if not keys:
                raise NotFound(f"no customer {body.customer or body.email!r}", type="UnknownCustomer")
            changed = []
            for n, key in enumerate(keys):
                at = stamp if n == 0 else await tick(conn)  # every change its own timestamp
                changed.append(await self._change(conn, CUSTOMERS, key, {"credit_blocked": body.blocked}, at))
        self.changed()
        return changed

    async def create_sales_order(self, body: SalesOrderCreate) -> tuple[dict[str, Any], bool]:
        """The sales order of ``body.PurchaseOrderByCustomer``: created now (True) or before (False).

        Raises:
            Conflict: ``DuplicatePurchaseOrder``: one exists for it with other content.
            RuleViolation: ``UnknownCustomer``, ``CustomerBlocked`` or ``UnknownMaterial`` (nothing is created).
        """
        digest = _digest(body)
        async with self.engine.begin() as conn:
            stamp = await tick(conn)  # serialises creations: one order per purchase order, even at once
            existing = (
                await conn.execute(
                    select(sales_orders.c.sales_order, sales_orders.c.request_digest).where(
                        sales_orders.c.purchase_order == body.PurchaseOrderByCustomer
                    )
                )
            ).one_or_none()
            if existing is not None:
                if existing.request_digest != digest:
                    raise Conflict(
                        f"purchase order {body.PurchaseOrderByCustomer} is sales order {existing.sales_order},"
                        " created with other content",
                        type="DuplicatePurchaseOrder",
                        extra={"SalesOrder": existing.sales_order},
                    )
                row = (
                    await conn.execute(
                        select(*SALES_ORDERS.columns).where(sales_orders.c.sales_order == existing.sales_order)
                    )
                ).one()
                return SALES_ORDERS.to_json(row), False
            sold_to = await self._sold_to(conn, body)
            if sold_to.credit_blocked or sold_to.delivery_blocked:
                why = "credit" if sold_to.credit_blocked else "delivery"
                raise RuleViolation(
                    f"customer {sold_to.customer} is blocked ({why}): no sales order is created",
                    type="CustomerBlocked",
                    extra={"SoldToParty": sold_to.customer},
                )
            items = await self._items(conn, body)
            total = sum((Decimal(item["NetPrice"]) * item["RequestedQuantity"] for item in items), Decimal(0))
            last = (await conn.execute(select(func.max(sales_orders.c.sales_order)))).scalar_one_or_none()
            number = f"{max(int(last or 0) + 1, FIRST_SALES_ORDER):010d}"
            row = (
                await conn.execute(
                    insert(sales_orders)
                    .values(
                        sales_order=number,
                        purchase_order=body.PurchaseOrderByCustomer,
                        sold_to_party=sold_to.customer,
                        customer_email=body.CustomerEmail.strip(),
                        currency=body.Currency,
                        total_net_amount=total,
                        overall_status=SalesOrderStatus.OPEN.value,
                        items=items,
                        request_digest=digest,
                        version=1,
                        last_changed_at=stamp,
                        created_at=datetime.now(UTC),
                    )
                    .returning(*SALES_ORDERS.columns)
                )
            ).one()
            # No event: the caller that created it has its answer; events tell of changes made in the ERP.
            data = SALES_ORDERS.to_json(row)
        return data, True

    async def _sold_to(self, conn: AsyncConnection, body: SalesOrderCreate) -> Any:
        """``SoldToParty``, else the customer with that e-mail (the lowest number), else the one-time customer."""
        if body.SoldToParty is not None:
            named = customers.c.customer == body.SoldToParty
        else:
            named = func.lower(customers.c.email) == body.CustomerEmail.strip().lower()
        row = (await conn.execute(select(customers).where(named).order_by(customers.c.customer).limit(1))).first()
        if row is None and body.SoldToParty is not None:
            raise RuleViolation(f"no customer {body.SoldToParty}", type="UnknownCustomer")
        if row is None:
            row = (await conn.execute(select(customers).where(customers.c.customer == ONE_TIME_CUSTOMER))).one()
        return row

    async def _items(self, conn: AsyncConnection, body: SalesOrderCreate) -> list[dict[str, Any]]:
        wanted = sorted({item.Material for item in body.Items})
        found = await conn.execute(
            select(materials.c.material, materials.c.price).where(materials.c.material.in_(wanted))
        )
        prices = dict(found.all())
        unknown = [material for material in wanted if material not in prices]
        if unknown:
            raise RuleViolation(
                f"unknown material(s): {', '.join(unknown[:20])}", type="UnknownMaterial", extra={"materials": unknown}
            )
        return [
            {
                "Material": item.Material,
                "RequestedQuantity": item.RequestedQuantity,
                "NetPrice": f"{Decimal(item.NetPrice) if item.NetPrice is not None else prices[item.Material]:.2f}",
            }
            for item in body.Items
        ]

    # -- outbox -------------------------------------------------------------------
    async def pending(self, limit: int) -> list[Outgoing]:
        """The oldest ``limit`` pending events, in ``occurred_at`` order."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(outbox.c.id, outbox.c.event_id, outbox.c.body, outbox.c.attempts, outbox.c.next_attempt_at)
                .where(outbox.c.status == "pending")
                .order_by(outbox.c.occurred_at, outbox.c.id)
                .limit(limit)
            )
            return [Outgoing(*row) for row in rows]

    async def delivered(self, event_id: int, status_code: int, answer: str, *, duplicated: bool) -> None:
        """The webhook acknowledged the event (2xx)."""
        await self._finish(event_id, "delivered", status_code, answer, duplicated=duplicated)

    async def rejected(self, event_id: int, status_code: int, answer: str) -> None:
        """The webhook refused the event for good (4xx): it stays ``rejected`` with the answer."""
        await self._finish(event_id, "rejected", status_code, answer)

    async def retry(self, event_id: int, status_code: int | None, answer: str, next_attempt_at: datetime) -> None:
        """The attempt failed (connection error, timeout, 5xx): try again at ``next_attempt_at``."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == event_id, outbox.c.status == "pending")
                .values(
                    attempts=outbox.c.attempts + 1,
                    answer_status=status_code,
                    answer=answer[:MAX_ANSWER_CHARS],
                    next_attempt_at=next_attempt_at,
                )
            )

    async def _finish(
        self, event_id: int, status: str, status_code: int, answer: str, *, duplicated: bool = False
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == event_id, outbox.c.status == "pending")
                .values(
                    status=status,
                    attempts=outbox.c.attempts + 1,
                    answer_status=status_code,
                    answer=answer[:MAX_ANSWER_CHARS],
                    next_attempt_at=None,
                    duplicated=duplicated,
                    finished_at=datetime.now(UTC),
                )
            )

    async def events(
        self, *, status: str | None = None, object_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Outbox events, in ``occurred_at`` order (oldest first), of one state and/or one entity."""
        stmt = select(outbox)
        if status is not None:
            stmt = stmt.where(outbox.c.status == status)
        if object_id is not None:
            stmt = stmt.where(outbox.c.object_id == object_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt.order_by(outbox.c.occurred_at, outbox.c.id).limit(limit))).all()
        return [_event(row) for row in rows]

    async def counts(self) -> dict[str, int]:
        """Outbox events per state."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
            return dict(rows.all())


def _event(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_id": row.event_id,
        "type": row.type,
        "object_id": row.object_id,
        "occurred_at": row.occurred_at,
        "status": row.status,
        "attempts": row.attempts,
        "duplicated": row.duplicated,
        "answer_status": row.answer_status,
        "answer": row.answer,
        "next_attempt_at": row.next_attempt_at,
        "created_at": row.created_at,
        "finished_at": row.finished_at,
        "body": json.loads(row.body),
    }

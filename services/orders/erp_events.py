"""The ERP's sales-order events in orders: each recorded once, the newest status kept on the order.

A ``SalesOrderStatusChanged`` names its PakLog order by the sales order's
``PurchaseOrderByCustomer``. Under a lock on that order (``FOR UPDATE``):

* an ``event_id`` recorded before is a ``duplicate`` (its first outcome kept);
* no such order: ``dead_letter`` (``UnknownOrder``), kept with its body;
* ``occurred_at`` not newer than the order's ``erp_status_at``: ``stale``;
* else ``applied``: ``orders.erp_status`` and ``erp_status_at`` move.

The answer's ``signal`` tells the gateway that the order's workflow is to hear
of it (``erp_status``) and ``forwarded`` that it has: a repeat of an applied
event that was never forwarded (the gateway stopped in between) is signalled
again, and the workflow ignores an event id it has seen.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from common.erp_events import (
    ErpEventPage,
    ErpEventRecorded,
    EventResult,
    EventStatus,
    list_events,
    record,
    recorded,
)
from common.errors import NotFound
from services.orders.models import ORDER_ID_PATTERN, EventForwarded, SalesOrderEventIn, SalesOrderEventRecorded
from services.orders.repository import OrdersRepository

SALES_ORDER_STATUS_CHANGED = "SalesOrderStatusChanged"
UNKNOWN_ORDER = "UnknownOrder"
_ORDER_ID = re.compile(ORDER_ID_PATTERN)


async def record_event(repo: OrdersRepository, event: SalesOrderEventIn) -> SalesOrderEventRecorded:
    """Record the event once and apply it to its order when it is the newest (module docstring).

    Call inside the route's transaction.

    Raises:
        Conflict: ``EventMismatch``: the id was recorded with another body.
    """
    order = await repo.lock_erp_status(event.order_id) if _ORDER_ID.fullmatch(event.order_id) else None
    erp_status: str | None = order["erp_status"] if order is not None else None
    repeat = await recorded(repo.session, event, SALES_ORDER_STATUS_CHANGED)
    if repeat is not None:
        _, forwarded_at = await repo.erp_event_forwarded_at(event.event_id)
        return _answer(event, repeat, erp_status, forwarded=forwarded_at is not None)
    if order is None:
        outcome = await record(repo.session, event, SALES_ORDER_STATUS_CHANGED, EventStatus.DEAD_LETTER, UNKNOWN_ORDER)
        return _answer(event, outcome, None, forwarded=False)
    known_at: datetime | None = order["erp_status_at"]
    newest = known_at is None or event.occurred_at > known_at
    outcome = await record(
        repo.session, event, SALES_ORDER_STATUS_CHANGED, EventStatus.APPLIED if newest else EventStatus.STALE
    )
    if outcome.result == EventResult.APPLIED:
        await repo.set_erp_status(event.order_id, event.status, event.occurred_at)
        erp_status = event.status
    return _answer(event, outcome, erp_status, forwarded=False)


def _answer(
    event: SalesOrderEventIn, outcome: ErpEventRecorded, erp_status: str | None, *, forwarded: bool
) -> SalesOrderEventRecorded:
    return SalesOrderEventRecorded(
        **outcome.model_dump(),
        order_id=event.order_id,
        erp_status=erp_status,
        signal=outcome.status == EventStatus.APPLIED,
        forwarded=forwarded,
    )


async def mark_forwarded(repo: OrdersRepository, event_id: str) -> EventForwarded:
    """The order's workflow has the event: a later repeat is not signalled again. A repeat changes nothing.

    Raises:
        NotFound: ``EventNotFound``.
    """
    if not await repo.mark_erp_event_forwarded(event_id, datetime.now(UTC)):
        raise NotFound(f"no ERP event {event_id}", type="EventNotFound")
    return EventForwarded(event_id=event_id, forwarded=True)


async def events(repo: OrdersRepository, *, status: EventStatus | None, limit: int, offset: int) -> ErpEventPage:
    return await list_events(repo.session, status=status, limit=limit, offset=offset)

"""Orders routes. Each mutating route runs its unit of work through the idempotency helper."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request

from common.db import SessionDep
from common.erp_events import EVENT_ID_PATTERN, MAX_EVENTS_OFFSET, MAX_EVENTS_PAGE, ErpEventPage, EventStatus
from common.errors import ErrorBody
from common.idempotency import IDEMPOTENT_RESPONSES, IdempotentDep, fingerprint
from common.paging import MAX_CURSOR_LENGTH, IsoDateTime
from services.orders import erp_events, history, service
from services.orders.models import (
    AddressChangeIn,
    AlertIn,
    AlertPublic,
    CancelIn,
    CancelReason,
    EventForwarded,
    HistoryPage,
    OrderCreate,
    OrderPage,
    OrderPublic,
    OrderStatus,
    SalesOrderEventIn,
    SalesOrderEventRecorded,
    TransitionIn,
)
from services.orders.repository import OrdersRepository


async def get_repo(session: SessionDep) -> OrdersRepository:
    return OrdersRepository(session)


RepoDep = Annotated[OrdersRepository, Depends(get_repo)]
OrderIdPath = Annotated[str, Path(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]

# Bounded: past int64 the database refuses the value; deep offsets cost a scan, and cursors walk far.
MAX_OFFSET = 1_000_000

router = APIRouter(prefix="/orders", tags=["orders"])


@router.post("", status_code=201, response_model=OrderPublic, responses=IDEMPOTENT_RESPONSES)
async def create_order(body: OrderCreate, repo: RepoDep, once: IdempotentDep) -> OrderPublic:
    return await once.run(fingerprint("create", body.model_dump(mode="json")), lambda: service.create(repo, body))


@router.get("", response_model=OrderPage)
async def list_orders(
    repo: RepoDep,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    status: OrderStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
    reason: Annotated[CancelReason | None, Query(description="Only orders cancelled for this reason")] = None,
    since: Annotated[IsoDateTime | None, Query(description="Placed at or after (with a zone)")] = None,
    until: Annotated[IsoDateTime | None, Query(description="Placed before (with a zone)")] = None,
) -> OrderPage:
    """Orders newest first, a page at a time.

    Walk with ``cursor`` (each page's ``next_cursor``) to see every order once
    while new ones arrive; ``offset`` still works (then skips past the cursor).
    A cursor this service did not give out is 422 ``InvalidCursor``; ``since``
    not before ``until`` is 422 ``InvalidTimeRange``.
    """
    return await service.list_orders(
        repo,
        customer_id=customer_id,
        status=status,
        reason=reason,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )


async def history_bell(request: Request) -> history.HistoryBell:
    """The process's one LISTEN connection (:class:`~services.orders.history.HistoryBell`), made on first use."""
    bell: history.HistoryBell | None = getattr(request.app.state, "history_bell", None)
    if bell is None:
        bell = request.app.state.history_bell = history.HistoryBell(request.app.state.engine)
    return bell


async def close_history_bell(app: FastAPI) -> None:
    bell: history.HistoryBell | None = getattr(app.state, "history_bell", None)
    if bell is not None:
        await bell.close()


history_router = APIRouter(prefix="/history", tags=["history"])


@history_router.get("", response_model=HistoryPage, responses={422: {"model": ErrorBody}})
async def order_history(
    session: SessionDep,
    bell: Annotated[history.HistoryBell, Depends(history_bell)],
    after: Annotated[
        str | None,
        Query(
            max_length=41,
            description="A cursor (`<xid>.<id>`) from an item or `next`: the changes after it "
            "(422 `InvalidCursor` otherwise); none: no changes, `next` = now",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=history.MAX_PAGE)] = 100,
    wait_seconds: Annotated[
        float, Query(ge=0, le=history.MAX_WAIT_SECONDS, description="Wait this long for a change when none is there")
    ] = 0,
) -> HistoryPage:
    """Every order's status changes after ``after``, in commit order (a late commit never lands behind a cursor
    handed out); with ``wait_seconds`` it answers at the first change, or empty when the wait ends."""
    return await history.changes(session, bell, after, limit=limit, wait_seconds=wait_seconds)


@router.get("/{order_id}", response_model=OrderPublic)
async def get_order(order_id: OrderIdPath, repo: RepoDep) -> OrderPublic:
    return await service.get(repo, order_id)


@router.post("/{order_id}/transition", response_model=OrderPublic, responses=IDEMPOTENT_RESPONSES)
async def transition(order_id: OrderIdPath, body: TransitionIn, repo: RepoDep, once: IdempotentDep) -> OrderPublic:
    """Move the order one step; ``SHIPPED`` may carry ``tracking_code``, ``carrier`` and ``shipped_lines``."""
    # A bare move keeps its original fingerprint: keys stored before shipping details existed still match.
    details = body.model_dump(mode="json", exclude={"status"}, exclude_none=True)
    parts = ("transition", order_id, body.status, details) if details else ("transition", order_id, body.status)
    return await once.run(fingerprint(*parts), lambda: service.transition(repo, order_id, body))


@router.put(
    "/{order_id}/shipping-address",
    response_model=OrderPublic,
    responses={409: {"model": ErrorBody, "description": "``AddressLocked`` (packed or later), or a key conflict"}},
)
async def change_address(
    order_id: OrderIdPath, body: AddressChangeIn, repo: RepoDep, once: IdempotentDep
) -> OrderPublic:
    """Ship to another address, until the order is packed; the same address again changes nothing."""
    return await once.run(
        fingerprint("address", order_id, body.model_dump()), lambda: service.change_address(repo, order_id, body)
    )


@router.post("/{order_id}/cancel", response_model=OrderPublic, responses=IDEMPOTENT_RESPONSES)
async def cancel(order_id: OrderIdPath, body: CancelIn, repo: RepoDep, once: IdempotentDep) -> OrderPublic:
    """Cancel with a reason, recording who asked; cancelling a cancelled order changes nothing."""
    return await once.run(
        fingerprint("cancel", order_id, body.reason, body.requested_by),
        lambda: service.cancel(repo, order_id, body.reason, body.requested_by),
    )


@router.post("/{order_id}/alerts", status_code=201, response_model=AlertPublic, responses=IDEMPOTENT_RESPONSES)
async def record_alert(order_id: OrderIdPath, body: AlertIn, repo: RepoDep, once: IdempotentDep) -> AlertPublic:
    """Flag the order for operators (e.g. a compensation that can never succeed)."""
    return await once.run(
        fingerprint("alert", order_id, body.model_dump()), lambda: service.record_alert(repo, order_id, body)
    )


# -- the ERP's sales-order events (docs/erp.md, part C) ---------------------------------------
erp_router = APIRouter(prefix="/erp-events", tags=["erp"])
EventIdPath = Annotated[str, Path(pattern=EVENT_ID_PATTERN)]


@erp_router.post(
    "",
    response_model=SalesOrderEventRecorded,
    responses={409: {"model": ErrorBody, "description": "``EventMismatch`` (the id came with another body)"}},
)
async def record_erp_event(body: SalesOrderEventIn, repo: RepoDep, once: IdempotentDep) -> SalesOrderEventRecorded:
    """A ``SalesOrderStatusChanged``, recorded once per ``event_id``: ``applied`` to a known order when it
    is newer than its ``erp_status_at``, else ``stale``; an unknown order is a ``dead_letter``; a repeat
    answers ``duplicate``. ``signal``: the order's workflow is to hear of it (until ``forwarded``)."""
    return await once.run(fingerprint("erp-event", body.model_dump_json()), lambda: erp_events.record_event(repo, body))


@erp_router.post("/{event_id}/forwarded", response_model=EventForwarded, responses=IDEMPOTENT_RESPONSES)
async def erp_event_forwarded(event_id: EventIdPath, repo: RepoDep, once: IdempotentDep) -> EventForwarded:
    """The order's workflow has the event; a repeat changes nothing. Unknown id: 404 ``EventNotFound``."""
    return await once.run(
        fingerprint("erp-event-forwarded", event_id), lambda: erp_events.mark_forwarded(repo, event_id)
    )


@erp_router.get("", response_model=ErpEventPage)
async def list_erp_events(
    repo: RepoDep,
    status: EventStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_EVENTS_OFFSET)] = 0,
) -> ErpEventPage:
    """Recorded events (``?status=dead_letter``: what names an order PakLog does not know), newest first."""
    return await erp_events.events(repo, status=status, limit=limit, offset=offset)

"""The order state machine.

``PENDING → RESERVED → PAYMENT_AUTHORIZED → AWAITING_WAVE → PICKING → PACKED
→ SHIPPED → DELIVERED``; ``CANCELLED`` (with a reason) from any state before
``SHIPPED``, and from ``SHIPPED`` only as ``DELIVERY_FAILED`` (the carrier gave
up: the money and the stock come back). ``DELIVERED`` is final. Every change
is written to the order's history in the same transaction, under ``SELECT ...
FOR UPDATE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from asyncpg import Record

from common.errors import Conflict, NotFound, RuleViolation
from common.paging import decode_cursor, encode_cursor
from services.orders.models import (
    AddressChangeIn,
    AlertIn,
    AlertPublic,
    CancelReason,
    LinePublic,
    Order,
    OrderCreate,
    OrderLine,
    OrderPage,
    OrderPublic,
    OrderStatus,
    ShippedLine,
    StatusChange,
    StatusChangePublic,
    TransitionIn,
)
from services.orders.repository import OrdersRepository

FORWARD: dict[OrderStatus, OrderStatus] = {
    OrderStatus.PENDING: OrderStatus.RESERVED,
    OrderStatus.RESERVED: OrderStatus.PAYMENT_AUTHORIZED,
    OrderStatus.PAYMENT_AUTHORIZED: OrderStatus.AWAITING_WAVE,
    OrderStatus.AWAITING_WAVE: OrderStatus.PICKING,
    OrderStatus.PICKING: OrderStatus.PACKED,
    OrderStatus.PACKED: OrderStatus.SHIPPED,
    OrderStatus.SHIPPED: OrderStatus.DELIVERED,
}
#: The one status each forward target may be reached from (``FORWARD`` inverted).
PREVIOUS: dict[OrderStatus, OrderStatus] = {target: current for current, target in FORWARD.items()}
CANCELLABLE = frozenset(
    {
        OrderStatus.PENDING,
        OrderStatus.RESERVED,
        OrderStatus.PAYMENT_AUTHORIZED,
        OrderStatus.AWAITING_WAVE,
        OrderStatus.PICKING,
        OrderStatus.PACKED,
    }
)
#: Statuses a cancel may come from only with one of these reasons: a shipped parcel the carrier could not deliver.
CANCELLABLE_WITH: dict[OrderStatus, frozenset[CancelReason]] = {
    OrderStatus.SHIPPED: frozenset({CancelReason.DELIVERY_FAILED}),
}


def can_move(current: OrderStatus, target: OrderStatus, reason: CancelReason | None = None) -> bool:
    """Whether the state machine allows ``current → target`` (for ``CANCELLED``: with ``reason``)."""
    if target == OrderStatus.CANCELLED:
        return current in CANCELLABLE or reason in CANCELLABLE_WITH.get(current, frozenset())
    return FORWARD.get(current) == target


def _illegal(order_id: str, status: OrderStatus, target: OrderStatus, reason: CancelReason | None = None) -> Conflict:
    because = f" ({reason})" if reason is not None else ""
    return Conflict(
        f"order {order_id} cannot go from {status} to {target}{because}",
        type="IllegalTransition",
        extra={"status": status, "requested": target},
    )


async def to_public(repo: OrdersRepository, order: Order, *, with_history: bool = True) -> OrderPublic:
    lines = (await repo.lines([order.order_id]))[order.order_id]
    if not with_history:
        return _public(order, lines)
    history = await repo.history(order.order_id)
    alerts = [
        AlertPublic(kind=a.kind, step=a.step, detail=a.detail, at=a.at) for a in await repo.alerts(order.order_id)
    ]
    return _public(order, lines, history, alerts)


def _public(
    order: Order,
    lines: list[OrderLine],
    history: Sequence[StatusChange] | None = None,
    alerts: list[AlertPublic] | None = None,
) -> OrderPublic:
    return OrderPublic(
        order_id=order.order_id,
        customer_id=order.customer_id,
        customer_email=order.customer_email,
        status=order.status,
        cancel_reason=order.cancel_reason,
        lines=[LinePublic(sku=ln.sku, quantity=ln.quantity, unit_price_cents=ln.unit_price_cents) for ln in lines],
        total_cents=order.total_cents,
        currency=order.currency,
        shipping_address=order.shipping_address,
        created_at=order.created_at,
        updated_at=order.updated_at,
        tracking_code=order.tracking_code,
        carrier=order.carrier,
        shipped_lines=_shipped(order.shipped_lines),
        erp_document_number=order.erp_document_number,
        history=(
            [
                StatusChangePublic(
                    from_status=h.from_status, to_status=h.to_status, reason=h.reason, actor=h.actor, at=h.at
                )
                for h in history
            ]
            if history is not None
            else None
        ),
        alerts=alerts or [],
    )


def _public_row(row: Record) -> OrderPublic:
    """An order row from the repository's plain-SQL reads (lines as JSON, no history)."""
    return OrderPublic(
        order_id=row["order_id"],
        customer_id=row["customer_id"],
        customer_email=row["customer_email"],
        status=row["status"],
        cancel_reason=row["cancel_reason"],
        lines=[LinePublic(**line) for line in row["lines"]],
        total_cents=row["total_cents"],
        currency=row["currency"],
        shipping_address=row["shipping_address"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        tracking_code=row["tracking_code"],
        carrier=row["carrier"],
        shipped_lines=_shipped(row["shipped_lines"]),
        erp_document_number=row["erp_document_number"],
    )


def _shipped(lines: list[dict[str, Any]] | None) -> list[ShippedLine] | None:
    return [ShippedLine(sku=line["sku"], quantity=line["quantity"]) for line in lines] if lines is not None else None


async def create(repo: OrdersRepository, data: OrderCreate) -> OrderPublic:
    """Record a new order as PENDING; the same order again answers the existing one.

    Raises:
        Conflict: ``OrderExists`` when the id is taken by different content.
    """
    now = datetime.now(UTC)
    total_cents = sum(line.quantity * line.unit_price_cents for line in data.lines)
    if not await repo.create(data, total_cents, OrderStatus.PENDING, now):
        existing = await repo.get(data.order_id)
        assert existing is not None
        public = await to_public(repo, existing)
        same = (
            existing.customer_id == data.customer_id
            and existing.currency == data.currency
            and [ln.model_dump() for ln in public.lines] == [ln.model_dump() for ln in data.lines]
        )
        if not same:
            raise Conflict(f"order {data.order_id} exists with different content", type="OrderExists")
        return public
    # Everything in the answer was just written from these values: no read-back.
    return OrderPublic(
        order_id=data.order_id,
        customer_id=data.customer_id,
        customer_email=data.customer_email,
        status=OrderStatus.PENDING,
        cancel_reason=None,
        lines=[LinePublic(**line.model_dump()) for line in data.lines],
        total_cents=total_cents,
        currency=data.currency,
        shipping_address=data.shipping_address.model_dump(),
        created_at=now,
        updated_at=now,
        history=[StatusChangePublic(from_status=None, to_status=OrderStatus.PENDING, reason=None, at=now)],
    )


async def transition(repo: OrdersRepository, order_id: str, data: TransitionIn) -> OrderPublic:
    """Move the order one legal step; moving to the current status changes nothing.

    ``SHIPPED`` records the tracking code, the carrier and what shipped
    (``shipped_lines``; left out: everything ordered). A repeat keeps what
    the first move recorded. ``AWAITING_WAVE`` may carry the ERP's document
    number: set once (the same number again changes nothing).

    Raises:
        NotFound: ``OrderNotFound``.
        Conflict: ``IllegalTransition``; ``ErpDocumentMismatch`` when the order
            has another ERP document number (nothing changes).
        RuleViolation: ``ShippedLinesMismatch``: a SKU the order does not have, or more than ordered.
    """
    target = data.status
    if target == OrderStatus.CANCELLED:
        raise Conflict("use the cancel endpoint, which needs a reason", type="IllegalTransition")
    if target == OrderStatus.SHIPPED:
        return await _ship(repo, order_id, data)
    previous = PREVIOUS.get(target)
    number = data.erp_document_number
    now = datetime.now(UTC)
    # One statement on the happy path: move from the only legal previous status, or nothing.
    row = await repo.move(order_id, previous, target, now, erp_document_number=number) if previous is not None else None
    if row is None:
        row = await repo.read(order_id)
        if row is None:
            raise NotFound(f"no order {order_id}", type="OrderNotFound")
        if row["status"] != target:
            raise _illegal(order_id, OrderStatus(row["status"]), target)
        if number is not None and row["erp_document_number"] is None:
            # Moved without one before: the first number given is the order's.
            row = await repo.record_erp_document(order_id, number, now) or await repo.read(order_id)
            assert row is not None
    if number is not None and row["erp_document_number"] != number:
        raise Conflict(
            f"order {order_id} is ERP document {row['erp_document_number']}, not {number}",
            type="ErpDocumentMismatch",
            extra={"erp_document_number": row["erp_document_number"]},
        )
    return _public_row(row)


async def _ship(repo: OrdersRepository, order_id: str, data: TransitionIn) -> OrderPublic:
    shipped = [line.model_dump() for line in data.shipped_lines] if data.shipped_lines is not None else None
    if shipped is not None:
        current = await repo.read(order_id, for_update=True)
        if current is not None and current["status"] == OrderStatus.PACKED:
            _check_shipped(order_id, current["lines"], shipped)
    row = await repo.ship(
        order_id,
        OrderStatus.PACKED,
        datetime.now(UTC),
        tracking_code=data.tracking_code,
        carrier=data.carrier,
        shipped_lines=shipped,
    )
    if row is None:
        row = await repo.read(order_id)
        if row is None:
            raise NotFound(f"no order {order_id}", type="OrderNotFound")
        if row["status"] != OrderStatus.SHIPPED:
            raise _illegal(order_id, OrderStatus(row["status"]), OrderStatus.SHIPPED)
    return _public_row(row)


def _check_shipped(order_id: str, lines: list[dict[str, Any]], shipped: list[dict[str, Any]]) -> None:
    ordered: dict[str, int] = {}
    for line in lines:
        ordered[line["sku"]] = ordered.get(line["sku"], 0) + line["quantity"]
    for line in shipped:
        if line["quantity"] > ordered.get(line["sku"], 0):
            raise RuleViolation(
                f"order {order_id} ordered {ordered.get(line['sku'], 0)} of {line['sku']}, not {line['quantity']}",
                type="ShippedLinesMismatch",
                extra={"sku": line["sku"], "ordered": ordered.get(line["sku"], 0), "shipped": line["quantity"]},
            )


async def change_address(repo: OrdersRepository, order_id: str, data: AddressChangeIn) -> OrderPublic:
    """Ship to another address; the same address again changes nothing.

    Raises:
        NotFound: ``OrderNotFound``.
        Conflict: ``AddressLocked`` once the order is packed (or later, or cancelled).
    """
    row = await repo.change_address(order_id, data.shipping_address.model_dump(), datetime.now(UTC))
    if row is None:
        current = await repo.read(order_id)
        if current is None:
            raise NotFound(f"no order {order_id}", type="OrderNotFound")
        raise Conflict(
            f"order {order_id} is {current['status']}: its address can no longer change",
            type="AddressLocked",
            extra={"status": current["status"]},
        )
    return _public_row(row)


async def cancel(
    repo: OrdersRepository, order_id: str, reason: CancelReason, requested_by: str | None = None
) -> OrderPublic:
    """Cancel with ``reason``, recording who asked; an already cancelled order is left as it is.

    A ``SHIPPED`` order is cancelled only for ``DELIVERY_FAILED``; it keeps
    what shipped (tracking code, carrier, shipped lines).

    Raises:
        NotFound: ``OrderNotFound``.
        Conflict: ``IllegalTransition`` once shipped (for any other reason) or delivered.
    """
    row = await repo.read(order_id, for_update=True)
    if row is None:
        raise NotFound(f"no order {order_id}", type="OrderNotFound")
    status = OrderStatus(row["status"])
    if status != OrderStatus.CANCELLED:
        if not can_move(status, OrderStatus.CANCELLED, reason):
            raise _illegal(order_id, status, OrderStatus.CANCELLED, reason)
        # The row is locked: the move cannot miss.
        moved = await repo.move(
            order_id, status, OrderStatus.CANCELLED, datetime.now(UTC), cancel_reason=reason, actor=requested_by
        )
        assert moved is not None
        row = moved
    return _public_row(row)


async def record_alert(repo: OrdersRepository, order_id: str, data: AlertIn) -> AlertPublic:
    """Flag the order for operators; the same kind and step twice is one alert.

    Raises:
        NotFound: ``OrderNotFound``.
    """
    if await repo.get(order_id) is None:
        raise NotFound(f"no order {order_id}", type="OrderNotFound")
    await repo.add_alert(order_id, data.kind, data.step, data.detail, datetime.now(UTC))
    alert = next(a for a in await repo.alerts(order_id) if (a.kind, a.step) == (data.kind, data.step))
    return AlertPublic(kind=alert.kind, step=alert.step, detail=alert.detail, at=alert.at)


def check_time_range(since: datetime | None, until: datetime | None) -> None:
    """``since`` must come before ``until`` when both are given.

    Raises:
        RuleViolation: ``InvalidTimeRange`` otherwise (an empty range is a mistake, not an empty page).
    """
    if since is not None and until is not None and since >= until:
        raise RuleViolation("since must be before until", type="InvalidTimeRange")


async def list_orders(
    repo: OrdersRepository,
    *,
    customer_id: str | None,
    status: OrderStatus | None,
    limit: int,
    offset: int,
    cursor: str | None = None,
    reason: CancelReason | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> OrderPage:
    """A page newest first; ``cursor`` (a previous page's ``next_cursor``) continues after its last order.

    The filters (``customer_id``, ``status``, ``reason``, placed ``since`` /
    before ``until``) hold on every page of a cursor walk: pass the same ones.

    Raises:
        RuleViolation: ``InvalidCursor`` for a cursor this service did not give out;
            ``InvalidTimeRange`` when ``since`` is not before ``until``.
    """
    check_time_range(since, until)
    after = decode_cursor(cursor) if cursor is not None else None
    # One row more than asked tells whether another page follows.
    orders, total = await repo.list(
        customer_id=customer_id,
        status=status,
        reason=reason,
        since=since,
        until=until,
        limit=limit + 1,
        offset=offset,
        after=after,
    )
    page = orders[:limit]
    lines = await repo.lines([o.order_id for o in page])
    last = page[-1] if len(orders) > limit else None
    return OrderPage(
        items=[_public(o, lines[o.order_id]) for o in page],
        total=total,
        limit=limit,
        offset=offset,
        next_cursor=encode_cursor(last.created_at, last.order_id) if last is not None else None,
    )


async def get(repo: OrdersRepository, order_id: str) -> OrderPublic:
    order = await repo.get(order_id)
    if order is None:
        raise NotFound(f"no order {order_id}", type="OrderNotFound")
    return await to_public(repo, order)

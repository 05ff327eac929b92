"""The order state machine.

``PENDING → RESERVED → PAYMENT_AUTHORIZED → AWAITING_WAVE → PICKING → PACKED
→ SHIPPED → DELIVERED``; ``CANCELLED`` (with a reason) from any state before
``SHIPPED``. Every change is written to the order's history in the same
transaction, under ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from common.errors import Conflict, NotFound
from common.paging import decode_cursor, encode_cursor
from services.orders.models import (
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
    StatusChange,
    StatusChangePublic,
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


def can_move(current: OrderStatus, target: OrderStatus) -> bool:
    """Whether the state machine allows ``current → target``."""
    if target == OrderStatus.CANCELLED:
        return current in CANCELLABLE
    return FORWARD.get(current) == target


def _illegal(order: Order, target: OrderStatus) -> Conflict:
    return Conflict(
        f"order {order.order_id} cannot go from {order.status} to {target}",
        type="IllegalTransition",
        extra={"status": order.status, "requested": target},
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


async def create(repo: OrdersRepository, data: OrderCreate) -> OrderPublic:
    """Record a new order as PENDING; the same order again answers the existing one.

    Raises:
        Conflict: ``OrderExists`` when the id is taken by different content.
    """
    now = datetime.now(UTC)
    order = Order(
        order_id=data.order_id,
        customer_id=data.customer_id,
        customer_email=data.customer_email,
        status=OrderStatus.PENDING,
        cancel_reason=None,
        total_cents=sum(line.quantity * line.unit_price_cents for line in data.lines),
        currency=data.currency,
        shipping_address=data.shipping_address.model_dump(),
        created_at=now,
        updated_at=now,
    )
    if not await repo.claim(order):
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
    await repo.add_lines(
        [
            OrderLine(
                order_id=data.order_id,
                line_no=i,
                sku=ln.sku,
                quantity=ln.quantity,
                unit_price_cents=ln.unit_price_cents,
            )
            for i, ln in enumerate(data.lines, start=1)
        ]
    )
    await repo.record_change(data.order_id, None, OrderStatus.PENDING, None, now)
    return await to_public(repo, order)


async def _locked(repo: OrdersRepository, order_id: str) -> Order:
    order = await repo.get(order_id, for_update=True)
    if order is None:
        raise NotFound(f"no order {order_id}", type="OrderNotFound")
    return order


async def transition(repo: OrdersRepository, order_id: str, target: OrderStatus) -> OrderPublic:
    """Move the order one legal step; moving to the current status changes nothing.

    Raises:
        NotFound: ``OrderNotFound``.
        Conflict: ``IllegalTransition``.
    """
    if target == OrderStatus.CANCELLED:
        raise Conflict("use the cancel endpoint, which needs a reason", type="IllegalTransition")
    order = await _locked(repo, order_id)
    if order.status != target:
        if not can_move(order.status, target):
            raise _illegal(order, target)
        await _change(repo, order, target, None)
    return await to_public(repo, order, with_history=False)


async def cancel(
    repo: OrdersRepository, order_id: str, reason: CancelReason, requested_by: str | None = None
) -> OrderPublic:
    """Cancel with ``reason``, recording who asked; an already cancelled order is left as it is.

    Raises:
        NotFound: ``OrderNotFound``.
        Conflict: ``IllegalTransition`` once shipped.
    """
    order = await _locked(repo, order_id)
    if order.status != OrderStatus.CANCELLED:
        if not can_move(order.status, OrderStatus.CANCELLED):
            raise _illegal(order, OrderStatus.CANCELLED)
        order.cancel_reason = reason
        await _change(repo, order, OrderStatus.CANCELLED, reason, requested_by)
    return await to_public(repo, order, with_history=False)


async def _change(
    repo: OrdersRepository, order: Order, target: OrderStatus, reason: str | None, actor: str | None = None
) -> None:
    now = datetime.now(UTC)
    previous = order.status
    order.status = target
    order.updated_at = now
    await repo.save(order)
    await repo.record_change(order.order_id, previous, target, reason, now, actor)


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


async def list_orders(
    repo: OrdersRepository,
    *,
    customer_id: str | None,
    status: OrderStatus | None,
    limit: int,
    offset: int,
    cursor: str | None = None,
) -> OrderPage:
    """A page newest first; ``cursor`` (a previous page's ``next_cursor``) continues after its last order.

    Raises:
        RuleViolation: ``InvalidCursor`` for a cursor this service did not give out.
    """
    after = decode_cursor(cursor) if cursor is not None else None
    # One row more than asked tells whether another page follows.
    orders, total = await repo.list(customer_id=customer_id, status=status, limit=limit + 1, offset=offset, after=after)
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

"""Money rules: authorize, capture, void, refund — never a second charge.

Every operation of one order runs under a transaction-scoped advisory lock
on the order id, and the database allows one live payment per order (a
partial unique index), so concurrent or repeated calls cannot charge twice.
The ledger (``payment_operations``) has at most one capture per payment.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from common.errors import Conflict, NotFound, RuleViolation
from services.payments.models import (
    AuthorizeIn,
    NothingToUndo,
    OperationPublic,
    Payment,
    PaymentPublic,
    PaymentStatus,
)
from services.payments.processor import Approved, CardProcessor, UnknownCard
from services.payments.repository import PaymentsRepository

REFUNDABLE = (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED)


async def to_public(repo: PaymentsRepository, payments: Sequence[Payment]) -> list[PaymentPublic]:
    ops = await repo.operations([p.payment_id for p in payments])
    return [
        PaymentPublic(
            payment_id=p.payment_id,
            order_id=p.order_id,
            status=p.status,
            amount_cents=p.amount_cents,
            captured_cents=p.captured_cents,
            refunded_cents=p.refunded_cents,
            currency=p.currency,
            card_brand=p.card_brand,
            decline_reason=p.decline_reason,
            created_at=p.created_at,
            updated_at=p.updated_at,
            operations=[
                OperationPublic(operation=o.operation, amount_cents=o.amount_cents, at=o.at) for o in ops[p.payment_id]
            ],
        )
        for p in payments
    ]


async def _one(repo: PaymentsRepository, payment: Payment) -> dict[str, Any]:
    return (await to_public(repo, [payment]))[0].model_dump(mode="json")


async def authorize(
    repo: PaymentsRepository, processor: CardProcessor, data: AuthorizeIn, attempt: int
) -> tuple[int, dict[str, Any]]:
    """Authorize ``amount_cents``; answers (status code, body).

    201 with the payment; 200 with the order's existing live payment (no
    second charge); 402 ``PaymentDeclined`` with the recorded declined payment.

    Raises:
        RuleViolation: ``UnknownCardToken``.
        ProcessorDown: transient; the route answers 503.
    """
    await repo.lock_order(data.order_id)
    existing = await repo.live_payment(data.order_id)
    if existing is not None:
        if existing.amount_cents != data.amount_cents or existing.currency != data.currency:
            raise Conflict(
                f"order {data.order_id} already holds a payment of {existing.amount_cents} {existing.currency}",
                type="PaymentExists",
            )
        return 200, await _one(repo, existing)
    try:
        outcome = await processor.authorize(data.card_token, data.amount_cents, attempt=attempt)
    except UnknownCard:
        raise RuleViolation(f"unknown card token {data.card_token!r}", type="UnknownCardToken") from None
    now = datetime.now(UTC)
    payment = Payment(
        payment_id=uuid.uuid4().hex,
        order_id=data.order_id,
        status=PaymentStatus.AUTHORIZED if isinstance(outcome, Approved) else PaymentStatus.DECLINED,
        amount_cents=data.amount_cents,
        currency=data.currency,
        card_brand=outcome.brand,
        decline_reason=None if isinstance(outcome, Approved) else outcome.reason,
        created_at=now,
        updated_at=now,
    )
    await repo.save(payment)
    if isinstance(outcome, Approved):
        await repo.record(payment.payment_id, "authorize", payment.amount_cents)
        return 201, await _one(repo, payment)
    return 402, {
        "type": "PaymentDeclined",
        "detail": f"card declined: {outcome.reason}",
        "payment": await _one(repo, payment),
    }


async def _set(repo: PaymentsRepository, payment: Payment, status: PaymentStatus, **changes: int) -> None:
    payment.status = status
    payment.updated_at = datetime.now(UTC)
    for name, value in changes.items():
        setattr(payment, name, value)
    await repo.save(payment)


async def capture(repo: PaymentsRepository, order_id: str) -> dict[str, Any]:
    """Capture the authorized amount once; a repeat answers the captured payment.

    Raises:
        NotFound: ``PaymentNotFound`` when the order holds no live payment.
    """
    await repo.lock_order(order_id)
    payment = await repo.live_payment(order_id)
    if payment is None:
        newest = await repo.newest_payment(order_id)
        if newest is not None and newest.status == PaymentStatus.VOIDED:
            raise Conflict(f"payment of order {order_id} was voided", type="PaymentVoided")
        raise NotFound(f"order {order_id} holds no payment to capture", type="PaymentNotFound")
    if payment.status == PaymentStatus.AUTHORIZED:
        await _set(repo, payment, PaymentStatus.CAPTURED, captured_cents=payment.amount_cents)
        await repo.record(payment.payment_id, "capture", payment.amount_cents)
    return await _one(repo, payment)


async def void(repo: PaymentsRepository, order_id: str) -> dict[str, Any]:
    """Release the authorization; nothing to void (none, declined, voided) is success.

    Raises:
        Conflict: ``PaymentCaptured`` — money moved; refund instead.
    """
    await repo.lock_order(order_id)
    payment = await repo.live_payment(order_id) or await repo.newest_payment(order_id)
    if payment is None:
        return NothingToUndo(order_id=order_id).model_dump()
    if payment.status in REFUNDABLE or payment.status == PaymentStatus.REFUNDED:
        raise Conflict(f"payment of order {order_id} is {payment.status}; refund it instead", type="PaymentCaptured")
    if payment.status == PaymentStatus.AUTHORIZED:
        await _set(repo, payment, PaymentStatus.VOIDED)
        await repo.record(payment.payment_id, "void", payment.amount_cents)
    return await _one(repo, payment)


async def refund(repo: PaymentsRepository, order_id: str, amount_cents: int) -> dict[str, Any]:
    """Give back part or all of the captured amount.

    Raises:
        NotFound: ``PaymentNotFound``.
        Conflict: ``PaymentNotCaptured``.
        RuleViolation: ``RefundExceedsCapture``.
    """
    await repo.lock_order(order_id)
    payment = await repo.live_payment(order_id)
    if payment is None:
        raise NotFound(f"order {order_id} holds no payment to refund", type="PaymentNotFound")
    if payment.status not in REFUNDABLE:
        raise Conflict(f"payment of order {order_id} is {payment.status}", type="PaymentNotCaptured")
    left = payment.captured_cents - payment.refunded_cents
    if amount_cents > left:
        raise RuleViolation(f"only {left} {payment.currency} cents can still be refunded", type="RefundExceedsCapture")
    refunded = payment.refunded_cents + amount_cents
    status = PaymentStatus.REFUNDED if refunded == payment.captured_cents else PaymentStatus.PARTIALLY_REFUNDED
    await _set(repo, payment, status, refunded_cents=refunded)
    await repo.record(payment.payment_id, "refund", amount_cents)
    return await _one(repo, payment)

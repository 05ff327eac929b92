"""Money rules: authorize, capture, void, refund — never a second charge, never a call inside a transaction.

Every state change of one order runs under a transaction-scoped advisory
lock on the order id, and the database allows one open payment per order (a
partial unique index over ``PENDING`` and the live states), so concurrent or
repeated calls cannot charge twice. The ledger (``payment_operations``) has
at most one capture per payment.

The card processor is slow and remote, so it is never called while a
connection or a lock is held. ``authorize`` records a ``PENDING`` payment and
commits, asks the processor with the payment id as the processor's own
idempotency key (a retry asks again with the same key and cannot hold
twice), then records the answer in a second transaction. A ``void`` that
ran in between wins: it marks the pending payment ``VOIDED`` and leaves a
tombstone, and the late answer is voided at the processor and refused with
409 ``PaymentVoided``; so is any later authorize of that order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar

from asyncpg import Record

from common.errors import Conflict, DomainError, NotFound, RuleViolation, Unavailable
from common.idempotency import Answer, Phases, Recorded
from services.payments.models import (
    AuthorizeIn,
    NothingToUndo,
    OperationPublic,
    Payment,
    PaymentPublic,
    PaymentStatus,
)
from services.payments.processor import Approved, CardProcessor, Declined, ProcessorDown, UnknownCard
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


async def _one(repo: PaymentsRepository, payment: Payment) -> PaymentPublic:
    return (await to_public(repo, [payment]))[0]


def payment_public(row: Record) -> PaymentPublic:
    """The answer for a payment row with its ledger (``op_names``, ``op_amounts``, ``op_times``)."""
    return PaymentPublic(
        payment_id=row["payment_id"],
        order_id=row["order_id"],
        status=row["status"],
        amount_cents=row["amount_cents"],
        captured_cents=row["captured_cents"],
        refunded_cents=row["refunded_cents"],
        currency=row["currency"],
        card_brand=row["card_brand"],
        decline_reason=row["decline_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        operations=[
            OperationPublic(operation=operation, amount_cents=amount, at=at)
            for operation, amount, at in zip(
                row["op_names"] or (), row["op_amounts"] or (), row["op_times"] or (), strict=True
            )
        ],
    )


class PaymentDeclined(DomainError):
    """402: the card was declined; the declined payment is recorded and in the body."""

    status_code: ClassVar[int] = 402
    default_type: ClassVar[str] = "PaymentDeclined"


def _voided(order_id: str) -> Conflict:
    return Conflict(f"payment of order {order_id} was voided", type="PaymentVoided")


async def authorize(
    repo: PaymentsRepository, processor: CardProcessor, data: AuthorizeIn, phases: Phases
) -> Answer[PaymentPublic]:
    """Authorize ``amount_cents``: record the attempt, ask the processor, record its answer.

    Answers 201 with the new payment, or 200 with the order's existing live
    payment (no second charge). Two transactions, both opened through
    ``phases`` (the first also claims the request's key, the last stores the
    answer), with the processor asked between them.

    Raises:
        Recorded: wrapping 402 ``PaymentDeclined``; the declined payment is kept.
        Conflict: ``PaymentVoided`` (the void won), ``PaymentExists`` (another amount).
        RuleViolation: ``UnknownCardToken``.
        Unavailable: ``ProcessorUnavailable``, transient; the attempt stays pending
            and a retry asks the processor again with the same key.
    """
    async with phases.transaction():
        started = await _start(repo, processor, data)
    if isinstance(started, Answer):
        return started
    payment_id, attempt = started
    try:
        outcome = await processor.authorize(payment_id, data.card_token, data.amount_cents, attempt=attempt)
    except UnknownCard:
        async with repo.session.begin():
            await repo.delete_pending(payment_id)
        raise RuleViolation(f"unknown card token {data.card_token!r}", type="UnknownCardToken") from None
    except ProcessorDown as exc:
        raise Unavailable(str(exc), type="ProcessorUnavailable") from None
    try:
        return await phases.last(lambda: _finish(repo, data.order_id, payment_id, outcome))
    except _VoidWon:
        await processor.void(payment_id)
        raise _voided(data.order_id) from None


async def _start(
    repo: PaymentsRepository, processor: CardProcessor, data: AuthorizeIn
) -> Answer[PaymentPublic] | tuple[str, int]:
    """Transaction 1: the existing answer, or the pending payment's id and the attempt number."""
    await repo.lock_order(data.order_id)
    row = await repo.start_authorization(
        data.order_id, uuid.uuid4().hex, data.amount_cents, data.currency, datetime.now(UTC)
    )
    if row["voided"]:
        raise _voided(data.order_id)
    if row["amount_cents"] != data.amount_cents or row["currency"] != data.currency:
        raise Conflict(
            f"order {data.order_id} already holds a payment of {row['amount_cents']} {row['currency']}",
            type="PaymentExists",
        )
    if row["status"] != PaymentStatus.PENDING:
        return Answer(200, payment_public(row))
    attempt = await repo.count_attempt(data.order_id) if processor.counts_attempts(data.card_token) else 1
    return row["payment_id"], attempt


class _VoidWon(Exception):
    """The payment was voided (or is gone) while the processor was asked."""


async def _finish(
    repo: PaymentsRepository, order_id: str, payment_id: str, outcome: Approved | Declined
) -> Answer[PaymentPublic]:
    """Transaction 2: record the processor's answer.

    Raises:
        Recorded: wrapping ``PaymentDeclined`` (this answer, or one recorded before).
        _VoidWon: a void won meanwhile; nothing was written.
    """
    if isinstance(outcome, Approved):
        status, reason = PaymentStatus.AUTHORIZED, None
    else:
        status, reason = PaymentStatus.DECLINED, outcome.reason
    await repo.lock_order(order_id)
    row = await repo.finish_authorization(payment_id, status, outcome.brand, reason, datetime.now(UTC))
    if row is None or row["status"] == PaymentStatus.VOIDED:
        raise _VoidWon
    public = payment_public(row)
    if public.status == PaymentStatus.DECLINED:
        detail = f"card declined: {public.decline_reason}"
        raise Recorded(PaymentDeclined(detail, extra={"payment": public.model_dump(mode="json")}))
    # 200 unless this call recorded the answer: a concurrent one with this key did.
    return Answer(201 if row["moved"] else 200, public)


async def _set(
    repo: PaymentsRepository,
    payment: Payment,
    status: PaymentStatus,
    *,
    brand: str | None = None,
    reason: str | None = None,
    **changes: int,
) -> None:
    payment.status = status
    payment.updated_at = datetime.now(UTC)
    payment.card_brand = brand or payment.card_brand
    payment.decline_reason = reason or payment.decline_reason
    for name, value in changes.items():
        setattr(payment, name, value)
    await repo.save(payment)


async def capture(repo: PaymentsRepository, order_id: str, amount_cents: int | None = None) -> PaymentPublic:
    """Capture ``amount_cents`` (default: all) of the authorization once; the rest of the hold is released.

    The ledger gets one ``capture`` row and, for a partial capture, one
    ``release`` row with the remainder. A repeat answers the captured payment
    (whatever amount it names): never a second capture.

    Raises:
        NotFound: ``PaymentNotFound`` when the order holds no live payment.
        Conflict: ``PaymentVoided``.
        RuleViolation: ``CaptureExceedsAuthorization``.
    """
    await repo.lock_order(order_id)
    row = await repo.capture(order_id, amount_cents, datetime.now(UTC))
    if row is None:
        if await repo.is_voided(order_id):
            raise _voided(order_id)
        raise NotFound(f"order {order_id} holds no payment to capture", type="PaymentNotFound")
    if amount_cents is not None and amount_cents > row["amount_cents"]:
        raise RuleViolation(
            f"only {row['amount_cents']} {row['currency']} cents are authorized", type="CaptureExceedsAuthorization"
        )
    return payment_public(row)


async def void(
    repo: PaymentsRepository, processor: CardProcessor, order_id: str, phases: Phases
) -> PaymentPublic | NothingToUndo:
    """Release the authorization; nothing to void (none, declined, voided) is success.

    Leaves a tombstone either way, so a late authorize of the order is refused.
    A pending payment is voided too (the void wins over the answer still on its
    way); the processor is told after the commit, outside the transaction.

    Raises:
        Conflict: ``PaymentCaptured`` — money moved; refund instead.
    """
    async with phases.transaction():
        await repo.lock_order(order_id)
        row = await repo.void(order_id, datetime.now(UTC))
        if row is None:
            return NothingToUndo(order_id=order_id)
        if row["status"] in REFUNDABLE or row["status"] == PaymentStatus.REFUNDED:
            raise Conflict(f"payment of order {order_id} is {row['status']}; refund it instead", type="PaymentCaptured")
    if row["moved"]:
        await processor.void(row["payment_id"])
    return payment_public(row)


async def refund(repo: PaymentsRepository, order_id: str, amount_cents: int) -> PaymentPublic:
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

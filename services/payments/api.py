"""Payments routes. Each mutating route owns its transaction and honours Idempotency-Key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from common.db import SessionDep
from common.errors import NotFound, Unavailable
from common.idempotency import IdempotencyKeyDep, fingerprint, idempotent
from services.payments import service
from services.payments.models import AuthorizeIn, NothingToUndo, OrderRef, PaymentPublic, RefundIn
from services.payments.processor import CardProcessor, ProcessorDown
from services.payments.repository import PaymentsRepository


def get_repo(session: SessionDep) -> PaymentsRepository:
    return PaymentsRepository(session)


def get_processor(request: Request) -> CardProcessor:
    processor: CardProcessor = request.app.state.processor
    return processor


RepoDep = Annotated[PaymentsRepository, Depends(get_repo)]
ProcessorDep = Annotated[CardProcessor, Depends(get_processor)]

router = APIRouter(prefix="/payments", tags=["payments"])


@router.post("/authorize", status_code=201, response_model=PaymentPublic)
async def authorize(
    body: AuthorizeIn, repo: RepoDep, processor: ProcessorDep, key: IdempotencyKeyDep = None
) -> JSONResponse:
    """Authorize; 402 when declined (recorded), 503 when the processor is down (retry later)."""
    attempt = 1
    if processor.counts_attempts(body.card_token):
        # The counter commits on its own, so a transient failure still counts.
        async with repo.session.begin():
            attempt = await repo.count_attempt(body.order_id)

    async def operation() -> tuple[int, object]:
        try:
            return await service.authorize(repo, processor, body, attempt)
        except ProcessorDown as exc:
            raise Unavailable(str(exc), type="ProcessorUnavailable") from None

    async with repo.session.begin():
        result = await idempotent(repo.session, key, fingerprint("authorize", body.model_dump()), operation)
    return result.response()


@router.post("/capture", response_model=PaymentPublic)
async def capture(body: OrderRef, repo: RepoDep, key: IdempotencyKeyDep = None) -> JSONResponse:
    async def operation() -> tuple[int, object]:
        return 200, await service.capture(repo, body.order_id)

    async with repo.session.begin():
        result = await idempotent(repo.session, key, fingerprint("capture", body.order_id), operation)
    return result.response()


@router.post("/void", response_model=PaymentPublic | NothingToUndo)
async def void(body: OrderRef, repo: RepoDep, key: IdempotencyKeyDep = None) -> JSONResponse:
    """Void the order's authorization; ``status: null`` when there was nothing to void."""

    async def operation() -> tuple[int, object]:
        return 200, await service.void(repo, body.order_id)

    async with repo.session.begin():
        result = await idempotent(repo.session, key, fingerprint("void", body.order_id), operation)
    return result.response()


@router.post("/refund", response_model=PaymentPublic)
async def refund(body: RefundIn, repo: RepoDep, key: IdempotencyKeyDep = None) -> JSONResponse:
    async def operation() -> tuple[int, object]:
        return 200, await service.refund(repo, body.order_id, body.amount_cents)

    async with repo.session.begin():
        result = await idempotent(repo.session, key, fingerprint("refund", body.model_dump()), operation)
    return result.response()


@router.get("", response_model=list[PaymentPublic])
async def list_payments(
    repo: RepoDep,
    order_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[PaymentPublic]:
    return await service.to_public(repo, await repo.for_order(order_id, limit=limit, offset=offset))


@router.get("/{payment_id}", response_model=PaymentPublic)
async def get_payment(payment_id: Annotated[str, Path(max_length=32)], repo: RepoDep) -> PaymentPublic:
    payment = await repo.get(payment_id)
    if payment is None:
        raise NotFound(f"no payment {payment_id}", type="PaymentNotFound")
    return (await service.to_public(repo, [payment]))[0]

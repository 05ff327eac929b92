"""Payments routes. Each mutating route runs through the idempotency helper; authorize and void call the processor outside any transaction."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from common.db import SessionDep
from common.errors import ErrorBody, NotFound
from common.idempotency import IDEMPOTENT_RESPONSES, IdempotentDep, fingerprint
from services.payments import service
from services.payments.models import (
    AuthorizeIn,
    CaptureIn,
    NothingToUndo,
    OrderRef,
    PaymentDeclinedBody,
    PaymentPublic,
    RefundIn,
)
from services.payments.processor import CardProcessor
from services.payments.repository import PaymentsRepository


async def get_repo(session: SessionDep) -> PaymentsRepository:
    return PaymentsRepository(session)


async def get_processor(request: Request) -> CardProcessor:
    processor: CardProcessor = request.app.state.processor
    return processor


RepoDep = Annotated[PaymentsRepository, Depends(get_repo)]
ProcessorDep = Annotated[CardProcessor, Depends(get_processor)]

router = APIRouter(prefix="/payments", tags=["payments"])
# Bounded: past int64 the database refuses the value; deep offsets cost a scan and no caller pages this far.
MAX_OFFSET = 1_000_000


@router.post(
    "/authorize",
    status_code=201,
    response_model=PaymentPublic,
    responses={
        200: {"model": PaymentPublic, "description": "The order's existing payment (no second charge)"},
        402: {"model": PaymentDeclinedBody, "description": "``PaymentDeclined``, with the recorded payment"},
        503: {"model": ErrorBody, "description": "``ProcessorUnavailable``: transient, retry with the same key"},
        **IDEMPOTENT_RESPONSES,
    },
)
async def authorize(body: AuthorizeIn, repo: RepoDep, processor: ProcessorDep, once: IdempotentDep) -> PaymentPublic:
    """Authorize; the processor is asked outside any transaction (see ``service``)."""
    return await once.run_in_phases(
        fingerprint("authorize", body.model_dump()), lambda phases: service.authorize(repo, processor, body, phases)
    )


@router.post(
    "/capture",
    response_model=PaymentPublic,
    responses={422: {"model": ErrorBody, "description": "``CaptureExceedsAuthorization``"}, **IDEMPOTENT_RESPONSES},
)
async def capture(body: CaptureIn, repo: RepoDep, once: IdempotentDep) -> PaymentPublic:
    """Capture all or part (``amount_cents``) of the authorization once; the remainder is released."""
    # A full capture keeps its original fingerprint: keys stored before partial capture existed still match.
    parts = ("capture", body.order_id) if body.amount_cents is None else ("capture", body.order_id, body.amount_cents)
    return await once.run(fingerprint(*parts), lambda: service.capture(repo, body.order_id, body.amount_cents))


@router.post("/void", response_model=PaymentPublic | NothingToUndo, responses=IDEMPOTENT_RESPONSES)
async def void(
    body: OrderRef, repo: RepoDep, processor: ProcessorDep, once: IdempotentDep
) -> PaymentPublic | NothingToUndo:
    """Void the order's authorization; ``status: null`` when there was nothing to void."""
    return await once.run_in_phases(
        fingerprint("void", body.order_id), lambda phases: service.void(repo, processor, body.order_id, phases)
    )


@router.post("/refund", response_model=PaymentPublic, responses=IDEMPOTENT_RESPONSES)
async def refund(body: RefundIn, repo: RepoDep, once: IdempotentDep) -> PaymentPublic:
    return await once.run(
        fingerprint("refund", body.model_dump()), lambda: service.refund(repo, body.order_id, body.amount_cents)
    )


@router.get("", response_model=list[PaymentPublic])
async def list_payments(
    repo: RepoDep,
    order_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[PaymentPublic]:
    return await service.to_public(repo, await repo.for_order(order_id, limit=limit, offset=offset))


@router.get("/{payment_id}", response_model=PaymentPublic)
async def get_payment(payment_id: Annotated[str, Path(max_length=32)], repo: RepoDep) -> PaymentPublic:
    payment = await repo.get(payment_id)
    if payment is None:
        raise NotFound(f"no payment {payment_id}", type="PaymentNotFound")
    return (await service.to_public(repo, [payment]))[0]

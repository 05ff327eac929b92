"""Orders routes. Each mutating route owns its transaction and honours Idempotency-Key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from common.db import SessionDep
from common.idempotency import IdempotencyKeyDep, fingerprint, idempotent
from services.orders import service
from services.orders.models import AlertIn, AlertPublic, CancelIn, OrderCreate, OrderPublic, OrderStatus, TransitionIn
from services.orders.repository import OrdersRepository


def get_repo(session: SessionDep) -> OrdersRepository:
    return OrdersRepository(session)


RepoDep = Annotated[OrdersRepository, Depends(get_repo)]
OrderIdPath = Annotated[str, Path(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]

router = APIRouter(prefix="/orders", tags=["orders"])


@router.post("", status_code=201, response_model=OrderPublic)
async def create_order(body: OrderCreate, repo: RepoDep, key: IdempotencyKeyDep = None) -> JSONResponse:
    async def operation() -> tuple[int, object]:
        return 201, (await service.create(repo, body)).model_dump(mode="json")

    async with repo.session.begin():
        result = await idempotent(repo.session, key, fingerprint("create", body.model_dump(mode="json")), operation)
    return result.response()


@router.get("", response_model=list[OrderPublic])
async def list_orders(
    repo: RepoDep,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    status: OrderStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[OrderPublic]:
    return await service.list_orders(repo, customer_id=customer_id, status=status, limit=limit, offset=offset)


@router.get("/{order_id}", response_model=OrderPublic)
async def get_order(order_id: OrderIdPath, repo: RepoDep) -> OrderPublic:
    return await service.get(repo, order_id)


@router.post("/{order_id}/transition", response_model=OrderPublic)
async def transition(
    order_id: OrderIdPath, body: TransitionIn, repo: RepoDep, key: IdempotencyKeyDep = None
) -> JSONResponse:
    async def operation() -> tuple[int, object]:
        return 200, (await service.transition(repo, order_id, body.status)).model_dump(mode="json")

    async with repo.session.begin():
        result = await idempotent(repo.session, key, fingerprint("transition", order_id, body.status), operation)
    return result.response()


@router.post("/{order_id}/cancel", response_model=OrderPublic)
async def cancel(order_id: OrderIdPath, body: CancelIn, repo: RepoDep, key: IdempotencyKeyDep = None) -> JSONResponse:
    async def operation() -> tuple[int, object]:
        cancelled = await service.cancel(repo, order_id, body.reason, body.requested_by)
        return 200, cancelled.model_dump(mode="json")

    async with repo.session.begin():
        result = await idempotent(
            repo.session, key, fingerprint("cancel", order_id, body.reason, body.requested_by), operation
        )
    return result.response()


@router.post("/{order_id}/alerts", status_code=201, response_model=AlertPublic)
async def record_alert(
    order_id: OrderIdPath, body: AlertIn, repo: RepoDep, key: IdempotencyKeyDep = None
) -> JSONResponse:
    """Flag the order for operators (e.g. a compensation that can never succeed)."""

    async def operation() -> tuple[int, object]:
        return 201, (await service.record_alert(repo, order_id, body)).model_dump(mode="json")

    async with repo.session.begin():
        result = await idempotent(repo.session, key, fingerprint("alert", order_id, body.model_dump()), operation)
    return result.response()

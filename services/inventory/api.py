"""Inventory routes. Each mutating route owns its transaction."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from common.db import SessionDep
from common.errors import NotFound
from common.idempotency import IdempotencyKeyDep, fingerprint, idempotent
from services.inventory import service
from services.inventory.models import SKU_PATTERN, ProductPublic, ProductUpsert, ReservationCreate, ReservationPublic
from services.inventory.repository import InventoryRepository


def get_repo(session: SessionDep) -> InventoryRepository:
    return InventoryRepository(session)


RepoDep = Annotated[InventoryRepository, Depends(get_repo)]
SkuPath = Annotated[str, Path(pattern=SKU_PATTERN)]
OrderIdPath = Annotated[str, Path(min_length=1, max_length=64)]

router = APIRouter()


@router.get("/products", response_model=list[ProductPublic], tags=["products"])
async def list_products(
    repo: RepoDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ProductPublic]:
    return [service.product_public(p) for p in await repo.list_products(limit=limit, offset=offset)]


@router.get("/products/{sku}", response_model=ProductPublic, tags=["products"])
async def get_product(sku: SkuPath, repo: RepoDep) -> ProductPublic:
    product = await repo.get_product(sku)
    if product is None:
        raise NotFound(f"no product with SKU {sku}", type="UnknownSku")
    return service.product_public(product)


@router.put("/products/{sku}", response_model=ProductPublic, tags=["products"])
async def upsert_product(
    sku: SkuPath, body: ProductUpsert, repo: RepoDep, key: IdempotencyKeyDep = None
) -> JSONResponse:
    """Create or update a SKU; ``on_hand`` is the counted stock (reserved units stay reserved)."""

    async def operation() -> tuple[int, object]:
        product = await service.upsert_product(repo, sku, body)
        return 200, service.product_public(product).model_dump(mode="json")

    async with repo.session.begin():
        result = await idempotent(repo.session, key, fingerprint("upsert", sku, body.model_dump()), operation)
    return result.response()


@router.post("/reservations", status_code=201, response_model=ReservationPublic, tags=["reservations"])
async def reserve(body: ReservationCreate, repo: RepoDep, key: IdempotencyKeyDep = None) -> JSONResponse:
    async def operation() -> tuple[int, object]:
        reservation = await service.reserve(repo, body.order_id, body.lines)
        return 201, reservation.model_dump(mode="json")

    async with repo.session.begin():
        result = await idempotent(repo.session, key, fingerprint("reserve", body.model_dump()), operation)
    return result.response()


@router.get("/reservations/{order_id}", response_model=ReservationPublic, tags=["reservations"])
async def get_reservation(order_id: OrderIdPath, repo: RepoDep) -> ReservationPublic:
    return await service.get_reservation(repo, order_id)


@router.post("/reservations/{order_id}/release", response_model=ReservationPublic, tags=["reservations"])
async def release(order_id: OrderIdPath, repo: RepoDep, key: IdempotencyKeyDep = None) -> JSONResponse:
    async def operation() -> tuple[int, object]:
        released = await service.release(repo, order_id)
        body = released or ReservationPublic(order_id=order_id, status=None, lines=[])
        return 200, body.model_dump(mode="json")

    async with repo.session.begin():
        result = await idempotent(repo.session, key, fingerprint("release", order_id), operation)
    return result.response()


@router.post("/reservations/{order_id}/commit", response_model=ReservationPublic, tags=["reservations"])
async def commit(order_id: OrderIdPath, repo: RepoDep, key: IdempotencyKeyDep = None) -> JSONResponse:
    async def operation() -> tuple[int, object]:
        return 200, (await service.commit(repo, order_id)).model_dump(mode="json")

    async with repo.session.begin():
        result = await idempotent(repo.session, key, fingerprint("commit", order_id), operation)
    return result.response()

"""``/api/products``: the catalogue with live stock (any signed-in user)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from common.errors import NotFound
from gateway.auth import PrincipalDep
from gateway.clients import ServiceClients
from gateway.models import SKU_PATTERN, ProductView

router = APIRouter(prefix="/api/products", tags=["products"])


@router.get("", response_model=list[ProductView])
async def list_products(
    request: Request,
    _: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ProductView]:
    clients: ServiceClients = request.app.state.clients
    return [ProductView.model_validate(p) for p in await clients.products(limit, offset)]


@router.get("/{sku}", response_model=ProductView)
async def get_product(request: Request, _: PrincipalDep, sku: Annotated[str, Path(pattern=SKU_PATTERN)]) -> ProductView:
    clients: ServiceClients = request.app.state.clients
    product = await clients.product(sku)
    if product is None:
        raise NotFound(f"no product with SKU {sku}", type="UnknownSku")
    return ProductView.model_validate(product)

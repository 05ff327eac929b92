"""``/api/products``: the catalogue with live stock (any signed-in user)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from common.errors import NotFound
from gateway.auth import PrincipalDep
from gateway.clients import ServiceClients
from gateway.errors import error_responses
from gateway.models import SKU_PATTERN, ProductPage, ProductView

router = APIRouter(prefix="/api/products", tags=["products"], responses=error_responses(401, 422, 502, 503))
# Deep offsets are cheap to ask and expensive to answer; no caller pages this far.
MAX_OFFSET = 1_000_000
#: No product name is longer (inventory refuses the same).
MAX_QUERY_LENGTH = 200


@router.get("", response_model=ProductPage)
async def list_products(
    request: Request,
    _: PrincipalDep,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=MAX_QUERY_LENGTH, description="Case-insensitive substring of the SKU or name"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ProductPage:
    """A page of the catalogue with live stock, in SKU order; ``%`` and ``_`` in ``q`` are plain characters."""
    clients: ServiceClients = request.app.state.clients
    return await clients.products(limit, offset, q)


@router.get("/{sku}", response_model=ProductView, responses=error_responses(404))
async def get_product(request: Request, _: PrincipalDep, sku: Annotated[str, Path(pattern=SKU_PATTERN)]) -> ProductView:
    clients: ServiceClients = request.app.state.clients
    product = await clients.product(sku)
    if product is None:
        raise NotFound(f"no product with SKU {sku}", type="UnknownSku")
    return product

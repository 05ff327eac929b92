"""Inventory routes. Each mutating route runs its unit of work through the idempotency helper."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from common.db import SessionDep
from common.erp_events import MAX_EVENTS_OFFSET, MAX_EVENTS_PAGE, ErpEventPage, ErpEventRecorded, EventStatus
from common.errors import ErrorBody, NotFound
from common.idempotency import IDEMPOTENT_RESPONSES, IdempotentDep, fingerprint
from services.inventory import erp_events, erp_import, service, stock_adjustments
from services.inventory.models import (
    MAX_ADJUSTMENTS_PAGE,
    MAX_QUERY_LENGTH,
    SKU_PATTERN,
    AdjustIn,
    AdjustmentsPosted,
    AdjustmentsPostedIn,
    InventoryErpEventIn,
    InventoryWatermarks,
    MaterialsPage,
    MaterialsResult,
    ProductPage,
    ProductPublic,
    ProductUpsert,
    ReservationCreate,
    ReservationPublic,
    ReturnIn,
    StockAdjustmentPage,
    StockPage,
    StockResult,
    StockTotal,
    WriteOffIn,
)
from services.inventory.repository import InventoryRepository


async def get_repo(session: SessionDep) -> InventoryRepository:
    return InventoryRepository(session)


RepoDep = Annotated[InventoryRepository, Depends(get_repo)]
SkuPath = Annotated[str, Path(pattern=SKU_PATTERN)]
OrderIdPath = Annotated[str, Path(min_length=1, max_length=64)]

router = APIRouter()
# Bounded: past int64 the database refuses the value; deep offsets cost a scan and no caller pages this far.
MAX_OFFSET = 1_000_000


@router.get("/products", response_model=ProductPage, tags=["products"])
async def list_products(
    repo: RepoDep,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=MAX_QUERY_LENGTH, description="Case-insensitive substring of the SKU or name"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ProductPage:
    """A page of the catalogue in SKU order; ``%`` and ``_`` in ``q`` are plain characters."""
    items, total = await repo.search_products(q=q, limit=limit, offset=offset)
    return ProductPage(items=[service.product_public(p) for p in items], total=total, limit=limit, offset=offset)


@router.get("/products/{sku}", response_model=ProductPublic, tags=["products"])
async def get_product(sku: SkuPath, repo: RepoDep) -> ProductPublic:
    product = await repo.get_product(sku)
    if product is None:
        raise NotFound(f"no product with SKU {sku}", type="UnknownSku")
    return service.product_public(product)


@router.put("/products/{sku}", response_model=ProductPublic, responses=IDEMPOTENT_RESPONSES, tags=["products"])
async def upsert_product(sku: SkuPath, body: ProductUpsert, repo: RepoDep, once: IdempotentDep) -> ProductPublic:
    """Create or update a SKU; ``on_hand`` is the counted stock (reserved units stay reserved)."""

    async def operation() -> ProductPublic:
        return service.product_public(await service.upsert_product(repo, sku, body))

    return await once.run(fingerprint("upsert", sku, body.model_dump()), operation)


@router.post(
    "/reservations",
    status_code=201,
    response_model=ReservationPublic,
    responses=IDEMPOTENT_RESPONSES,
    tags=["reservations"],
)
async def reserve(body: ReservationCreate, repo: RepoDep, once: IdempotentDep) -> ReservationPublic:
    """Hold every line or none; 409 ``ReservationReleased`` once the order's reservation was released."""
    return await once.run(
        fingerprint("reserve", body.model_dump()), lambda: service.reserve(repo, body.order_id, body.lines)
    )


@router.get("/reservations/{order_id}", response_model=ReservationPublic, tags=["reservations"])
async def get_reservation(order_id: OrderIdPath, repo: RepoDep) -> ReservationPublic:
    return await service.get_reservation(repo, order_id)


@router.post(
    "/reservations/{order_id}/release",
    response_model=ReservationPublic,
    responses=IDEMPOTENT_RESPONSES,
    tags=["reservations"],
)
async def release(order_id: OrderIdPath, repo: RepoDep, once: IdempotentDep) -> ReservationPublic:
    """Give the stock back; ``status: null`` when nothing was held (a later reserve is then refused)."""
    return await once.run(fingerprint("release", order_id), lambda: service.release(repo, order_id))


@router.post(
    "/reservations/{order_id}/commit",
    response_model=ReservationPublic,
    responses=IDEMPOTENT_RESPONSES,
    tags=["reservations"],
)
async def commit(order_id: OrderIdPath, repo: RepoDep, once: IdempotentDep) -> ReservationPublic:
    return await once.run(fingerprint("commit", order_id), lambda: service.commit(repo, order_id))


@router.post(
    "/reservations/{order_id}/return",
    response_model=ReservationPublic,
    responses=IDEMPOTENT_RESPONSES,
    tags=["reservations"],
)
async def return_issued(order_id: OrderIdPath, body: ReturnIn, repo: RepoDep, once: IdempotentDep) -> ReservationPublic:
    """Issued units came back (failed delivery): ``on_hand`` and ``available`` rise; the reservation ends ``RETURNED``.

    Only a ``COMMITTED`` reservation (else 409 ``ReservationNotCommitted``); never more than was
    issued of a SKU (409 ``ReturnExceedsIssued``); a repeat answers the ``RETURNED`` reservation unchanged.
    """
    return await once.run(
        fingerprint("return", order_id, body.model_dump()), lambda: service.return_issued(repo, order_id, body)
    )


@router.post(
    "/reservations/{order_id}/write-off",
    response_model=ReservationPublic,
    responses=IDEMPOTENT_RESPONSES,
    tags=["reservations"],
)
async def write_off(order_id: OrderIdPath, body: WriteOffIn, repo: RepoDep, once: IdempotentDep) -> ReservationPublic:
    """Reserved units that vanished (short pick) leave ``on_hand`` and the order's reservation."""
    return await once.run(
        fingerprint("write-off", order_id, body.model_dump()), lambda: service.write_off(repo, order_id, body)
    )


@router.post(
    "/reservations/{order_id}/top-up",
    response_model=ReservationPublic,
    responses=IDEMPOTENT_RESPONSES,
    tags=["reservations"],
)
async def top_up(order_id: OrderIdPath, body: AdjustIn, repo: RepoDep, once: IdempotentDep) -> ReservationPublic:
    """Hold more units of one SKU for the order; 409 ``OutOfStock`` when not enough is available."""
    return await once.run(
        fingerprint("top-up", order_id, body.model_dump()), lambda: service.top_up(repo, order_id, body)
    )


@router.post(
    "/reservations/{order_id}/release-units",
    response_model=ReservationPublic,
    responses=IDEMPOTENT_RESPONSES,
    tags=["reservations"],
)
async def release_units(order_id: OrderIdPath, body: AdjustIn, repo: RepoDep, once: IdempotentDep) -> ReservationPublic:
    """Give some held units of one SKU back to ``available``."""
    return await once.run(
        fingerprint("release-units", order_id, body.model_dump()), lambda: service.release_units(repo, order_id, body)
    )


@router.get("/stock/totals", response_model=list[StockTotal], tags=["products"])
async def stock_totals(repo: RepoDep) -> list[StockTotal]:
    """Every SKU's ``on_hand``, ``available`` and ``reserved`` (for the cross-service stock check)."""
    return await service.stock_totals(repo)


@router.get("/stock/adjustments", response_model=StockAdjustmentPage, tags=["stock"])
async def list_stock_adjustments(
    repo: RepoDep,
    pending: Annotated[
        bool | None, Query(description="true: only those not yet posted; false: only posted ones; absent: all")
    ] = None,
    sku: Annotated[str | None, Query(pattern=SKU_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ADJUSTMENTS_PAGE)] = 500,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> StockAdjustmentPage:
    """The on-hand changes the ERP's counts made (import pages, ``StockChanged`` events), oldest first.

    Each carries ``delta`` (never 0), ``on_hand`` after it, ``source`` (``erp-page`` / ``erp-event``) and
    ``ref`` (the page's watermark ``<key>@<changed_at>``, or the event id); ``posted_at`` is null until the
    warehouse took it into its stock-adjustment bin.
    """
    return await stock_adjustments.list_adjustments(repo, pending=pending, sku=sku, limit=limit, offset=offset)


@router.post(
    "/stock/adjustments/posted", response_model=AdjustmentsPosted, responses=IDEMPOTENT_RESPONSES, tags=["stock"]
)
async def post_stock_adjustments(body: AdjustmentsPostedIn, repo: RepoDep, once: IdempotentDep) -> AdjustmentsPosted:
    """The warehouse took these adjustments: ``posted_at`` is set on those still pending, and counted.

    A repeat posts 0; unknown ids are ignored.
    """
    return await once.run(
        fingerprint("adjustments-posted", body.ids), lambda: stock_adjustments.mark_posted(repo, body.ids)
    )


@router.post("/erp/materials", response_model=MaterialsResult, responses=IDEMPOTENT_RESPONSES, tags=["erp"])
async def import_materials(body: MaterialsPage, repo: RepoDep, once: IdempotentDep) -> MaterialsResult:
    """A page of the ERP's materials: new SKUs are created without stock, older data is updated.

    A row applies only when its ``changed_at`` is newer than the product's last
    import, so a repeated page or an older copy changes nothing. The rows and
    the watermark (``materials``) commit together.
    """
    # The page's own JSON dump is the cheap fingerprint of a large body (json.dumps of its dicts costs 5x).
    return await once.run(
        fingerprint("erp-materials", body.model_dump_json()), lambda: erp_import.import_materials(repo, body)
    )


@router.post("/erp/stock", response_model=StockResult, responses=IDEMPOTENT_RESPONSES, tags=["erp"])
async def import_stock(body: StockPage, repo: RepoDep, once: IdempotentDep) -> StockResult:
    """A page of the ERP's on-hand counts: ``on_hand`` is set and ``available = on_hand - reserved``.

    Only counts newer than the SKU's last one apply. Unknown SKUs are listed in
    ``unknown``, counts below the reserved units in ``rejected``
    (``StockBelowReserved``); the rest of the page applies, with the
    watermark (``stock``).
    """
    return await once.run(fingerprint("erp-stock", body.model_dump_json()), lambda: erp_import.import_stock(repo, body))


@router.get("/erp/watermarks", response_model=InventoryWatermarks, tags=["erp"])
async def erp_watermarks(repo: RepoDep) -> InventoryWatermarks:
    """Where the materials and stock imports stand: the last committed page's ``(changed_at, key)``."""
    return await erp_import.watermarks(repo)


@router.post(
    "/erp/events",
    response_model=ErpEventRecorded,
    responses={409: {"model": ErrorBody, "description": "``EventMismatch`` (the id came with another body)"}},
    tags=["erp"],
)
async def record_erp_event(body: InventoryErpEventIn, repo: RepoDep, once: IdempotentDep) -> ErpEventRecorded:
    """A ``MaterialChanged`` or ``StockChanged``, recorded once per ``event_id`` and applied by the import's
    newest-wins rules (``applied`` or ``stale``; the import's watermark stays); an unknown SKU, or a count
    below the reserved units, is a ``dead_letter``; a repeat answers ``duplicate``."""
    return await once.run(fingerprint("erp-event", body.model_dump_json()), lambda: erp_events.record_event(repo, body))


@router.get("/erp/events", response_model=ErpEventPage, tags=["erp"])
async def list_erp_events(
    repo: RepoDep,
    status: EventStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_EVENTS_OFFSET)] = 0,
) -> ErpEventPage:
    """Recorded events (``?status=dead_letter``: unknown SKUs, counts below the reserved units), newest first."""
    return await erp_events.events(repo, status=status, limit=limit, offset=offset)

"""The ERP stand-in's routes: the OData-style collections, the control door and the outbox.

Entity answers are serialised straight from the rows (``entities.py``), so the
routes return a :class:`~fastapi.Response` and document their schema under
``responses``: no response model re-validates a page of 1,000 rows.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from common.errors import ErrorBody, NotFound, RuleViolation, Unavailable
from services.erp import models
from services.erp.entities import CUSTOMERS, MATERIAL_STOCK, MATERIALS, SALES_ORDERS, EntitySet
from services.erp.models import (
    Control,
    CreditBlockIn,
    CustomerList,
    ErpInternalError,
    EventStatus,
    Knobs,
    KnobsIn,
    OutboxCounts,
    OutboxEvent,
    PreconditionRequired,
)
from services.erp.odata import BadRequest, parse_filter, parse_skiptoken
from services.erp.store import ErpStore, dump

if TYPE_CHECKING:
    from services.erp.sender import Sender

JSON = "application/json"


class ErpDesk:
    """The stand-in's in-memory side: its knobs, and (while the app runs) its store and sender.

    Args:
        webhook_url: Where the sender posts events (shown by ``/control``).
        rng: Draws the injected read failures.
    """

    def __init__(self, webhook_url: str | None = None, rng: random.Random | None = None) -> None:
        self.webhook_url = webhook_url
        self.knobs = Knobs()
        self._store: ErpStore | None = None
        #: Posts the outbox while the app runs with a webhook URL (set by its lifespan).
        self.sender: Sender | None = None
        self.rng = rng or random.Random()

    @property
    def store(self) -> ErpStore:
        if self._store is None:
            raise Unavailable("the ERP is starting", type="ErpUnavailable")
        return self._store

    @store.setter
    def store(self, store: ErpStore | None) -> None:
        self._store = store

    def nudge(self) -> None:
        """A change committed: the sender (when it runs) looks for its event now."""
        if self.sender is not None:
            self.sender.nudge()


async def get_desk(request: Request) -> ErpDesk:
    desk: ErpDesk = request.app.state.desk
    return desk


DeskDep = Annotated[ErpDesk, Depends(get_desk)]


async def play_faults(request: Request, desk: DeskDep) -> None:
    """The injected faults of every ``/odata`` call: latency, then outage, then (reads only) failures."""
    knobs = desk.knobs
    if knobs.slow_seconds:
        await asyncio.sleep(knobs.slow_seconds)
    if knobs.outage:
        raise Unavailable("the ERP is not available (injected outage)", type="ErpUnavailable")
    if request.method == "GET" and knobs.fail_rate and desk.rng.random() < knobs.fail_rate:
        raise ErpInternalError("the ERP failed to answer (injected failure)")


@dataclass(frozen=True, slots=True)
class PageQuery:
    top: int
    skip: int
    since: tuple[str, datetime] | None
    after: tuple[datetime, str] | None
    count: bool


async def page_query(
    top: Annotated[int, Query(alias="$top", ge=1, le=1000, description="Rows per page")] = 100,
    skip: Annotated[int, Query(alias="$skip", ge=0, le=10_000_000)] = 0,
    filter_: Annotated[
        str | None,
        Query(alias="$filter", max_length=200, description="Only `LastChangedAt gt <ts>` or `LastChangedAt ge <ts>`"),
    ] = None,
    skiptoken: Annotated[
        str | None,
        Query(
            alias="$skiptoken",
            max_length=200,
            description="`<LastChangedAt>|<key>`: the rows strictly after that position",
        ),
    ] = None,
    count: Annotated[bool, Query(alias="$count", description="Add `@odata.count`")] = False,
) -> PageQuery:
    return PageQuery(
        top=top,
        skip=skip,
        since=None if filter_ is None else parse_filter(filter_),
        after=None if skiptoken is None else parse_skiptoken(skiptoken),
        count=count,
    )


PageQueryDep = Annotated[PageQuery, Depends(page_query)]
IfMatch = Annotated[str | None, Header(alias="If-Match", description='W/"<n>" (the entity\'s ETag), or *')]
MaterialKey = Annotated[str, Path(pattern=models.MATERIAL_PATTERN)]
NumberKey = Annotated[str, Path(pattern=models.NUMBER_PATTERN)]

_ERROR = {"model": ErrorBody}
_FAULTS: dict[int | str, dict[str, Any]] = {
    500: {**_ERROR, "description": "``ErpInternalError`` (injected, reads only)"},
    503: {**_ERROR, "description": "``ErpUnavailable`` (injected outage)"},
}
_ETAG_HEADER = {"ETag": {"description": 'W/"<n>"', "schema": {"type": "string"}}}


def _page_doc(model: type[Any]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"model": model, "description": "A page, in (LastChangedAt, key) order"},
        400: {**_ERROR, "description": "``UnsupportedFilter``, ``InvalidSkipToken``"},
        **_FAULTS,
    }


def _entity_doc(model: type[Any]) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "headers": _ETAG_HEADER}, 404: {**_ERROR, "description": "``NotFound``"}, **_FAULTS}


def _patch_doc(model: type[Any]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"model": model, "headers": _ETAG_HEADER, "description": "The entity with its new ETag"},
        400: {**_ERROR, "description": "``UnknownField``"},
        404: {**_ERROR, "description": "``NotFound``"},
        412: {**_ERROR, "description": "``PreconditionFailed``: If-Match is not the current ETag; nothing changed"},
        428: {**_ERROR, "description": "``PreconditionRequired``: no If-Match"},
        503: _FAULTS[503],
    }


def entity_response(data: dict[str, Any], status_code: int = 200) -> Response:
    return Response(dump(data), status_code=status_code, media_type=JSON, headers={"ETag": data["@odata.etag"]})


async def _list(desk: ErpDesk, entity_set: EntitySet, query: PageQuery) -> Response:
    page = await desk.store.page(
        entity_set, top=query.top, skip=query.skip, since=query.since, after=query.after, count=query.count
    )
    return Response(page.body(), media_type=JSON)


async def _get(desk: ErpDesk, entity_set: EntitySet, key: str) -> Response:
    data = await desk.store.get(entity_set, key)
    if data is None:
        raise NotFound(f"no {entity_set.key_field} {key!r} in {entity_set.name}")
    return entity_response(data)


async def _patch(desk: ErpDesk, entity_set: EntitySet, key: str, body: models._Patch, if_match: str | None) -> Response:
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(f"send If-Match with the ETag of {entity_set.name}('{key}') (or *)")
    unknown = body.unknown_fields()
    if unknown:
        raise BadRequest(
            f"{', '.join(unknown[:20])}: not a field {entity_set.name} may change"
            f" (they are {', '.join(entity_set.patchable)})",
            type="UnknownField",
        )
    values = {}
    for field in sorted(body.model_fields_set):
        value = getattr(body, field)
        if value is None:
            raise RuleViolation(f"{field}: may not be null", type="ValidationError")
        column, convert = entity_set.patchable[field]
        values[column] = convert(value)
    return entity_response(await desk.store.patch(entity_set, key, if_match, values))


odata = APIRouter(prefix="/odata", dependencies=[Depends(play_faults)])


@odata.get("/Materials", responses=_page_doc(models.MaterialPage), tags=["materials"])
async def list_materials(desk: DeskDep, query: PageQueryDep) -> Response:
    """Materials in ``(LastChangedAt, Material)`` order."""
    return await _list(desk, MATERIALS, query)


@odata.get("/Materials('{key}')", responses=_entity_doc(models.Material), tags=["materials"])
async def get_material(key: MaterialKey, desk: DeskDep) -> Response:
    return await _get(desk, MATERIALS, key)


@odata.patch("/Materials('{key}')", responses=_patch_doc(models.Material), tags=["materials"])
async def patch_material(
    key: MaterialKey, body: models.MaterialPatch, desk: DeskDep, if_match: IfMatch = None
) -> Response:
    """Change a material (an event ``MaterialChanged``)."""
    return await _patch(desk, MATERIALS, key, body, if_match)


@odata.get("/Customers", responses=_page_doc(models.CustomerPage), tags=["customers"])
async def list_customers(desk: DeskDep, query: PageQueryDep) -> Response:
    """Customers in ``(LastChangedAt, Customer)`` order."""
    return await _list(desk, CUSTOMERS, query)


@odata.get("/Customers('{key}')", responses=_entity_doc(models.Customer), tags=["customers"])
async def get_customer(key: NumberKey, desk: DeskDep) -> Response:
    return await _get(desk, CUSTOMERS, key)


@odata.patch("/Customers('{key}')", responses=_patch_doc(models.Customer), tags=["customers"])
async def patch_customer(
    key: NumberKey, body: models.CustomerPatch, desk: DeskDep, if_match: IfMatch = None
) -> Response:
    """Change a customer (an event ``CustomerChanged``)."""
    return await _patch(desk, CUSTOMERS, key, body, if_match)


@odata.get("/MaterialStock", responses=_page_doc(models.MaterialStockPage), tags=["stock"])
async def list_stock(desk: DeskDep, query: PageQueryDep) -> Response:
    """Unrestricted stock of plant 1000 per material, in ``(LastChangedAt, Material)`` order."""
    return await _list(desk, MATERIAL_STOCK, query)


@odata.get("/MaterialStock('{key}')", responses=_entity_doc(models.MaterialStock), tags=["stock"])
async def get_stock(key: MaterialKey, desk: DeskDep) -> Response:
    return await _get(desk, MATERIAL_STOCK, key)


@odata.patch("/MaterialStock('{key}')", responses=_patch_doc(models.MaterialStock), tags=["stock"])
async def patch_stock(
    key: MaterialKey, body: models.MaterialStockPatch, desk: DeskDep, if_match: IfMatch = None
) -> Response:
    """Change a material's stock (an event ``StockChanged``)."""
    return await _patch(desk, MATERIAL_STOCK, key, body, if_match)


@odata.get("/SalesOrders", responses=_page_doc(models.SalesOrderPage), tags=["sales orders"])
async def list_sales_orders(desk: DeskDep, query: PageQueryDep) -> Response:
    """Sales orders in ``(LastChangedAt, SalesOrder)`` order."""
    return await _list(desk, SALES_ORDERS, query)


@odata.get("/SalesOrders('{key}')", responses=_entity_doc(models.SalesOrder), tags=["sales orders"])
async def get_sales_order(key: NumberKey, desk: DeskDep) -> Response:
    return await _get(desk, SALES_ORDERS, key)


@odata.patch("/SalesOrders('{key}')", responses=_patch_doc(models.SalesOrder), tags=["sales orders"])
async def patch_sales_order(
    key: NumberKey, body: models.SalesOrderPatch, desk: DeskDep, if_match: IfMatch = None
) -> Response:
    """Change a sales order's ``OverallStatus`` (an event ``SalesOrderStatusChanged``)."""
    return await _patch(desk, SALES_ORDERS, key, body, if_match)


@odata.post(
    "/SalesOrders",
    status_code=201,
    responses={
        201: {"model": models.SalesOrder, "headers": _ETAG_HEADER, "description": "Created"},
        200: {"model": models.SalesOrder, "headers": _ETAG_HEADER, "description": "Created before, same content"},
        409: {**_ERROR, "description": "``DuplicatePurchaseOrder``: created before with other content"},
        422: {**_ERROR, "description": "``CustomerBlocked``, ``UnknownCustomer``, ``UnknownMaterial``"},
        503: _FAULTS[503],
    },
    tags=["sales orders"],
)
async def create_sales_order(body: models.SalesOrderCreate, desk: DeskDep) -> Response:
    """Create the sales order of a PakLog order, exactly once per ``PurchaseOrderByCustomer``.

    The sold-to party is ``SoldToParty``, else the customer with that e-mail (any case), else the
    one-time customer. ``NetPrice`` per item defaults to the material's price.
    """
    data, created = await desk.store.create_sales_order(body)
    return entity_response(data, 201 if created else 200)


control = APIRouter(tags=["control"])


async def _control(desk: ErpDesk) -> Control:
    counts = await desk.store.counts()
    return Control(**desk.knobs.model_dump(), webhook_url=desk.webhook_url, outbox=OutboxCounts(**counts))


@control.get("/control", response_model=Control)
async def get_control(desk: DeskDep) -> Control:
    """The knobs, where the events go, and the outbox's counters."""
    return await _control(desk)


@control.post("/control", response_model=Control)
async def set_control(body: KnobsIn, desk: DeskDep) -> Control:
    """Set knobs (fields left out keep their value): ``outage`` (every /odata call 503), ``slow_seconds``
    (every /odata call waits), ``fail_rate`` (that share of /odata reads 500), ``duplicate_rate`` (an
    event is posted twice), ``reorder`` (events newest-first within each batch)."""
    desk.knobs = desk.knobs.model_copy(update=body.model_dump(exclude_none=True))
    desk.nudge()
    return await _control(desk)


@control.post(
    "/control/credit-block",
    response_model=CustomerList,
    responses={404: {**_ERROR, "description": "``UnknownCustomer``"}},
)
async def credit_block(body: CreditBlockIn, desk: DeskDep) -> CustomerList:
    """Set ``CreditIsBlocked`` of the customer named by number or e-mail: a change like a PATCH (new ETag,
    an event ``CustomerChanged``). Answers the customers changed (every one with that e-mail)."""
    changed = await desk.store.credit_block(body)
    return CustomerList.model_validate({"value": changed})


@control.get("/events", response_model=list[OutboxEvent])
async def list_events(
    desk: DeskDep,
    status: EventStatus | None = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[OutboxEvent]:
    """The outbox in ``occurred_at`` order: each event as posted, its status, attempts and the last answer.

    ``status`` is ``pending`` (not yet acknowledged), ``delivered`` (a 2xx) or ``rejected`` (a 4xx, final).
    """
    rows = await desk.store.events(status=None if status is None else status.value, object_id=object_id, limit=limit)
    return [OutboxEvent.model_validate(row) for row in rows]

"""The warehouse floor: ``/api/waves``, ``/api/pick-tasks`` and ``/api/orders/{id}/pack`` (operators and admins).

Writes are workflow updates (:mod:`gateway.warehouse`); reads come from the
warehouse service. A customer gets 403 ``StaffOnly`` on every route here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from temporalio.client import Client

from common.security import Principal
from gateway import warehouse
from gateway.auth import StaffDep
from gateway.clients import ServiceClients
from gateway.errors import error_responses
from gateway.settings import GatewaySettings
from gateway.warehouse_models import (
    ID_PATTERN,
    OperatorRetryView,
    PackRequest,
    PackResultView,
    PickConfirmedView,
    PickScanRequest,
    PlanWaveRequest,
    TaskView,
    WavePage,
    WaveView,
)

# Every route needs a staff token and may meet a service or Temporal that is down.
_COMMON = error_responses(401, 403, 422, 502, 503)
waves_router = APIRouter(prefix="/api/waves", tags=["warehouse"], responses=_COMMON)
tasks_router = APIRouter(prefix="/api/pick-tasks", tags=["warehouse"], responses=_COMMON)
pack_router = APIRouter(prefix="/api/orders", tags=["warehouse"], responses=_COMMON)

IdPath = Annotated[str, Path(pattern=ID_PATTERN)]
WaveStatusFilter = Annotated[
    str | None, Query(pattern=r"^(PLANNED|RELEASED|PICKING|DONE|CANCELLED)$", description="Only waves in this status")
]
MAX_OFFSET = 1_000_000
_ACCEPTED = "Accepted: the workflow took the request and is still working on it; the body is the state now"


def _clients(request: Request) -> ServiceClients:
    clients: ServiceClients = request.app.state.clients
    return clients


def _temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def _settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


# -- waves ------------------------------------------------------------------------------
@waves_router.post(
    "",
    status_code=201,
    response_model=WaveView,
    responses={
        202: {"model": WaveView, "description": _ACCEPTED + " (status PLANNING)"},
        **error_responses(400, 409, 413),
    },
)
async def plan_wave(
    request: Request, response: Response, principal: StaffDep, body: PlanWaveRequest | None = None
) -> WaveView:
    """Plan a wave now from the orders waiting (a ``WaveRelease`` workflow), to be released by hand.

    Orders are chosen by carrier cutoff, then priority, then age, within
    ``max_orders`` and ``max_lines``; their pick tasks are allocated (FEFO,
    then FIFO) in pick-path order. 409 ``NothingToPlan`` when no order waits.
    """
    settings = _settings(request)
    view, done = await warehouse.plan_wave(
        _temporal(request),
        _clients(request),
        task_queue=settings.task_queue,
        wait_seconds=settings.update_wait_seconds,
        principal=principal,
        body=body or PlanWaveRequest(),
    )
    response.headers["Location"] = f"/api/waves/{view.wave_id}"
    if not done:
        response.status_code = 202
    return view


@waves_router.get("", response_model=WavePage)
async def list_waves(
    request: Request,
    _: StaffDep,
    status: WaveStatusFilter = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> WavePage:
    """Waves, newest first (without their tasks; read one wave for those)."""
    page = await _clients(request).waves(status=status, limit=limit, offset=offset)
    return WavePage(
        items=page.items,
        total=page.total,
        limit=page.limit or limit,
        offset=page.offset if page.offset is not None else offset,
        next_cursor=None,
    )


@waves_router.get("/{wave_id}", response_model=WaveView, responses=error_responses(404))
async def get_wave(request: Request, _: StaffDep, wave_id: IdPath) -> WaveView:
    """A wave with its tasks and their counts."""
    return await warehouse.wave_or_404(_clients(request), wave_id)


@waves_router.post(
    "/{wave_id}/release",
    response_model=WaveView,
    responses={202: {"model": WaveView, "description": _ACCEPTED}, **error_responses(404, 409)},
)
async def release_wave(request: Request, response: Response, principal: StaffDep, wave_id: IdPath) -> WaveView:
    """Release a planned wave to the floor (the wave's ``release`` update); twice is 409 ``IllegalWaveTransition``."""
    view, done = await warehouse.update_wave(
        _temporal(request),
        _clients(request),
        wait_seconds=_settings(request).update_wait_seconds,
        wave_id=wave_id,
        update="release",
        arg=warehouse.release_request(principal),
    )
    if not done:
        response.status_code = 202
    return view


@waves_router.post(
    "/{wave_id}/orders/{order_id}/remove",
    response_model=WaveView,
    responses={202: {"model": WaveView, "description": _ACCEPTED}, **error_responses(404, 409)},
)
async def remove_order(
    request: Request, response: Response, _: StaffDep, wave_id: IdPath, order_id: IdPath
) -> WaveView:
    """Take an order out of a planned wave (back to the backlog); refused once released (409)."""
    view, done = await warehouse.update_wave(
        _temporal(request),
        _clients(request),
        wait_seconds=_settings(request).update_wait_seconds,
        wave_id=wave_id,
        update="remove_order",
        arg=warehouse.remove_request(order_id),
    )
    if not done:
        response.status_code = 202
    return view


# -- pick tasks -------------------------------------------------------------------------
@tasks_router.get(
    "/next",
    response_model=TaskView,
    responses={204: {"description": "No task is open (in that wave)"}},
)
async def next_task(
    request: Request,
    principal: StaffDep,
    wave_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> TaskView | Response:
    """The caller's assigned task, else the first open one in pick-path order (now assigned to the caller)."""
    task = await _clients(request).next_task(picker=principal.username, wave_id=wave_id)
    if task is None:
        return Response(status_code=204)
    return task


_PICK_RESPONSES: dict[int | str, dict[str, object]] = {
    202: {"model": PickConfirmedView, "description": _ACCEPTED + " (status PENDING)"},
    **error_responses(400, 404, 409, 413),
    409: {
        "model": error_responses(409)[409]["model"],
        "description": "The scan does not fit the task (ScanMismatch, QuantityExceedsTask, TaskNotOpen, "
        "UnknownTask), or NotReady: the order is not on the floor yet, or its workflow takes no scan for a "
        "moment; retry after Retry-After seconds",
        "headers": {"Retry-After": {"description": "With NotReady: seconds to wait", "schema": {"type": "integer"}}},
    },
}


@tasks_router.post("/{task_id}/confirm", response_model=PickConfirmedView, responses=_PICK_RESPONSES)
async def confirm_pick(
    request: Request, response: Response, principal: StaffDep, task_id: IdPath, body: PickScanRequest
) -> PickConfirmedView:
    """Confirm a pick with what was scanned at the bin; fewer units than asked is a short pick."""
    return await _scan(request, response, principal, task_id, body, short=False)


@tasks_router.post("/{task_id}/short", response_model=PickConfirmedView, responses=_PICK_RESPONSES)
async def short_pick(
    request: Request, response: Response, principal: StaffDep, task_id: IdPath, body: PickScanRequest
) -> PickConfirmedView:
    """Report a short pick: the bin held fewer units than the task asked (``quantity`` = what was found).

    The missing units are written off, the bin is locked for a cycle count
    and the workflow looks for them elsewhere (``new_task_ids``) or ships
    short. A quantity not below the task's is 422 ``NotAShortPick``.
    """
    return await _scan(request, response, principal, task_id, body, short=True)


async def _scan(
    request: Request, response: Response, principal: Principal, task_id: str, body: PickScanRequest, *, short: bool
) -> PickConfirmedView:
    view, done = await warehouse.confirm_pick(
        _temporal(request),
        _clients(request),
        wait_seconds=_settings(request).update_wait_seconds,
        principal=principal,
        task_id=task_id,
        scan=body,
        short=short,
    )
    if not done:
        response.status_code = 202
    return view


# -- packing ----------------------------------------------------------------------------
@pack_router.post(
    "/{order_id}/pack",
    response_model=PackResultView,
    responses={
        202: {"model": PackResultView, "description": _ACCEPTED + " (status PACKING)"},
        **error_responses(400, 409, 413),
        409: {
            "model": error_responses(409)[409]["model"],
            "description": "PackMismatch (with `missing`: those items went back to picking, or `detail` names "
            "items beyond what was picked), NotPicked, AlreadyPacked",
        },
    },
)
async def pack_order(
    request: Request, response: Response, principal: StaffDep, order_id: IdPath, body: PackRequest
) -> PackResultView:
    """Scan the items into the carton at a station and close it: label, goods issue and shipping follow."""
    view, done = await warehouse.pack(
        _temporal(request),
        _clients(request),
        wait_seconds=_settings(request).update_wait_seconds,
        principal=principal,
        order_id=order_id,
        body=body,
    )
    if not done:
        response.status_code = 202
    return view


@pack_router.post(
    "/{order_id}/retry",
    response_model=OperatorRetryView,
    responses={
        **error_responses(409),
        409: {
            "model": error_responses(409)[409]["model"],
            "description": "NothingToRetry: no step of this order waits for an operator",
        },
    },
)
async def retry_order_step(request: Request, principal: StaffDep, order_id: IdPath) -> OperatorRetryView:
    """Retry the step an order waits on after goods issue (its alert names it; nothing is ever undone then)."""
    return await warehouse.retry_after_goods_issue(
        _temporal(request),
        wait_seconds=_settings(request).update_wait_seconds,
        principal=principal,
        order_id=order_id,
    )

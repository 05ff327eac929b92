"""Warehouse routes. Each mutating route runs its unit of work through the idempotency helper."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from common.db import SessionDep
from common.errors import ErrorBody
from common.idempotency import IDEMPOTENT_RESPONSES, IdempotentDep, fingerprint
from services.inventory.models import SKU_PATTERN
from services.warehouse import adjustment_bin, holds, picking, service, waves
from services.warehouse.models import (
    ID_PATTERN,
    LOCATION_PATTERN,
    STATIONS,
    AdjustmentsApplied,
    AdjustmentsIn,
    BacklogIn,
    BacklogPublic,
    BacklogState,
    BinStockPublic,
    ConfirmIn,
    IssueState,
    LocationPublic,
    LockIn,
    MoveIn,
    OrderRefIn,
    Reallocated,
    RestockState,
    SkuQuantityIn,
    StationPublic,
    StockMoved,
    StockTotalPublic,
    TaskConfirmed,
    TaskPublic,
    WaveAllocation,
    WaveCreate,
    WavePublic,
    WaveStatus,
)
from services.warehouse.repository import WarehouseRepository
from services.warehouse.settings import WarehouseSettings


async def get_repo(session: SessionDep) -> WarehouseRepository:
    return WarehouseRepository(session)


async def get_warehouse_settings(request: Request) -> WarehouseSettings:
    settings: WarehouseSettings = request.app.state.settings
    return settings


RepoDep = Annotated[WarehouseRepository, Depends(get_repo)]
SettingsDep = Annotated[WarehouseSettings, Depends(get_warehouse_settings)]
LocationPath = Annotated[str, Path(pattern=LOCATION_PATTERN)]
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]
TaskIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
Limit = Annotated[int, Query(ge=1, le=500)]
# Bounded: deep offsets cost a scan and no caller pages this far.
Offset = Annotated[int, Query(ge=0, le=100_000)]

router = APIRouter()


# --- locations, stock, stations -----------------------------------------------------------------------------------


@router.get("/locations", response_model=list[LocationPublic], tags=["locations"])
async def list_locations(
    repo: RepoDep,
    zone: Annotated[str | None, Query(pattern=r"^[A-Z]$")] = None,
    locked: bool | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[LocationPublic]:
    """Locations in pick-path order."""
    rows = await repo.list_locations(zone=zone, locked=locked, limit=limit, offset=offset)
    return [service.location_public(r) for r in rows]


@router.get("/locations/{code}", response_model=LocationPublic, tags=["locations"])
async def get_location(code: LocationPath, repo: RepoDep) -> LocationPublic:
    return service.location_public(await service.get_location(repo, code))


@router.post(
    "/locations/{code}/lock", response_model=LocationPublic, responses=IDEMPOTENT_RESPONSES, tags=["locations"]
)
async def lock_location(code: LocationPath, body: LockIn, repo: RepoDep, once: IdempotentDep) -> LocationPublic:
    """Lock a bin (a count is due); nothing is allocated from it until it is unlocked.

    404 ``LocationNotFound``; the stock-adjustment bin → 409 ``AdjustmentBin`` (locked for good).
    """
    return await once.run(
        fingerprint("lock", code, body.reason), lambda: service.lock_location(repo, code, body.reason)
    )


@router.post(
    "/locations/{code}/unlock", response_model=LocationPublic, responses=IDEMPOTENT_RESPONSES, tags=["locations"]
)
async def unlock_location(code: LocationPath, repo: RepoDep, once: IdempotentDep) -> LocationPublic:
    """404 ``LocationNotFound``; the stock-adjustment bin → 409 ``AdjustmentBin`` (locked for good)."""
    return await once.run(fingerprint("unlock", code), lambda: service.lock_location(repo, code, None))


@router.get("/stock", response_model=list[BinStockPublic], tags=["stock"])
async def stock(
    repo: RepoDep,
    sku: Annotated[str | None, Query(pattern=SKU_PATTERN)] = None,
    location: Annotated[str | None, Query(pattern=LOCATION_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Offset = 0,
) -> list[BinStockPublic]:
    """Bin rows by SKU, then pick path."""
    return await service.stock(repo, sku=sku, location=location, limit=limit, offset=offset)


@router.get("/stock/totals", response_model=list[StockTotalPublic], tags=["stock"])
async def stock_totals(repo: RepoDep) -> list[StockTotalPublic]:
    """Per SKU: units in the bins and how many of them are allocated (for the cross-service stock check).

    The stock-adjustment bin counts too, below zero included, so the totals equal inventory's ``on_hand``.
    """
    return await service.stock_totals(repo)


@router.post("/stock/adjustments", response_model=AdjustmentsApplied, responses=IDEMPOTENT_RESPONSES, tags=["stock"])
async def apply_adjustments(body: AdjustmentsIn, repo: RepoDep, once: IdempotentDep) -> AdjustmentsApplied:
    """Apply inventory's stock adjustments to the stock-adjustment bin ``X-00-00-0``, each id once.

    Each new id adds its ``delta`` to the SKU's row (lot null) there, made when
    missing; an id applied before (or earlier in the body) counts as
    ``duplicate`` and adds nothing, also when two calls carry it at once.
    409 ``AdjustmentMismatch`` (``ids``) when an id was applied with another SKU
    or delta (nothing applied); one id twice in the body with different content → 422.
    """
    return await once.run(
        fingerprint("adjust", body.model_dump_json()), lambda: adjustment_bin.apply_adjustments(repo, body)
    )


@router.post(
    "/stock/moves",
    response_model=StockMoved,
    responses={404: {"model": ErrorBody, "description": "``LocationNotFound``"}, **IDEMPOTENT_RESPONSES},
    tags=["stock"],
)
async def move_stock(body: MoveIn, repo: RepoDep, once: IdempotentDep) -> StockMoved:
    """Move free units of one SKU and lot from bin ``from`` to bin ``to``; answers both rows after the move.

    Put found units away from the stock-adjustment bin ``X-00-00-0`` into a real
    bin, or book missing ones out of a real bin into it. Only the adjustment bin
    may go below zero; any other source gives at most its free units (``quantity
    - allocated``), else 409 ``NotEnoughFreeUnits`` (``requested``, ``free``). The
    destination row is made when missing (received now, the source's expiry
    date). Locked bins take part (a count is often why units move). Unknown
    location → 404 ``LocationNotFound``; ``from == to`` → 422.
    """
    return await once.run(
        fingerprint("move", body.model_dump(mode="json", by_alias=True)), lambda: adjustment_bin.move(repo, body)
    )


@router.get("/stations", response_model=list[StationPublic], tags=["stations"])
async def stations() -> list[StationPublic]:
    return [StationPublic(code=code) for code in STATIONS]


# --- backlog ------------------------------------------------------------------------------------------------------


@router.post(
    "/backlog", status_code=201, response_model=BacklogPublic, responses=IDEMPOTENT_RESPONSES, tags=["backlog"]
)
async def enqueue(body: BacklogIn, repo: RepoDep, settings: SettingsDep, once: IdempotentDep) -> BacklogPublic:
    """Hand an accepted order to the warehouse; a repeat answers it; after a withdraw → 409 ``OrderWithdrawn``."""
    return await once.run(
        fingerprint("enqueue", body.model_dump(mode="json")), lambda: service.enqueue(repo, body, settings)
    )


@router.post(
    "/backlog/{order_id}/withdraw", response_model=BacklogState, responses=IDEMPOTENT_RESPONSES, tags=["backlog"]
)
async def withdraw(order_id: IdPath, repo: RepoDep, once: IdempotentDep) -> BacklogState:
    """Undo of enqueue; ``status: null`` when the order never came (a tombstone refuses it later)."""
    return await once.run(fingerprint("withdraw", order_id), lambda: service.withdraw(repo, order_id))


@router.post("/backlog/{order_id}/hold", response_model=BacklogState, responses=IDEMPOTENT_RESPONSES, tags=["backlog"])
async def hold(order_id: IdPath, repo: RepoDep, once: IdempotentDep) -> BacklogState:
    """Keep the order out of every wave (the ERP holds it): ``HELD``; a planned order leaves its wave.

    404 ``BacklogNotFound``; 409 ``OrderReleased`` (its wave is on the floor) or ``OrderWithdrawn``.
    """
    return await once.run(fingerprint("hold", order_id), lambda: holds.hold(repo, order_id))


@router.post(
    "/backlog/{order_id}/requeue", response_model=BacklogState, responses=IDEMPOTENT_RESPONSES, tags=["backlog"]
)
async def requeue(order_id: IdPath, repo: RepoDep, once: IdempotentDep) -> BacklogState:
    """A held order waits for a wave again, in its old place; any other state is answered as it is.

    404 ``BacklogNotFound``; 409 ``OrderWithdrawn``.
    """
    return await once.run(fingerprint("requeue", order_id), lambda: holds.requeue(repo, order_id))


@router.get("/backlog", response_model=list[BacklogPublic], tags=["backlog"])
async def backlog(repo: RepoDep, limit: Limit = 100, offset: Offset = 0) -> list[BacklogPublic]:
    """Waiting orders in planning order (cutoff, priority desc, placed)."""
    return await service.waiting(repo, limit=limit, offset=offset)


# --- waves --------------------------------------------------------------------------------------------------------


@router.post("/waves", status_code=201, response_model=WavePublic, responses=IDEMPOTENT_RESPONSES, tags=["waves"])
async def plan_wave(body: WaveCreate, repo: RepoDep, once: IdempotentDep) -> WavePublic:
    """Plan a wave from the waiting orders; none → 409 ``NothingToPlan``."""
    return await once.run(fingerprint("plan", body.model_dump()), lambda: waves.plan(repo, body))


@router.get("/waves", response_model=list[WavePublic], tags=["waves"])
async def list_waves(
    repo: RepoDep,
    status: Annotated[WaveStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> list[WavePublic]:
    """Newest first."""
    return await waves.list_waves(repo, status=status, limit=limit, offset=offset)


@router.get("/waves/{wave_id}", response_model=WavePublic, tags=["waves"])
async def get_wave(wave_id: IdPath, repo: RepoDep) -> WavePublic:
    return await service.wave_view(repo, await waves.get_wave(repo, wave_id))


@router.post("/waves/{wave_id}/allocate", response_model=WaveAllocation, responses=IDEMPOTENT_RESPONSES, tags=["waves"])
async def allocate_wave(wave_id: IdPath, repo: RepoDep, once: IdempotentDep) -> WaveAllocation:
    """Allocate bins (FEFO, then FIFO; never a locked bin) and create the tasks; a repeat answers the same."""
    return await once.run(fingerprint("allocate", wave_id), lambda: waves.allocate(repo, wave_id))


@router.post("/waves/{wave_id}/release", response_model=WavePublic, responses=IDEMPOTENT_RESPONSES, tags=["waves"])
async def release_wave(wave_id: IdPath, repo: RepoDep, once: IdempotentDep) -> WavePublic:
    return await once.run(fingerprint("release", wave_id), lambda: waves.release(repo, wave_id))


@router.post("/waves/{wave_id}/remove-order", response_model=WavePublic, responses=IDEMPOTENT_RESPONSES, tags=["waves"])
async def remove_order(wave_id: IdPath, body: OrderRefIn, repo: RepoDep, once: IdempotentDep) -> WavePublic:
    """Only while PLANNED: the order waits again, its tasks are cancelled."""
    return await once.run(
        fingerprint("remove-order", wave_id, body.order_id), lambda: waves.remove_order(repo, wave_id, body.order_id)
    )


@router.post("/waves/{wave_id}/complete", response_model=WavePublic, responses=IDEMPOTENT_RESPONSES, tags=["waves"])
async def complete_wave(wave_id: IdPath, repo: RepoDep, once: IdempotentDep) -> WavePublic:
    return await once.run(fingerprint("complete", wave_id), lambda: waves.complete(repo, wave_id))


@router.post("/waves/{wave_id}/cancel", response_model=WavePublic, responses=IDEMPOTENT_RESPONSES, tags=["waves"])
async def cancel_wave(wave_id: IdPath, repo: RepoDep, once: IdempotentDep) -> WavePublic:
    return await once.run(fingerprint("cancel", wave_id), lambda: waves.cancel(repo, wave_id))


# --- tasks --------------------------------------------------------------------------------------------------------


@router.get(
    "/tasks/next",
    response_model=TaskPublic,
    responses={204: {"description": "No task is open for this picker"}, **IDEMPOTENT_RESPONSES},
    tags=["tasks"],
)
async def next_task(
    repo: RepoDep,
    once: IdempotentDep,
    picker: Annotated[str, Query(pattern=ID_PATTERN)],
    wave_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> TaskPublic | Response:
    """The picker's assigned task, else the next open one on the pick path (assigned to the picker)."""
    found = await once.run(fingerprint("next", picker, wave_id), lambda: picking.next_task(repo, picker, wave_id))
    return found.task if found.task is not None else Response(status_code=204)


@router.get("/tasks/{task_id}", response_model=TaskPublic, tags=["tasks"])
async def get_task(task_id: TaskIdPath, repo: RepoDep) -> TaskPublic:
    return service.task_public(await picking.get_task(repo, task_id))


@router.post("/tasks/{task_id}/confirm", response_model=TaskConfirmed, responses=IDEMPOTENT_RESPONSES, tags=["tasks"])
async def confirm_task(task_id: TaskIdPath, body: ConfirmIn, repo: RepoDep, once: IdempotentDep) -> TaskConfirmed:
    """A smaller ``quantity`` than the task's is a short pick: the bin is locked and the missing units written off."""
    return await once.run(
        fingerprint("confirm", task_id, body.model_dump()), lambda: picking.confirm(repo, task_id, body)
    )


# --- orders -------------------------------------------------------------------------------------------------------


@router.get("/orders/{order_id}/tasks", response_model=list[TaskPublic], tags=["orders"])
async def order_tasks(order_id: IdPath, repo: RepoDep) -> list[TaskPublic]:
    """Every task of the order, in pick-path order."""
    return await picking.order_tasks(repo, order_id)


@router.post(
    "/orders/{order_id}/reallocate", response_model=Reallocated, responses=IDEMPOTENT_RESPONSES, tags=["orders"]
)
async def reallocate(order_id: IdPath, body: SkuQuantityIn, repo: RepoDep, once: IdempotentDep) -> Reallocated:
    """Allocate units again (after a short pick) from other unlocked bins, in the order's wave."""
    return await once.run(
        fingerprint("reallocate", order_id, body.model_dump()), lambda: picking.reallocate(repo, order_id, body)
    )


@router.post("/orders/{order_id}/repick", response_model=Reallocated, responses=IDEMPOTENT_RESPONSES, tags=["orders"])
async def repick(order_id: IdPath, body: SkuQuantityIn, repo: RepoDep, once: IdempotentDep) -> Reallocated:
    """Picked units missing from the tote go back to picking at the same bins and lots."""
    return await once.run(
        fingerprint("repick", order_id, body.model_dump()), lambda: picking.repick(repo, order_id, body)
    )


@router.post(
    "/orders/{order_id}/return-picks", response_model=BacklogState, responses=IDEMPOTENT_RESPONSES, tags=["orders"]
)
async def return_picks(order_id: IdPath, repo: RepoDep, once: IdempotentDep) -> BacklogState:
    """Compensation: cancel the order's tasks and undo its allocation; nothing to undo → 200."""
    return await once.run(fingerprint("return-picks", order_id), lambda: picking.return_picks(repo, order_id))


@router.post("/orders/{order_id}/issue", response_model=IssueState, responses=IDEMPOTENT_RESPONSES, tags=["orders"])
async def issue(order_id: IdPath, repo: RepoDep, once: IdempotentDep) -> IssueState:
    """Goods issue: picked units leave their bins."""
    return await once.run(fingerprint("issue", order_id), lambda: picking.issue(repo, order_id))


@router.post("/orders/{order_id}/restock", response_model=RestockState, responses=IDEMPOTENT_RESPONSES, tags=["orders"])
async def restock(order_id: IdPath, repo: RepoDep, once: IdempotentDep) -> RestockState:
    """A failed delivery came back: the issued units return to the bins they were picked from (once).

    Before goods issue → 409 ``NotIssued``; unknown order → 404 ``OrderNotFound``; a repeat answers the same.
    """
    return await once.run(fingerprint("restock", order_id), lambda: picking.restock(repo, order_id))

"""``paklog erp sync now|pause|resume|status`` and ``paklog erp backfill``: the ERP master-data import.

The commands talk to Temporal directly (the ``erp-sync`` Schedule and the
``ErpSync`` runs), as the worker does, and read the watermarks from the
services with the deployment's service token (``PAKLOG_SERVICE_TOKEN``, else
the one ``paklog dev`` saved), like ``paklog check stock``. A run is followed
with a progress bar per entity, fed by the workflows' ``progress`` queries;
its total is the ERP's count of rows after the watermark, when the ERP tells.
Temporal and the gateway modules load only when a command runs, so the rest
of ``paklog`` starts as fast as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from paklog.exits import exit_after_temporal

if TYPE_CHECKING:
    from temporalio.client import Client

    from paklog.settings import WorkerSettings
    from workflows.erp_types import ErpSyncResult, ImportProgress

console = Console()
erp_app = typer.Typer(help="The ERP master-data import: materials, customers, stock.", no_args_is_help=True)
sync_app = typer.Typer(help="The erp-sync Schedule: run it now, pause, resume, show the state.", no_args_is_help=True)
erp_app.add_typer(sync_app, name="sync")

PageSizeOpt = Annotated[int, typer.Option(min=1, max=1000, help="Rows per page (the ERP's $top)")]
POLL_SECONDS = 0.5
#: How long ``now`` waits for the Schedule to start the run it triggered.
TRIGGER_WAIT_SECONDS = 30.0


async def _guarded(coro: Coroutine[Any, Any, int]) -> int:
    """A command's exit status; Temporal or a service out of reach is 2, with what happened."""
    from temporalio.service import RPCError

    from common.errors import DomainError

    try:
        return await coro
    except (RPCError, RuntimeError, httpx.HTTPError, DomainError) as exc:  # a failed connect is a RuntimeError
        console.print(f"[red]cannot reach Temporal or a service[/red]: {exc}")
        return 2


def _run(coro: Coroutine[Any, Any, int]) -> None:
    exit_after_temporal(asyncio.run(_guarded(coro)))


def _settings() -> WorkerSettings:
    from paklog.settings import erp_cli_settings

    return erp_cli_settings()


async def _connect(settings: WorkerSettings) -> Client:
    from gateway.temporal import connect_temporal

    return await connect_temporal(settings)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")


# -- following a run ---------------------------------------------------------------------------
async def _totals(settings: WorkerSettings, full: bool) -> dict[str, int]:
    """Rows each entity has to import: the ERP's count after each watermark (all of them with ``full``)."""
    from gateway.clients import ServiceClients
    from gateway.erp import erp_count
    from workflows.erp_types import CUSTOMERS, ENTITIES, MATERIALS, STOCK

    async with httpx.AsyncClient(timeout=10) as http:
        clients = ServiceClients(http, settings)
        try:
            inventory, identity = await asyncio.gather(
                clients.erp_watermarks(settings.inventory_url), clients.erp_watermarks(settings.identity_url)
            )
        except Exception:  # a bar without a total is still a bar
            inventory, identity = {}, {}
        stored = {MATERIALS: inventory.get(MATERIALS), STOCK: inventory.get(STOCK), CUSTOMERS: identity.get(CUSTOMERS)}
        counts = await asyncio.gather(
            *(erp_count(clients, settings.erp_url, entity, None if full else stored[entity]) for entity in ENTITIES)
        )
    return {entity: count for entity, count in zip(ENTITIES, counts, strict=True) if count is not None}


async def _child_progress(client: Client, entity: str, since: datetime) -> ImportProgress | None:
    """The entity's import, if the one running now belongs to this run (not an earlier run's)."""
    from workflows.erp_sync import ErpImport
    from workflows.erp_types import import_workflow_id

    try:
        progress: ImportProgress = await client.get_workflow_handle(import_workflow_id(entity)).query(
            ErpImport.progress
        )
    except Exception:  # not started yet, or between two runs of its chain
        return None
    return progress if datetime.fromisoformat(progress.started_at) >= since else None


async def _follow(client: Client, workflow_id: str, totals: dict[str, int]) -> int:
    """A bar per entity until the run ends; then rows per entity and materials per second."""
    from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

    from workflows.erp_sync import ErpSync
    from workflows.erp_types import ENTITIES, ErpSyncResult

    handle = client.get_workflow_handle(workflow_id, result_type=ErpSyncResult)
    console.print(f"following [bold]{workflow_id}[/bold]")
    columns = (TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bars:
        tasks: dict[str, TaskID] = {
            entity: bars.add_task(entity, total=totals.get(entity), start=False) for entity in ENTITIES
        }
        while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            try:
                sync = await handle.query(ErpSync.progress)
            except Exception:  # its first workflow task has not run yet
                await asyncio.sleep(POLL_SECONDS)
                continue
            for done in sync.done:
                bars.start_task(tasks[done.entity])
                bars.update(tasks[done.entity], completed=done.rows, total=done.rows)
            if sync.current is not None:
                current = await _child_progress(client, sync.current, datetime.fromisoformat(sync.started_at))
                bars.start_task(tasks[sync.current])
                if current is not None:
                    total = totals.get(sync.current)
                    bars.update(
                        tasks[sync.current],
                        completed=current.rows,
                        total=max(total, current.rows) if total is not None else None,
                    )
            await asyncio.sleep(POLL_SECONDS)
        try:
            result = await handle.result()
        except WorkflowFailureError as failed:
            bars.stop()
            console.print(f"[red]{workflow_id} did not complete[/red]: {failed.cause or failed}")
            return 1
        for summary in result.entities:
            bars.start_task(tasks[summary.entity])
            bars.update(tasks[summary.entity], completed=summary.rows, total=summary.rows)
    _print_result(result)
    return 0


def _print_result(result: ErpSyncResult) -> None:
    table = Table(
        title=f"{'backfill' if result.full else 'sync'}: {result.seconds:.1f} s", box=box.SIMPLE_HEAD, pad_edge=False
    )
    # new: inserted; same: unchanged (newer-wins found nothing newer); unknown: stock of SKUs not imported.
    for column in ("entity", "rows", "new", "updated", "same", "rejected", "unknown", "pages", "rows/s"):
        table.add_column(column, justify="left" if column == "entity" else "right", no_wrap=True)
    for e in result.entities:
        rate = e.rows / e.seconds if e.seconds > 0 else 0.0
        counts = (e.rows, e.inserted, e.updated, e.unchanged, e.rejected, e.unknown, e.pages)
        table.add_row(e.entity, *map(str, counts), f"{rate:.0f}")
    console.print(table)
    materials = next((e for e in result.entities if e.entity == "materials"), None)
    if materials is not None:
        rate = materials.rows / materials.seconds if materials.seconds > 0 else 0.0
        console.print(f"materials/s {rate:.0f}")


# -- the commands ------------------------------------------------------------------------------
async def _sync_now(settings: WorkerSettings) -> int:
    """Start the import as ``POST /api/erp/sync`` does (:func:`gateway.erp.sync_now`), then follow the run."""
    from common.errors import Unavailable
    from gateway.erp import SYNC_NOW_ID, sync_now

    client = await _connect(settings)
    totals = await _totals(settings, full=False)
    try:
        run = await sync_now(client, settings.task_queue, trigger_wait_seconds=TRIGGER_WAIT_SECONDS)
    except Unavailable as exc:
        console.print(f"[red]{exc.detail}[/red] (is a worker running?)")
        return 1
    if not run.started:
        console.print("a run is already going (it is not started twice): following it")
    elif run.workflow_id == SYNC_NOW_ID:
        console.print("no erp-sync schedule (PAKLOG_ERP_SYNC_INTERVAL_SECONDS=0): started a run")
    return await _follow(client, run.workflow_id, totals)


@sync_app.command("now")
def sync_now() -> None:
    """Run the import now (the schedule's run, or one of its own without a schedule) and follow it to the end."""
    _run(_sync_now(_settings()))


async def _pause(settings: WorkerSettings, pause: bool, note: str) -> int:
    from temporalio.service import RPCError, RPCStatusCode

    from workflows.erp_types import ERP_SCHEDULE_ID

    client = await _connect(settings)
    schedule = client.get_schedule_handle(ERP_SCHEDULE_ID)
    try:
        if pause:
            await schedule.pause(note=note)
        else:
            await schedule.unpause(note=note)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        console.print("[red]there is no erp-sync schedule[/red] (PAKLOG_ERP_SYNC_INTERVAL_SECONDS=0)")
        return 1
    console.print(f"erp-sync {'paused' if pause else 'resumed'}")
    return 0


@sync_app.command("pause")
def sync_pause(note: Annotated[str, typer.Option(help="Why (shown on the schedule)")] = "paused by paklog") -> None:
    """Pause the schedule: no run starts until it is resumed (a worker restart keeps the pause)."""
    _run(_pause(_settings(), True, note))


@sync_app.command("resume")
def sync_resume(note: Annotated[str, typer.Option(help="Why (shown on the schedule)")] = "resumed by paklog") -> None:
    """Resume the schedule."""
    _run(_pause(_settings(), False, note))


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


async def _status(settings: WorkerSettings) -> int:
    from gateway.clients import ServiceClients
    from gateway.erp import sync_state

    client = await _connect(settings)
    async with httpx.AsyncClient(timeout=30) as http:
        state = await sync_state(client, ServiceClients(http, settings), settings.erp_url)
    if state.schedule is None:
        console.print("schedule erp-sync: none (PAKLOG_ERP_SYNC_INTERVAL_SECONDS=0)")
    else:
        s = state.schedule
        every = f"every {s.interval_seconds:.0f} s" if s.interval_seconds is not None else "not an interval"
        console.print(
            f"schedule erp-sync: {'[yellow]paused[/yellow]' if s.paused else '[green]active[/green]'}, {every}, "
            f"last run {_when(s.last_run_at)}, next run {_when(s.next_run_at)}"
        )
    table = Table(title="watermarks")
    for column in ("entity", "changed_at", "key", "rows", "lag"):
        table.add_column(column)
    for e in state.entities:
        lag = "-" if e.lag_seconds is None else f"{e.lag_seconds:.1f} s"
        if e.watermark is None:
            table.add_row(e.entity, "-", "-", str(e.rows), lag)
        else:
            # In full: the watermark is a position, microseconds included.
            table.add_row(e.entity, e.watermark.changed_at.isoformat(), e.watermark.key, str(e.rows), lag)
    console.print(table)
    run = state.last_run
    if run is None:
        console.print("last run: none")
    else:
        console.print(f"last run {run.workflow_id}: {run.status}, started {_when(run.started_at)}")
        if run.error:
            console.print(f"[red]{run.error}[/red]")
    return 0


@sync_app.command("status")
def sync_status() -> None:
    """The schedule (paused, interval, last and next run), each entity's watermark and lag, the last run."""
    _run(_status(_settings()))


async def _backfill(settings: WorkerSettings, page_size: int) -> int:
    from workflows.erp_types import ERP_BACKFILL_ID_PREFIX, ERP_SYNC_WORKFLOW_NAME, ErpSyncInput

    client = await _connect(settings)
    workflow_id = f"{ERP_BACKFILL_ID_PREFIX}-{_stamp()}"
    totals = await _totals(settings, full=True)
    await client.start_workflow(
        ERP_SYNC_WORKFLOW_NAME,
        ErpSyncInput(full=True, page_size=page_size),
        id=workflow_id,
        task_queue=settings.task_queue,
    )
    return await _follow(client, workflow_id, totals)


@erp_app.command("backfill")
def backfill(page_size: PageSizeOpt = 500) -> None:
    """Import every material, customer and stock row from the first one (newer-wins: nothing goes backwards)."""
    _run(_backfill(_settings(), page_size))

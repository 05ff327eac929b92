"""``paklog bench``'s backfill phase: the ERP stand-in's materials imported from zero by ``ErpImport(full)``.

One ``ErpImport`` of materials with ``full`` (no watermark: from the ERP's
first row), through the platform's worker, the ERP stand-in and inventory, as
``paklog erp backfill`` runs it. Materials per second are the rows imported
over the wall-clock time from the start request to the result (so Temporal's
scheduling counts, not just the activities); the goal is 1000 or more. The
phase needs the platform to run the stand-in (``LocalPlatform.erp_url``); a
platform without one skips it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from rich.console import Console
from temporalio.client import Client

from common.settings import TemporalSettings
from gateway.temporal import connect_temporal
from paklog.platform import LocalPlatform
from workflows.erp_sync import ErpImport
from workflows.erp_types import MATERIALS, MAX_PAGE_SIZE, ErpImportInput, ImportProgress, import_workflow_id

#: A backfill that has not ended by then is stuck (the ERP or inventory down): the bench gives up on it.
BACKFILL_TIMEOUT_SECONDS = 600.0
GOAL_PER_SECOND = 1000


@dataclass(frozen=True)
class Backfill:
    result: ImportProgress
    wall_seconds: float
    page_size: int

    @property
    def per_second(self) -> float:
        return self.result.rows / self.wall_seconds if self.wall_seconds > 0 else 0.0


def platform_has_erp(platform: LocalPlatform) -> bool:
    """Whether this platform runs the ERP stand-in (``services/erp``) for the worker to read."""
    return getattr(platform, "erp_url", None) is not None


async def _backfill(client: Client, task_queue: str, page_size: int) -> Backfill:
    params = ErpImportInput(entity=MATERIALS, full=True, page_size=page_size)
    started = time.perf_counter()
    handle = await client.start_workflow(ErpImport.run, params, id=import_workflow_id(MATERIALS), task_queue=task_queue)
    try:
        result = await asyncio.wait_for(handle.result(), BACKFILL_TIMEOUT_SECONDS)
    except TimeoutError:
        await handle.terminate(reason="bench: the backfill did not end in time")
        raise
    return Backfill(result=result, wall_seconds=time.perf_counter() - started, page_size=page_size)


async def measure_backfill(platform: LocalPlatform, page_size: int = MAX_PAGE_SIZE) -> Backfill:
    client = await connect_temporal(
        TemporalSettings(temporal_address=platform.temporal_address, task_queue=platform.config.task_queue)
    )
    return await _backfill(client, platform.config.task_queue, page_size)


def print_backfill(backfill: Backfill | None, console: Console) -> None:
    """The phase's line: ``backfill materials/s <n>`` (or why it did not run)."""
    if backfill is None:
        console.print("backfill skipped: this platform runs no ERP stand-in (services/erp)")
        return
    r = backfill.result
    console.print(
        f"backfill of materials from zero: {r.rows} rows ({r.inserted} new, {r.updated} updated, "
        f"{r.unchanged} unchanged) in {r.pages} pages of {backfill.page_size}, {r.runs} run(s), "
        f"{backfill.wall_seconds:.1f} s wall clock (goal: {GOAL_PER_SECOND}/s)"
    )
    print(f"backfill materials/s {backfill.per_second:.0f}", flush=True)

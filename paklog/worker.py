"""``paklog worker``: hosts every workflow and activity on one task queue."""

from __future__ import annotations

import asyncio
import importlib.util
import py_compile
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import build_activities
from common.http import create_http_client
from common.logging import get_logger
from common.settings import ServiceUrls
from common.tracing import WorkerTracing
from gateway.temporal import connect_temporal
from paklog.schedules import ensure_erp_schedule, ensure_wave_schedule
from paklog.settings import WorkerSettings, get_worker_settings
from workflows.account_notice import AccountNotice
from workflows.erp_sync import ErpImport, ErpSync
from workflows.noop_floor import NoopFloorOrder, NoopFloorPick, NoopWave
from workflows.noop_saga import NoopSaga
from workflows.order_fulfillment import OrderFulfillment
from workflows.pick_pack_ship import PickPackShip
from workflows.wave_release import WaveRelease

__all__ = ["WorkerSettings", "build_worker", "get_worker_settings", "run_worker"]

log = get_logger("paklog.worker")

WORKFLOWS: tuple[type, ...] = (
    OrderFulfillment,
    PickPackShip,
    WaveRelease,
    ErpImport,
    ErpSync,
    NoopSaga,
    NoopFloorOrder,
    NoopFloorPick,
    NoopWave,
    AccountNotice,
)


def build_worker(
    client: Client,
    http: httpx.AsyncClient,
    urls: ServiceUrls,
    task_queue: str,
    *,
    settings: WorkerSettings | None = None,
) -> Worker:
    """A worker with the sandbox on; our own deterministic modules pass through it.

    :class:`common.tracing.WorkerTracing` carries the correlation id from workflows into activities.
    """
    settings = settings or get_worker_settings()
    restrictions = SandboxRestrictions.default.with_passthrough_modules("activities", "common", "pydantic")
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=build_activities(http, urls, erp_url=settings.erp_url),
        workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
        interceptors=[WorkerTracing()],
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
    )


def cache_workflow_bytecode(cache_dir: Path, workflows: Sequence[type] = WORKFLOWS) -> bool:
    """Compile the workflow modules once, so the sandbox's per-run re-import loads bytecode.

    The sandbox imports a workflow's module afresh for every workflow run.
    Where Python writes no bytecode (``PYTHONDONTWRITEBYTECODE``, as in our
    image and dev shells) each of those imports compiled the module's source
    again: about 4 ms of CPU per OrderFulfillment run (docs/performance.md).
    The bytecode goes to ``cache_dir`` (``sys.pycache_prefix``), never beside
    the sources.

    Returns:
        True when the cache is in use.
    """
    if not sys.dont_write_bytecode:
        return False  # the normal __pycache__ already serves the sandbox
    sys.pycache_prefix = str(cache_dir)
    try:
        for workflow_class in workflows:
            source = sys.modules[workflow_class.__module__].__file__
            if source is not None:
                py_compile.compile(source, cfile=importlib.util.cache_from_source(source), doraise=True)
    except (OSError, py_compile.PyCompileError) as exc:
        sys.pycache_prefix = None
        log.warning("workflow bytecode not cached", error=str(exc))
        return False
    return True


async def run_worker(settings: WorkerSettings) -> None:
    """Run until SIGTERM/SIGINT, then let in-flight activities finish and close the HTTP pool."""
    cache_workflow_bytecode(settings.state_dir.resolve() / "pycache")
    client = await connect_temporal(settings)
    http = create_http_client(settings.http_timeout_seconds, max_connections=settings.max_concurrent_activities)
    worker = build_worker(client, http, settings, settings.task_queue, settings=settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await ensure_wave_schedule(client, settings.task_queue, settings.wave_interval_seconds)
    await ensure_erp_schedule(client, settings.task_queue, settings.erp_sync_interval_seconds)
    log.info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_address)
    try:
        async with worker:
            await stop.wait()
            log.info("worker draining", graceful_seconds=settings.graceful_shutdown_seconds)
    finally:
        await http.aclose()
    log.info("worker stopped")

"""``paklog worker``: hosts every workflow and activity on one task queue."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

import httpx
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import build_activities
from common.http import create_http_client
from common.logging import get_logger
from common.settings import ServiceUrls
from gateway.temporal import connect_temporal
from paklog.settings import WorkerSettings, get_worker_settings
from workflows.noop_saga import NoopSaga
from workflows.order_fulfillment import OrderFulfillment

__all__ = ["WorkerSettings", "build_worker", "get_worker_settings", "run_worker"]

log = get_logger("paklog.worker")


def build_worker(
    client: Client,
    http: httpx.AsyncClient,
    urls: ServiceUrls,
    task_queue: str,
    *,
    settings: WorkerSettings | None = None,
) -> Worker:
    """A worker with the sandbox on; our own deterministic modules pass through it."""
    settings = settings or get_worker_settings()
    restrictions = SandboxRestrictions.default.with_passthrough_modules("activities", "common", "pydantic")
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[OrderFulfillment, NoopSaga],
        activities=build_activities(http, urls),
        workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
    )


async def run_worker(settings: WorkerSettings) -> None:
    """Run until SIGTERM/SIGINT, then let in-flight activities finish and close the HTTP pool."""
    client = await connect_temporal(settings)
    http = create_http_client(settings.http_timeout_seconds, max_connections=settings.max_concurrent_activities)
    worker = build_worker(client, http, settings, settings.task_queue, settings=settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_address)
    try:
        async with worker:
            await stop.wait()
            log.info("worker draining", graceful_seconds=settings.graceful_shutdown_seconds)
    finally:
        await http.aclose()
    log.info("worker stopped")

"""``paklog bench``: the order saga against a no-op workflow, side by side.

One run starts a private platform (embedded PostgreSQL, one Temporal dev
server, the services and one worker), then drives, with the same
concurrency, ``orders`` OrderFulfillment sagas through the real services up
to ``AWAITING_WAVE`` and as many ``NoopSaga`` workflows with the same number
of activities. It prints throughput and p50/p99 latency for both; the last
line is ``ratio <saga ÷ no-op>`` (throughput).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from common.service_auth import service_headers
from common.settings import TemporalSettings
from gateway.temporal import connect_temporal
from paklog.platform import LocalPlatform, free_ports_config
from workflows.noop_saga import NoopSaga, NoopSagaInput
from workflows.order_fulfillment import (
    OrderFulfillment,
    OrderFulfillmentInput,
    OrderLine,
    ShippingAddress,
    WaitForStatus,
    workflow_id,
)

BENCH_SKU = "BENCH-UNIT"


@dataclass
class Measured:
    name: str
    latencies: list[float]
    seconds: float

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _drive(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> tuple[list[float], float]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def timed(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(timed(i) for i in range(count)))
    return latencies, time.perf_counter() - started


async def _saga(client: Client, task_queue: str, run: str, i: int) -> None:
    order_id = f"bench{run}{i:06d}"
    params = OrderFulfillmentInput(
        order_id=order_id,
        customer_id="bench",
        customer_email="bench@example.com",
        currency="EUR",
        lines=[OrderLine(sku=BENCH_SKU, quantity=1, unit_price_cents=100)],
        shipping_address=ShippingAddress(
            name="Bench", line1="1 Road", city="Berlin", postal_code="10115", country="DE"
        ),
        card_token="tok_visa",
    )
    # Update-with-start: one round trip starts the saga and waits for acceptance,
    # as execute_workflow does for the no-op.
    snapshot = await client.execute_update_with_start_workflow(
        OrderFulfillment.wait_for_status,
        WaitForStatus(statuses=["AWAITING_WAVE"]),
        start_workflow_operation=WithStartWorkflowOperation(
            OrderFulfillment.run,
            params,
            id=workflow_id(order_id),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        ),
    )
    if snapshot.status != "AWAITING_WAVE":
        raise RuntimeError(f"bench order {order_id} ended {snapshot.status} ({snapshot.cancel_reason})")


async def _noop(client: Client, task_queue: str, run: str, i: int) -> None:
    await client.execute_workflow(
        NoopSaga.run, NoopSagaInput(label=f"{run}-{i}"), id=f"noop-{run}-{i}", task_queue=task_queue
    )


async def _measure(platform: LocalPlatform, orders: int, concurrency: int) -> tuple[Measured, Measured]:
    client = await connect_temporal(TemporalSettings(temporal_address=platform.temporal_address))
    task_queue = platform.config.task_queue
    async with httpx.AsyncClient() as http:
        resp = await http.put(
            f"{platform.service_url('inventory')}/products/{BENCH_SKU}",
            json={"name": "Benchmark unit", "price_cents": 100, "on_hand": (orders + 50) * 2},
            headers=service_headers(platform.service_token),
        )
        resp.raise_for_status()
    run = uuid.uuid4().hex[:6]
    warm = min(10, orders)
    await _drive(warm, concurrency, lambda i: _saga(client, task_queue, f"{run}w", i))
    await _drive(warm, concurrency, lambda i: _noop(client, task_queue, f"{run}w", i))
    saga_lat, saga_s = await _drive(orders, concurrency, lambda i: _saga(client, task_queue, run, i))
    noop_lat, noop_s = await _drive(orders, concurrency, lambda i: _noop(client, task_queue, run, i))
    return Measured("order saga (real services)", saga_lat, saga_s), Measured("no-op workflow", noop_lat, noop_s)


def run_bench(*, orders: int, concurrency: int, console: Console) -> int:
    """Start a private platform, measure both, print the table and the ratio line."""
    with tempfile.TemporaryDirectory(prefix="paklog-bench-") as tmp:
        platform = LocalPlatform(free_ports_config(Path(tmp) / "state", task_queue="bench"))
        console.print(f"starting a private platform in {tmp} ...")
        platform.start()
        try:
            saga, noop = asyncio.run(_measure(platform, orders, concurrency))
        finally:
            platform.stop()
    table = Table(title=f"{orders} workflows each, {concurrency} in flight, 7 activities each")
    for column in ("workflow", "per second", "p50 ms", "p99 ms"):
        table.add_column(column)
    for m in (saga, noop):
        table.add_row(m.name, f"{m.per_second:.1f}", f"{m.percentile(0.5):.0f}", f"{m.percentile(0.99):.0f}")
    console.print(table)
    print(f"sagas/s {saga.per_second:.2f} noop/s {noop.per_second:.2f}")
    print(f"ratio {saga.per_second / noop.per_second:.2f}", flush=True)
    return 0

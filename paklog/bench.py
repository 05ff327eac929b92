"""``paklog bench``: the order saga against a no-op workflow, side by side.

One run starts a private platform (embedded PostgreSQL, one Temporal dev
server, the services and one worker), then drives, with the same
concurrency, ``orders`` OrderFulfillment sagas through the real services up
to ``AWAITING_WAVE`` (and into the wave backlog) and as many ``NoopSaga``
workflows with the same number of activities, in alternating rounds (so
outside load hits both alike). It prints throughput and p50/p99 latency for
both; the last line is ``ratio <saga ÷ no-op>`` (throughput).

Before that, the order-to-ship flow: ``floor_orders`` orders placed, waved
(WaveRelease), picked and packed by the bench through the PickPackShip
updates (as scanners do through the gateway), and shipped, against the
no-op flow of the same shape (:mod:`workflows.noop_floor`), in alternating
rounds; it prints ``floor ratio <real ÷ no-op>`` (orders per second).

Beside it, a micro-benchmark prices one service call: ``POST
/orders/{id}/transition`` with an ``Idempotency-Key`` through HTTP against
the running orders service, and raw asyncpg running the very statements the
service sends (compiled from the same SQLAlchemy objects) in the same
transaction shape, at the same concurrency, on as many connections as the
service's pool, each after a warm-up. It prints ``micro ratio <endpoint ÷
raw asyncpg>``; ``--micro-only`` runs just that.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import ClauseElement
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.sql.compiler import SQLCompiler
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from common.idempotency import CLAIM_SQL, STORE_SQL
from common.service_auth import service_headers
from common.settings import ServiceSettings, TemporalSettings, database_url
from gateway.temporal import connect_temporal
from paklog.platform import LocalPlatform, free_ports_config
from services.orders.models import OrderStatus
from services.orders.repository import CREATE_SQL, MOVE_SQL
from workflows.noop_floor import (
    NoopFloorOrder,
    NoopFloorPick,
    NoopOrderInput,
    NoopWave,
    NoopWaveInput,
    noop_order_id,
    noop_pick_id,
)
from workflows.noop_saga import NoopSaga, NoopSagaInput
from workflows.order_fulfillment import (
    OrderFulfillment,
    OrderFulfillmentInput,
    OrderLine,
    ShippingAddress,
    WaitForStatus,
    workflow_id,
)
from workflows.pick_pack_ship import PickPackShip
from workflows.warehouse_types import (
    PackItem,
    PackScan,
    PickScan,
    WaitForWaveStatus,
    WaveReleaseInput,
    pps_workflow_id,
    wave_workflow_id,
)
from workflows.wave_release import WaveRelease

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


async def _accept(client: Client, task_queue: str, order_id: str, sku: str, unit_price_cents: int) -> None:
    """Place a one-unit order and wait until it is accepted (``AWAITING_WAVE``)."""
    params = OrderFulfillmentInput(
        order_id=order_id,
        customer_id="bench",
        customer_email="bench@example.com",
        currency="EUR",
        lines=[OrderLine(sku=sku, quantity=1, unit_price_cents=unit_price_cents)],
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


async def _saga(client: Client, task_queue: str, run: str, i: int) -> None:
    await _accept(client, task_queue, f"bench{run}{i:06d}", BENCH_SKU, 100)


async def _noop(client: Client, task_queue: str, run: str, i: int) -> None:
    await client.execute_workflow(
        NoopSaga.run, NoopSagaInput(label=f"{run}-{i}"), id=f"noop-{run}-{i}", task_queue=task_queue
    )


async def _offset(one: Callable[[int], Awaitable[None]], start: int, i: int) -> None:
    await one(start + i)


async def _interleaved(
    count: int, concurrency: int, rounds: int, sides: tuple[Callable[[int], Awaitable[None]], ...]
) -> list[tuple[list[float], float]]:
    """Drive ``count`` of each side in ``rounds`` alternating chunks (A B, B A, ...), summing each side's time.

    On a machine shared with other work, a burst of outside load then lands on
    both sides alike instead of skewing whichever phase it happens to hit.
    """
    totals: list[tuple[list[float], float]] = [([], 0.0) for _ in sides]
    bounds = [count * r // rounds for r in range(rounds + 1)]
    for r in range(rounds):
        start, size = bounds[r], bounds[r + 1] - bounds[r]
        order = range(len(sides)) if r % 2 == 0 else reversed(range(len(sides)))
        for side in order:
            latencies, seconds = await _drive(size, concurrency, functools.partial(_offset, sides[side], start))
            totals[side] = (totals[side][0] + latencies, totals[side][1] + seconds)
    return totals


async def _measure(
    platform: LocalPlatform, orders: int, concurrency: int, rounds: int = 4
) -> tuple[Measured, Measured]:
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
    (saga_lat, saga_s), (noop_lat, noop_s) = await _interleaved(
        orders,
        concurrency,
        rounds,
        (lambda i: _saga(client, task_queue, run, i), lambda i: _noop(client, task_queue, run, i)),
    )
    return Measured("order saga (real services)", saga_lat, saga_s), Measured("no-op workflow", noop_lat, noop_s)


# -- the order-to-ship flow ---------------------------------------------------------------
#: A seeded SKU: bins hold stock only through the warehouse seed (there is no goods receipt yet).
FLOOR_SKU = "PEN-BLK"


async def _retry_missing(call: Callable[[], Awaitable[Any]]) -> Any:
    """An update to a child that is starting this very moment: wait until it exists."""
    for _ in range(600):
        try:
            return await call()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        await asyncio.sleep(0.05)
    raise RuntimeError("the workflow never started")


async def _until_in_backlog(http: httpx.AsyncClient, platform: LocalPlatform, order_ids: set[str]) -> None:
    """The saga enqueues right after AWAITING_WAVE: wait until the warehouse has every order."""
    url = f"{platform.service_url('warehouse')}/backlog"
    headers = service_headers(platform.service_token)
    for _ in range(600):
        resp = await http.get(url, params={"limit": 500}, headers=headers)
        resp.raise_for_status()
        body = resp.json()
        items = body["items"] if isinstance(body, dict) else body
        if order_ids <= {item["order_id"] for item in items}:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("orders never reached the wave backlog")


async def _floor_round(
    client: Client, http: httpx.AsyncClient, platform: LocalPlatform, run: str, count: int, concurrency: int
) -> tuple[list[float], float]:
    """``count`` orders placed, waved, picked, packed and shipped; each order's time from start to SHIPPED."""
    task_queue = platform.config.task_queue
    gate = asyncio.Semaphore(concurrency)
    order_ids = [f"fl{run}{i:05d}" for i in range(count)]
    starts: dict[str, float] = {}
    began = time.perf_counter()

    async def accept(order_id: str) -> None:
        async with gate:
            starts[order_id] = time.perf_counter()
            await _accept(client, task_queue, order_id, FLOOR_SKU, 300)

    await asyncio.gather(*(accept(o) for o in order_ids))
    await _until_in_backlog(http, platform, set(order_ids))
    wave_id = f"fl{run}"
    wave = await client.start_workflow(
        WaveRelease.run,
        WaveReleaseInput(wave_id=wave_id, max_orders=count, max_lines=count * 4, auto_release=True),
        id=wave_workflow_id(wave_id),
        task_queue=task_queue,
    )
    released = await wave.execute_update(
        WaveRelease.wait_for_status, WaitForWaveStatus(statuses=["RELEASED", "PICKING", "DONE"])
    )
    if set(released.order_ids) != set(order_ids):
        raise RuntimeError(f"wave {wave_id} holds {len(released.order_ids)} of {count} orders")
    resp = await http.get(
        f"{platform.service_url('warehouse')}/waves/{wave_id}", headers=service_headers(platform.service_token)
    )
    resp.raise_for_status()
    tasks: list[dict[str, Any]] = resp.json()["tasks"]

    async def confirm(task: dict[str, Any]) -> None:
        async with gate:
            pps = client.get_workflow_handle(pps_workflow_id(task["order_id"]))
            scan = PickScan(
                task["task_id"], task["location"], task["sku"], task["lot"] or "", task["quantity"], "bench"
            )
            await _retry_missing(lambda: pps.execute_update(PickPackShip.confirm_pick, scan))

    await asyncio.gather(*(confirm(t) for t in tasks))

    async def pack(order_id: str) -> None:
        items: dict[str, int] = {}
        for task in tasks:
            if task["order_id"] == order_id:
                items[task["sku"]] = items.get(task["sku"], 0) + task["quantity"]
        async with gate:
            pps = client.get_workflow_handle(pps_workflow_id(order_id))
            scan = PackScan("PACK-1", [PackItem(sku, q) for sku, q in items.items()], "bench")
            result = await pps.execute_update(PickPackShip.pack, scan)
            if result.status != "PACKED":
                raise RuntimeError(f"bench order {order_id} not packed: {result}")

    await asyncio.gather(*(pack(o) for o in order_ids))
    latencies: list[float] = []

    async def shipped(order_id: str) -> None:
        result = await client.get_workflow_handle_for(OrderFulfillment.run, workflow_id(order_id)).result()
        if result.status != "SHIPPED":
            raise RuntimeError(f"bench order {order_id} ended {result.status}")
        latencies.append(time.perf_counter() - starts[order_id])

    await asyncio.gather(*(shipped(o) for o in order_ids))
    return latencies, time.perf_counter() - began


async def _noop_floor_round(
    client: Client, platform: LocalPlatform, run: str, count: int, concurrency: int
) -> tuple[list[float], float]:
    """The same steps against the no-op workflows of the same shape."""
    task_queue = platform.config.task_queue
    gate = asyncio.Semaphore(concurrency)
    labels = [f"{run}{i:05d}" for i in range(count)]
    starts: dict[str, float] = {}
    began = time.perf_counter()

    async def accept(label: str) -> None:
        async with gate:
            starts[label] = time.perf_counter()
            await client.execute_update_with_start_workflow(
                NoopFloorOrder.wait_awaiting_wave,
                start_workflow_operation=WithStartWorkflowOperation(
                    NoopFloorOrder.run,
                    NoopOrderInput(label=label),
                    id=noop_order_id(label),
                    task_queue=task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                ),
            )

    await asyncio.gather(*(accept(label) for label in labels))
    wave_workflow = f"noop-wave-{run}"
    wave = await client.start_workflow(
        NoopWave.run,
        NoopWaveInput(label=run, order_labels=labels, tasks=count),
        id=wave_workflow,
        task_queue=task_queue,
    )
    await wave.execute_update(NoopWave.wait_released)

    async def confirm(label: str) -> None:
        async with gate:
            pick = client.get_workflow_handle(noop_pick_id(label))
            await _retry_missing(lambda: pick.execute_update(NoopFloorPick.confirm_pick, wave_workflow))

    await asyncio.gather(*(confirm(label) for label in labels))

    async def pack(label: str) -> None:
        async with gate:
            await client.get_workflow_handle(noop_pick_id(label)).execute_update(NoopFloorPick.pack)

    await asyncio.gather(*(pack(label) for label in labels))
    latencies: list[float] = []

    async def shipped(label: str) -> None:
        await client.get_workflow_handle(noop_order_id(label)).result()
        latencies.append(time.perf_counter() - starts[label])

    await asyncio.gather(*(shipped(label) for label in labels))
    return latencies, time.perf_counter() - began


async def _measure_floor(
    platform: LocalPlatform, orders: int, concurrency: int, rounds: int = 4
) -> tuple[Measured, Measured]:
    """Alternating rounds of the real order-to-ship flow and its no-op twin (A B, B A, ...)."""
    client = await connect_temporal(TemporalSettings(temporal_address=platform.temporal_address))
    run = uuid.uuid4().hex[:6]
    real: tuple[list[float], float] = ([], 0.0)
    noop_: tuple[list[float], float] = ([], 0.0)
    size = max(1, orders // rounds)
    async with httpx.AsyncClient(timeout=30) as http:
        await _floor_round(client, http, platform, f"{run}w", min(5, size), concurrency)  # warm-up
        await _noop_floor_round(client, platform, f"{run}w", min(5, size), concurrency)
        for r in range(rounds):
            sides = ["real", "noop"] if r % 2 == 0 else ["noop", "real"]
            for side in sides:
                if side == "real":
                    lat, secs = await _floor_round(client, http, platform, f"{run}{r}", size, concurrency)
                    real = (real[0] + lat, real[1] + secs)
                else:
                    lat, secs = await _noop_floor_round(client, platform, f"{run}{r}", size, concurrency)
                    noop_ = (noop_[0] + lat, noop_[1] + secs)
    return Measured("order to ship (real services)", *real), Measured("no-op flow, same shape", *noop_)


MICRO_ENDPOINT = "POST /orders/{id}/transition"


def _asyncpg_sql(statement: ClauseElement) -> tuple[str, list[str]]:
    """The SQL text and parameter order that SQLAlchemy's asyncpg dialect sends for ``statement``."""
    compiled = statement.compile(dialect=PGDialect_asyncpg())  # type: ignore[no-untyped-call]
    assert isinstance(compiled, SQLCompiler)
    return compiled.string, list(compiled.positiontup or [])


def _args(sql: tuple[str, list[str]], values: dict[str, Any]) -> list[Any]:
    return [values[name] for name in sql[1]]


class _RawOrders:
    """The orders service's keyed transition on a bare asyncpg pool: the same statements, one transaction."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        # The statements common.idempotency runs around every keyed request.
        self.claim = _asyncpg_sql(CLAIM_SQL)
        self.store = _asyncpg_sql(STORE_SQL)
        self.move = _asyncpg_sql(MOVE_SQL)
        self.create = _asyncpg_sql(CREATE_SQL)

    async def seed(self, order_ids: Sequence[str]) -> None:
        """Untimed set-up: PENDING orders, written by the service's own create statement."""
        now = datetime.now(UTC)
        address = json.dumps({"name": "Bench", "line1": "1 Road", "city": "Berlin", "postal_code": "10115"})
        rows = [
            _args(
                self.create,
                {
                    "order_id": order_id,
                    "customer_id": "bench",
                    "customer_email": "bench@example.com",
                    "status": OrderStatus.PENDING.value,
                    "total_cents": 100,
                    "currency": "EUR",
                    "shipping_address": address,
                    "at": now,
                    "skus": [BENCH_SKU],
                    "quantities": [1],
                    "prices": [100],
                },
            )
            for order_id in order_ids
        ]
        async with self.pool.acquire() as conn:
            await conn.executemany(self.create[0], rows)

    async def transition(self, order_id: str, key: str) -> None:
        """Claim the key, move PENDING → RESERVED with its history row, store the answer; one transaction."""
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            claimed = await conn.fetchval(
                self.claim[0],
                *_args(self.claim, {"claim_key": key, "claim_fingerprint": "0" * 64, "claimed_at": now}),
            )
            if claimed is None:
                raise RuntimeError(f"key {key} was taken")
            row = await conn.fetchrow(
                self.move[0],
                *_args(
                    self.move,
                    {
                        "order_id": order_id,
                        "from_status": OrderStatus.PENDING.value,
                        "to_status": OrderStatus.RESERVED.value,
                        "cancel_reason": None,
                        "actor": None,
                        "at": now,
                    },
                ),
            )
            if row is None:
                raise RuntimeError(f"order {order_id} did not move")
            body = json.dumps(dict(row), default=str)
            await conn.execute(
                self.store[0],
                *_args(self.store, {"answer_status": 200, "answer": body, "claim_key": key, "claimed_at": now}),
            )


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU of a process, from /proc (None where there is none)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class MicroResult:
    endpoint: Measured
    raw: Measured
    service_cpu_ms: float | None  # orders service CPU per endpoint request


async def _micro(platform: LocalPlatform, requests: int, concurrency: int) -> MicroResult:
    """One service call through HTTP vs. its SQL on raw asyncpg, same concurrency and connection count."""
    warm = min(200, requests)
    run = uuid.uuid4().hex[:6]
    http_ids = [f"micro{run}h{i:06d}" for i in range(warm + requests)]
    raw_ids = [f"micro{run}r{i:06d}" for i in range(warm + requests)]
    # As many connections as the service's pool may hold, opened before timing (as the service's are by warm-up).
    connections = min(concurrency, 2 * ServiceSettings(service="orders").db_pool_size)
    dsn = database_url(platform.postgres_url, "paklog_orders").replace("postgresql+asyncpg://", "postgresql://", 1)
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    try:
        raw = _RawOrders(pool)
        await raw.seed(http_ids + raw_ids)
        service_pid = platform.pid("service-orders")
        async with httpx.AsyncClient(
            base_url=platform.service_url("orders"),
            headers=service_headers(platform.service_token),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        ) as http:

            async def call(ids: list[str], i: int) -> None:
                order_id = ids[i]
                resp = await http.post(
                    f"/orders/{order_id}/transition",
                    json={"status": OrderStatus.RESERVED.value},
                    headers={"Idempotency-Key": f"{order_id}:status:RESERVED"},
                )
                if resp.status_code != 200:
                    raise RuntimeError(f"{MICRO_ENDPOINT} answered {resp.status_code}: {resp.text[:200]}")

            await _drive(warm, concurrency, lambda i: call(http_ids, i))
            cpu_before = _cpu_seconds(service_pid)
            http_lat, http_s = await _drive(requests, concurrency, lambda i: call(http_ids, warm + i))
            cpu_after = _cpu_seconds(service_pid)
        await _drive(warm, concurrency, lambda i: raw.transition(raw_ids[i], f"{raw_ids[i]}:status:RESERVED"))
        raw_lat, raw_s = await _drive(
            requests, concurrency, lambda i: raw.transition(raw_ids[warm + i], f"{raw_ids[warm + i]}:status:RESERVED")
        )
    finally:
        await pool.close()
    cpu_ms = None if cpu_before is None or cpu_after is None else 1000 * (cpu_after - cpu_before) / requests
    return MicroResult(
        Measured(f"{MICRO_ENDPOINT} (HTTP)", http_lat, http_s),
        Measured("same SQL on raw asyncpg", raw_lat, raw_s),
        cpu_ms,
    )


def _print_micro(micro: MicroResult, requests: int, concurrency: int, console: Console) -> None:
    table = Table(title=f"one service call: {requests} requests, {concurrency} in flight")
    for column in ("side", "per second", "p50 ms", "p99 ms"):
        table.add_column(column)
    for m in (micro.endpoint, micro.raw):
        table.add_row(m.name, f"{m.per_second:.1f}", f"{m.percentile(0.5):.1f}", f"{m.percentile(0.99):.1f}")
    console.print(table)
    if micro.service_cpu_ms is not None:
        print(f"orders service CPU per request {micro.service_cpu_ms:.2f} ms")
    print(f"endpoint/s {micro.endpoint.per_second:.1f} raw/s {micro.raw.per_second:.1f}")
    print(f"micro ratio {micro.endpoint.per_second / micro.raw.per_second:.2f}", flush=True)


def run_bench(
    *,
    orders: int,
    concurrency: int,
    console: Console,
    micro_requests: int = 1000,
    micro_only: bool = False,
    floor_orders: int = 80,
) -> int:
    """Start a private platform, measure, print the tables, the micro ratio and (last) the ratio line."""
    with tempfile.TemporaryDirectory(prefix="paklog-bench-") as tmp:
        platform = LocalPlatform(
            free_ports_config(Path(tmp) / "state", task_queue="bench", extra_env={"PAKLOG_WAVE_INTERVAL_SECONDS": "0"})
        )
        console.print(f"starting a private platform in {tmp} ...")
        platform.start()
        try:
            # The floor first: the saga phase leaves its orders in the wave backlog.
            floor = (
                None
                if micro_only or floor_orders <= 0
                else asyncio.run(_measure_floor(platform, floor_orders, concurrency))
            )
            workflows = None if micro_only else asyncio.run(_measure(platform, orders, concurrency))
            micro = asyncio.run(_micro(platform, micro_requests, concurrency))
        finally:
            platform.stop()
    _print_micro(micro, micro_requests, concurrency, console)
    if workflows is None:
        return 0
    if floor is not None:
        real, twin = floor
        floor_table = Table(title=f"{len(real.latencies)} orders each, placement to SHIPPED, {concurrency} in flight")
        for column in ("flow", "orders per second", "p50 ms", "p99 ms"):
            floor_table.add_column(column)
        for m in (real, twin):
            floor_table.add_row(m.name, f"{m.per_second:.2f}", f"{m.percentile(0.5):.0f}", f"{m.percentile(0.99):.0f}")
        console.print(floor_table)
        print(f"shipped/s {real.per_second:.2f} noop flows/s {twin.per_second:.2f}")
        print(f"floor ratio {real.per_second / twin.per_second:.2f}", flush=True)
    saga, noop = workflows
    table = Table(title=f"{orders} workflows each, {concurrency} in flight, 8 activities each")
    for column in ("workflow", "per second", "p50 ms", "p99 ms"):
        table.add_column(column)
    for m in (saga, noop):
        table.add_row(m.name, f"{m.per_second:.1f}", f"{m.percentile(0.5):.0f}", f"{m.percentile(0.99):.0f}")
    console.print(table)
    print(f"sagas/s {saga.per_second:.2f} noop/s {noop.per_second:.2f}")
    print(f"ratio {saga.per_second / noop.per_second:.2f}", flush=True)
    return 0

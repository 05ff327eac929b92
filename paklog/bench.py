"""``paklog bench``: the order saga against a no-op workflow, side by side.

One run starts a private platform (embedded PostgreSQL, one Temporal dev
server, the services and one worker), then drives, with the same
concurrency, ``orders`` OrderFulfillment sagas through the real services up
to ``AWAITING_WAVE`` (and into the wave backlog) and as many ``NoopSaga``
workflows with the same number of activities, in alternating rounds (so
outside load hits both alike). It prints throughput and p50/p99 latency for
both; the last line is ``ratio <saga ÷ no-op>`` (throughput).

Before that, the order-to-delivery flow: ``floor_orders`` orders placed,
waved (WaveRelease), picked and packed by the bench through the PickPackShip
updates (as scanners do through the gateway) and shipped; then the bench
plays the carrier: four signed events per parcel to the gateway's webhook
(``IN_TRANSIT``, ``IN_TRANSIT`` again with a new position, ``OUT_FOR_DELIVERY``,
``DELIVERED``), and each order's time ends when its workflow ends
``DELIVERED``. The carrier stand-in's own journeys are held for the run
(``step_seconds`` 3600). Against it, the no-op flow of the same shape
(:mod:`workflows.noop_floor`) gets the same four events as signals; the two
alternate in rounds. It prints ``floor ratio <real ÷ no-op>`` (orders per
second, placement to ``DELIVERED``).

Beside it, a micro-benchmark prices one service call: ``POST
/orders/{id}/transition`` with an ``Idempotency-Key`` through HTTP against
the running orders service, and raw asyncpg running the very statements the
service sends (compiled from the same SQLAlchemy objects) in the same
transaction shape, at the same concurrency, on as many connections as the
service's pool, each after a warm-up. It prints ``micro ratio <endpoint ÷
raw asyncpg>``; ``--micro-only`` runs just that.

Checkout: ``checkout_orders`` sequential ``POST /api/orders?wait=accepted``
through the real gateway as a signed-in customer (one order in flight), each
timed from request to the 201 answer (accepted: stock reserved, payment
authorized). It prints ``checkout p50 <ms> p99 <ms>`` and ``checkout ratio
<p50 ÷ 100 ms goal> <p99 ÷ 300 ms goal>`` (1.00 or less meets the goal).

Last, the backfill phase (:mod:`paklog.bench_erp`): the ERP stand-in's
materials imported from zero by ``ErpImport(full)``; it prints ``backfill
materials/s <n>`` (goal: 1000 or more), and is skipped on a platform without
the stand-in or with ``--no-backfill``.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from common.idempotency import CLAIM_SQL, STORE_SQL
from common.logging import get_logger
from common.service_auth import service_headers
from common.settings import ServiceSettings, TemporalSettings, database_url
from common.webhooks import SIGNATURE_HEADER, carrier_secret, sign
from gateway.temporal import connect_temporal
from paklog.bench_edges import measure_edges, print_edges
from paklog.bench_erp import Backfill, measure_backfill, platform_has_erp, print_backfill
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
from workflows.noop_saga import STEPS as NOOP_STEPS
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

log = get_logger("paklog.bench")
#: A material of the ERP stand-in's seed: every order is exported to the ERP, which refuses a SKU it does not know.
BENCH_SKU = "MAT-00001"
#: Checkout's own material (the saga phase sets the stock of its SKU outright).
CHECKOUT_SKU = "MAT-00002"
#: Checkout's latency goal at one order in flight (``POST /api/orders?wait=accepted``), milliseconds.
CHECKOUT_P50_GOAL_MS = 100.0
CHECKOUT_P99_GOAL_MS = 300.0


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


# -- checkout through the gateway ----------------------------------------------------------
async def measure_checkout(platform: LocalPlatform, orders: int, warm: int = 3) -> Measured:
    """``orders`` checkouts one after another through the gateway, each timed to its 201 (after ``warm`` untimed)."""
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=60) as http:
        resp = await http.put(
            f"{platform.service_url('inventory')}/products/{CHECKOUT_SKU}",
            json={"name": "Checkout unit", "price_cents": 100, "on_hand": (orders + warm + 10) * 2},
            headers=service_headers(platform.service_token),
        )
        resp.raise_for_status()
        token = await http.post("/api/auth/token", data={"username": "alice", "password": "alice-pass"})
        token.raise_for_status()
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        body = {
            "lines": [{"sku": CHECKOUT_SKU, "quantity": 1}],
            "shipping_address": {
                "name": "Bench",
                "line1": "1 Road",
                "city": "Berlin",
                "postal_code": "10115",
                "country": "DE",
            },
            "payment": {"card_token": "tok_visa"},
        }
        latencies: list[float] = []
        started = time.perf_counter()
        for i in range(warm + orders):
            began = time.perf_counter()
            answer = await http.post("/api/orders", params={"wait": "accepted"}, json=body, headers=auth)
            took = time.perf_counter() - began
            if answer.status_code != 201 or answer.json()["status"] == "CANCELLED":
                raise RuntimeError(f"checkout {i} answered {answer.status_code}: {answer.text}")
            if i == warm - 1:
                started = time.perf_counter()
            if i >= warm:
                latencies.append(took)
        return Measured("checkout (?wait=accepted)", latencies, time.perf_counter() - started)


def print_checkout(checkout: Measured) -> None:
    p50, p99 = checkout.percentile(0.5), checkout.percentile(0.99)
    print(f"checkout p50 {p50:.0f} p99 {p99:.0f} (goal p50 {CHECKOUT_P50_GOAL_MS:.0f} p99 {CHECKOUT_P99_GOAL_MS:.0f})")
    print(f"checkout ratio {p50 / CHECKOUT_P50_GOAL_MS:.2f} {p99 / CHECKOUT_P99_GOAL_MS:.2f}", flush=True)


# -- the order-to-delivery flow -----------------------------------------------------------
#: A seeded SKU: bins hold stock only through the warehouse seed (there is no goods receipt yet).
FLOOR_SKU = "PEN-BLK"
#: What the bench, standing in for the carrier, reports for each parcel: (status, position). The second
#: IN_TRANSIT only moves the parcel (no status change: the order tells nobody, as in the no-op twin).
CARRIER_JOURNEY: tuple[tuple[str, tuple[float, float] | None], ...] = (
    ("IN_TRANSIT", (52.3700, 9.7300)),
    ("IN_TRANSIT", (52.4500, 13.2900)),
    ("OUT_FOR_DELIVERY", None),
    ("DELIVERED", None),
)
#: Parcels of the stand-in carrier take a step this often during the bench: never, in practice.
HELD_STEP_SECONDS = 3600


async def _hold_carriers(platform: LocalPlatform) -> None:
    """Stop the carrier stand-in's own journeys: the bench posts every carrier event itself.

    A stand-in without journey control (an older one) answers 422; it sends no
    events of its own either, so the bench goes on.
    """
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.post(
            f"{platform.carriers_url}/control",
            json={"step_seconds": HELD_STEP_SECONDS},
            headers=service_headers(platform.service_token),
        )
    if resp.status_code == 422:
        log.warning("carrier stand-in has no journey control; not held", status=resp.status_code, body=resp.text[:300])
        return
    resp.raise_for_status()


@dataclass(frozen=True)
class _Carrier:
    """The bench as the carrier: signed events to the gateway's webhook, one parcel at a time, in order."""

    http: httpx.AsyncClient
    webhook_url: str
    orders_url: str
    service_token: str
    #: ``PAKLOG_CARRIER_SECRETS`` as the gateway sees it (carrier → secret); empty: derived from the token.
    secrets: dict[str, str]

    @classmethod
    def for_platform(cls, http: httpx.AsyncClient, platform: LocalPlatform) -> _Carrier:
        configured = platform.child_env().get("PAKLOG_CARRIER_SECRETS") or "{}"
        return cls(
            http,
            platform.carrier_webhook_url,
            platform.service_url("orders"),
            platform.service_token,
            json.loads(configured),
        )

    async def deliver(self, order_id: str) -> None:
        """Post the parcel's :data:`CARRIER_JOURNEY`, each event applied before the next is sent."""
        # The order record names the tracking code and the carrier once the order is SHIPPED.
        resp = await self.http.get(f"{self.orders_url}/orders/{order_id}", headers=service_headers(self.service_token))
        resp.raise_for_status()
        order = resp.json()
        tracking_code, carrier = order["tracking_code"], order["carrier"]
        if not tracking_code or not carrier:
            raise RuntimeError(f"bench order {order_id} is {order['status']} without a tracking code or carrier")
        secret = carrier_secret(self.service_token, carrier, self.secrets)
        # A minute apart, the last one now: increasing, and none in the future.
        picked_up = datetime.now(UTC) - timedelta(minutes=len(CARRIER_JOURNEY))
        for seq, (status, position) in enumerate(CARRIER_JOURNEY, start=1):
            event = {
                "event_id": f"bench-{tracking_code}-{seq}",
                "tracking_code": tracking_code,
                "carrier": carrier,
                "status": status,
                "occurred_at": (picked_up + timedelta(minutes=seq)).isoformat(),
                "position": None if position is None else {"lat": position[0], "lon": position[1]},
                "location": None,
                "reason": None,
            }
            body = json.dumps(event).encode()
            resp = await self.http.post(
                f"{self.webhook_url}/{carrier}",
                content=body,
                headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body)},
            )
            if resp.status_code != 200 or resp.json().get("result") != "applied":
                raise RuntimeError(
                    f"webhook for {tracking_code} {status} answered {resp.status_code}: {resp.text[:300]}"
                )


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


async def _floor_round(
    client: Client,
    http: httpx.AsyncClient,
    carrier: _Carrier,
    platform: LocalPlatform,
    run: str,
    count: int,
    concurrency: int,
) -> tuple[list[float], float]:
    """``count`` orders placed, waved, picked, packed, shipped and delivered; each one's time to DELIVERED."""
    task_queue = platform.config.task_queue
    gate = asyncio.Semaphore(concurrency)
    order_ids = [f"fl{run}{i:05d}" for i in range(count)]
    starts: dict[str, float] = {}
    began = time.perf_counter()

    async def accept(order_id: str) -> None:
        async with gate:
            starts[order_id] = time.perf_counter()
            await _accept(client, task_queue, order_id, FLOOR_SKU, 300)

    # AWAITING_WAVE comes after the backlog took the order: the wave finds every one.
    await asyncio.gather(*(accept(o) for o in order_ids))
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

    async def delivered(order_id: str) -> None:
        order = client.get_workflow_handle_for(OrderFulfillment.run, workflow_id(order_id))
        snapshot = await order.execute_update(OrderFulfillment.wait_for_status, WaitForStatus(statuses=["SHIPPED"]))
        if snapshot.status != "SHIPPED":
            raise RuntimeError(f"bench order {order_id} is {snapshot.status} ({snapshot.cancel_reason}), not SHIPPED")
        async with gate:
            await carrier.deliver(order_id)
        result = await order.result()
        if result.status != "DELIVERED":
            raise RuntimeError(f"bench order {order_id} ended {result.status} ({result.cancel_reason})")
        latencies.append(time.perf_counter() - starts[order_id])

    await asyncio.gather(*(delivered(o) for o in order_ids))
    return latencies, time.perf_counter() - began


async def _noop_floor_round(
    client: Client, platform: LocalPlatform, run: str, count: int, concurrency: int
) -> tuple[list[float], float]:
    """The same steps against the no-op workflows of the same shape; the carrier's events are signals."""
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

    async def delivered(label: str) -> None:
        order = client.get_workflow_handle_for(NoopFloorOrder.run, noop_order_id(label))
        await order.execute_update(NoopFloorOrder.wait_shipped)
        async with gate:
            # The carrier's events, told straight to the workflow (the real flow's go through the webhook).
            for status, _ in CARRIER_JOURNEY:
                await order.signal(NoopFloorOrder.delivery_event, status)
        result = await order.result()
        if result.status != "DELIVERED":
            raise RuntimeError(f"no-op order {label} ended {result.status}")
        latencies.append(time.perf_counter() - starts[label])

    await asyncio.gather(*(delivered(label) for label in labels))
    return latencies, time.perf_counter() - began


async def _measure_floor(
    platform: LocalPlatform, orders: int, concurrency: int, rounds: int = 4
) -> tuple[Measured, Measured]:
    """Alternating rounds of the real order-to-delivery flow and its no-op twin (A B, B A, ...)."""
    client = await connect_temporal(TemporalSettings(temporal_address=platform.temporal_address))
    run = uuid.uuid4().hex[:6]
    real: tuple[list[float], float] = ([], 0.0)
    noop_: tuple[list[float], float] = ([], 0.0)
    size = max(1, orders // rounds)
    async with httpx.AsyncClient(timeout=30) as http:
        carrier = _Carrier.for_platform(http, platform)
        await _floor_round(client, http, carrier, platform, f"{run}w", min(5, size), concurrency)  # warm-up
        await _noop_floor_round(client, platform, f"{run}w", min(5, size), concurrency)
        for r in range(rounds):
            sides = ["real", "noop"] if r % 2 == 0 else ["noop", "real"]
            for side in sides:
                if side == "real":
                    lat, secs = await _floor_round(client, http, carrier, platform, f"{run}{r}", size, concurrency)
                    real = (real[0] + lat, real[1] + secs)
                else:
                    lat, secs = await _noop_floor_round(client, platform, f"{run}{r}", size, concurrency)
                    noop_ = (noop_[0] + lat, noop_[1] + secs)
    return Measured("order to delivery (real services)", *real), Measured("no-op flow, same shape", *noop_)


MICRO_ENDPOINT = "POST /orders/{id}/transition"


class _RawOrders:
    """The orders service's keyed transition on a bare asyncpg pool: the same statements, one transaction."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        # The statements common.idempotency runs around every keyed request.
        self.claim, self.store, self.move, self.create = CLAIM_SQL, STORE_SQL, MOVE_SQL, CREATE_SQL

    async def seed(self, order_ids: Sequence[str]) -> None:
        """Untimed set-up: PENDING orders, written by the service's own create statement."""
        now = datetime.now(UTC)
        address = {"name": "Bench", "line1": "1 Road", "city": "Berlin", "postal_code": "10115"}
        rows = [
            self.create.args(
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
            await conn.executemany(self.create.sql, rows)

    async def transition(self, order_id: str, key: str) -> None:
        """Claim the key, move PENDING → RESERVED with its history row, store the answer; one transaction."""
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            claimed = await self.claim.fetchval(conn, claim_key=key, claim_fingerprint="0" * 64, claimed_at=now)
            if claimed is None:
                raise RuntimeError(f"key {key} was taken")
            row = await self.move.fetchrow(
                conn,
                order_id=order_id,
                from_status=OrderStatus.PENDING.value,
                to_status=OrderStatus.RESERVED.value,
                cancel_reason=None,
                actor=None,
                at=now,
                erp_document_number=None,
            )
            if row is None:
                raise RuntimeError(f"order {order_id} did not move")
            # The service stores the answer's JSON; the raw side stores the row's (a similar size).
            answer = json.loads(json.dumps(dict(row), default=str))
            await self.store.execute(conn, answer_status=200, answer=answer, claim_key=key, claimed_at=now)


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
    backfill: bool = True,
    checkout_orders: int = 100,
) -> int:
    """Start a private platform, measure, print the tables, the micro ratio and (last) the ratio line."""
    # No Schedule runs behind the bench's back: it plans its waves and imports the ERP itself.
    quiet = {"PAKLOG_WAVE_INTERVAL_SECONDS": "0", "PAKLOG_ERP_SYNC_INTERVAL_SECONDS": "0"}
    edges = measure_edges()  # in this process, before the platform's children share the cores
    with tempfile.TemporaryDirectory(prefix="paklog-bench-") as tmp:
        platform = LocalPlatform(free_ports_config(Path(tmp) / "state", task_queue="bench", extra_env=quiet))
        console.print(f"starting a private platform in {tmp} ...")
        platform.start()
        try:
            if not micro_only:
                asyncio.run(_hold_carriers(platform))
            # The floor first: the saga phase leaves its orders in the wave backlog.
            floor = (
                None
                if micro_only or floor_orders <= 0
                else asyncio.run(_measure_floor(platform, floor_orders, concurrency))
            )
            workflows = None if micro_only else asyncio.run(_measure(platform, orders, concurrency))
            checkout = (
                None if micro_only or checkout_orders <= 0 else asyncio.run(measure_checkout(platform, checkout_orders))
            )
            micro = asyncio.run(_micro(platform, micro_requests, concurrency))
            imported: Backfill | None = None
            if backfill and not micro_only and platform_has_erp(platform):
                imported = asyncio.run(measure_backfill(platform))
        finally:
            platform.stop()
    _print_micro(micro, micro_requests, concurrency, console)
    print_edges(edges)
    if backfill and not micro_only:
        print_backfill(imported, console)
    if checkout is not None:
        print_checkout(checkout)
    if workflows is None:
        return 0
    if floor is not None:
        real, twin = floor
        floor_table = Table(title=f"{len(real.latencies)} orders each, placement to DELIVERED, {concurrency} in flight")
        for column in ("flow", "orders per second", "p50 ms", "p99 ms"):
            floor_table.add_column(column)
        for m in (real, twin):
            floor_table.add_row(m.name, f"{m.per_second:.2f}", f"{m.percentile(0.5):.0f}", f"{m.percentile(0.99):.0f}")
        console.print(floor_table)
        print(f"delivered/s {real.per_second:.2f} noop flows/s {twin.per_second:.2f}")
        print(f"floor ratio {real.per_second / twin.per_second:.2f}", flush=True)
    saga, noop = workflows
    table = Table(title=f"{orders} workflows each, {concurrency} in flight, {len(NOOP_STEPS)} activities each")
    for column in ("workflow", "per second", "p50 ms", "p99 ms"):
        table.add_column(column)
    for m in (saga, noop):
        table.add_row(m.name, f"{m.per_second:.1f}", f"{m.percentile(0.5):.0f}", f"{m.percentile(0.99):.0f}")
    console.print(table)
    print(f"sagas/s {saga.per_second:.2f} noop/s {noop.per_second:.2f}")
    print(f"ratio {saga.per_second / noop.per_second:.2f}", flush=True)
    return 0

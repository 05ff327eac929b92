"""The warehouse floor through the gateway, as the operator: plan and release waves, pick, pack.

* The operator plans a wave (``POST /api/waves``) when the run's orders wait
  for one and releases it. Orders another planner took (the ``wave-planner``
  Schedule of ``paklog dev``) are found in ``GET /api/waves`` and their wave
  is adopted; the floor then works every order of its waves, another's too.
* Pickers take ``GET /api/pick-tasks/next?wave_id=`` and confirm each task
  with what it asks (a short pick: fewer units), waiting out ``NotReady``
  (the order's PickPackShip not started yet) as ``Retry-After`` says. Every
  picker signs in as the same operator, and the warehouse hands a picker
  its own assigned task first; so each wave is picked by one picker at a
  time, and two pickers never hold the same task.
* Packers pack an order once it is ``PICKING`` and none of its tasks is open
  or assigned, scanning what was picked (each SKU's ``picked_quantity``). A
  first pack one unit short (``pack_mismatch_rate``) answers 409
  ``PackMismatch``: the unit goes back to picking, is picked again, and the
  next pack is right.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from typing import Any

import httpx

from common.vocabulary import OrderStatus
from paklog.simulate.config import SimulationConfig
from paklog.simulate.gateway import error_type, retry_after
from paklog.simulate.state import FloorWave, RunState, TrackedOrder

PACK_STATION = "PACK-1"
SETTLED_TASKS = frozenset({"PICKED", "SHORT", "CANCELLED"})
#: A picker leaves a wave after this many tasks, so one busy wave never starves the others.
TASKS_PER_TURN = 50
#: How long a confirmation waits out ``NotReady`` before the task is left for the next turn.
NOT_READY_SECONDS = 60.0
IDLE_SECONDS = 0.5


def _rng(config: SimulationConfig, actor: str) -> random.Random:
    return random.Random(f"{config.seed}:{actor}") if config.seed is not None else random.Random()


class Operator:
    """Plans a wave when the run's orders wait, releases it, and adopts waves others planned with them."""

    def __init__(self, config: SimulationConfig, state: RunState, http: httpx.AsyncClient) -> None:
        self._config = config
        self._state = state
        self._http = http

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self._state.note("operator_error", error=repr(exc))
            await asyncio.sleep(self._config.wave_every_seconds)

    async def tick(self) -> None:
        unwaved = [o for o in self._state.ours() if o.wave_id is None and not o.terminal]
        waiting = [o for o in unwaved if o.status == OrderStatus.AWAITING_WAVE]
        # Past AWAITING_WAVE without a wave of ours: another planner took it.
        adopt = any(o.status == OrderStatus.PICKING for o in unwaved)
        if waiting:
            resp = await self._http.post("/api/waves", json={"max_orders": self._config.max_orders_per_wave})
            if resp.status_code in (201, 202):
                self._state.register_wave(resp.json())
            elif error_type(resp) == "NothingToPlan":
                adopt = True
            else:
                self._state.note("wave_not_planned", status=resp.status_code, body=resp.text[:200])
        if adopt:
            await self._adopt({o.order_id for o in unwaved})
        for wave in self._state.unreleased_waves():
            await self._release(wave)

    async def _adopt(self, order_ids: set[str]) -> None:
        resp = await self._http.get("/api/waves", params={"limit": 50})
        if resp.status_code != 200:
            self._state.note("waves_unreadable", status=resp.status_code)
            return
        for wave in resp.json()["items"]:
            if order_ids & set(wave.get("order_ids") or []) and wave.get("status") != "CANCELLED":
                self._state.register_wave(wave)
                self._state.counters["waves_adopted"] += 1

    async def _release(self, wave: FloorWave) -> None:
        resp = await self._http.post(f"/api/waves/{wave.wave_id}/release")
        if resp.status_code in (200, 202):
            wave.released = True
            self._state.register_wave(resp.json())
            self._state.counters["waves_released"] += 1
            return
        # Released by someone else, still being planned, or cancelled: the warehouse's row says which.
        current = await self._http.get(f"/api/waves/{wave.wave_id}")
        if current.status_code == 200:
            self._state.register_wave(current.json())
        elif error_type(resp) != "IllegalWaveTransition":
            self._state.note("wave_not_released", status=resp.status_code, body=resp.text[:200])


class Pickers:
    """``config.pickers`` pickers, each working one released wave at a time."""

    def __init__(self, config: SimulationConfig, state: RunState, http: httpx.AsyncClient) -> None:
        self._config = config
        self._state = state
        self._http = http
        self._rng = _rng(config, "pickers")

    async def run(self) -> None:
        await asyncio.gather(*(self._picker() for _ in range(self._config.pickers)))

    async def _picker(self) -> None:
        while True:
            picked = 0
            for wave in self._state.floor_waves():
                if wave.claimed:
                    continue
                wave.claimed = True
                try:
                    picked += await self._work(wave)
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    self._state.note("picker_error", error=repr(exc))
                finally:
                    wave.claimed = False
            if not picked:
                await asyncio.sleep(IDLE_SECONDS)

    async def _work(self, wave: FloorWave) -> int:
        """Take and confirm the wave's tasks until none is open (or this turn is over); how many were confirmed."""
        confirmed = 0
        for _ in range(TASKS_PER_TURN):
            resp = await self._http.get("/api/pick-tasks/next", params={"wave_id": wave.wave_id})
            if resp.status_code == 204:
                break
            if resp.status_code != 200:
                self._state.note("no_next_task", status=resp.status_code, body=resp.text[:200])
                break
            if not await self._confirm(resp.json()):
                break
            confirmed += 1
        return confirmed

    async def _confirm(self, task: dict[str, Any]) -> bool:
        quantity = int(task["quantity"])
        if quantity > 0 and self._rng.random() < self._config.short_pick_rate:
            quantity = self._rng.randrange(quantity)
        body = {"location": task["location"], "sku": task["sku"], "lot": task["lot"], "quantity": quantity}
        deadline = time.monotonic() + NOT_READY_SECONDS
        while True:
            resp = await self._http.post(f"/api/pick-tasks/{task['task_id']}/confirm", json=body)
            if resp.status_code == 409 and error_type(resp) == "NotReady" and time.monotonic() < deadline:
                await asyncio.sleep(retry_after(resp, 1.0))
                continue
            break
        if resp.status_code in (200, 202):
            self._state.pick_confirmed(in_full=quantity == int(task["quantity"]))
            return True
        if error_type(resp) == "TaskNotOpen":
            # Its order was cancelled meanwhile (its tasks with it): nothing to pick.
            self._state.counters["picks_refused_task_not_open"] += 1
            return True
        self._state.note("pick_not_confirmed", status=resp.status_code, body=resp.text[:200])
        return False


def picked_items(tasks: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """What a packer scans for one order: each SKU's picked units, once no task is open; else ``None``."""
    if not tasks or any(t.get("status") not in SETTLED_TASKS for t in tasks):
        return None
    units: Counter[str] = Counter()
    for t in tasks:
        if t.get("status") in ("PICKED", "SHORT"):
            units[str(t["sku"])] += int(t.get("picked_quantity") or 0)
    items = [{"sku": sku, "quantity": n} for sku, n in sorted(units.items()) if n > 0]
    return items or None


def one_unit_short(items: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]] | None:
    """The same carton less one unit of a random SKU; ``None`` for a single unit (a carton holds something)."""
    if sum(int(i["quantity"]) for i in items) < 2:
        return None
    victim = rng.randrange(len(items))
    short = [dict(i) for i in items]
    short[victim]["quantity"] -= 1
    return [i for i in short if i["quantity"] > 0]


class Packers:
    """One scanner finds orders ready to pack; ``config.packers`` packers pack them."""

    def __init__(self, config: SimulationConfig, state: RunState, http: httpx.AsyncClient) -> None:
        self._config = config
        self._state = state
        self._http = http
        self._rng = _rng(config, "packers")
        self._ready: asyncio.Queue[tuple[TrackedOrder, list[dict[str, Any]]]] = asyncio.Queue()

    async def run(self) -> None:
        await asyncio.gather(self._scanner(), *(self._packer() for _ in range(self._config.packers)))

    async def _scanner(self) -> None:
        while True:
            for wave in self._state.floor_waves():
                try:
                    await self._scan(wave)
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    self._state.note("packer_error", error=repr(exc))
            await asyncio.sleep(self._config.poll_seconds)

    async def _scan(self, wave: FloorWave) -> None:
        orders = self._state.orders
        candidates = [
            orders[o]
            for o in sorted(wave.order_ids)
            if o in orders and orders[o].status == OrderStatus.PICKING and not orders[o].packed
        ]
        candidates = [o for o in candidates if not o.packing]
        if not candidates:
            return
        resp = await self._http.get(f"/api/waves/{wave.wave_id}")
        if resp.status_code != 200:
            self._state.note("wave_unreadable", status=resp.status_code)
            return
        by_order: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for task in resp.json().get("tasks") or []:
            by_order[str(task["order_id"])].append(task)
        for order in candidates:
            items = picked_items(by_order.get(order.order_id, []))
            if items is not None:
                order.packing = True
                self._ready.put_nowait((order, items))

    async def _packer(self) -> None:
        while True:
            order, items = await self._ready.get()
            try:
                await self._pack(order, items)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self._state.note("packer_error", error=repr(exc))
            finally:
                order.packing = False

    async def _pack(self, order: TrackedOrder, items: list[dict[str, Any]]) -> None:
        if order.short_pack is None:
            order.short_pack = self._rng.random() < self._config.pack_mismatch_rate
        short = one_unit_short(items, self._rng) if order.short_pack else None
        if short is not None:
            resp = await self._post(order, short)
            if resp.status_code == 409 and error_type(resp) == "PackMismatch" and "missing" in resp.json():
                # The missing unit went back to picking; the order is packed once it is picked again.
                self._state.counters["pack_mismatches"] += 1
                order.short_pack = False
            elif resp.status_code != 409:
                self._state.note("short_pack_not_refused", status=resp.status_code, body=resp.text[:200])
                order.short_pack = False
                order.packed = resp.status_code in (200, 202)
            # Else refused before the scan (not settled as the workflow sees it): the next scan tries again.
            return
        resp = await self._post(order, items)
        if resp.status_code in (200, 202) or error_type(resp) == "AlreadyPacked":
            order.packed = True
            self._state.counters["orders_packed"] += 1
        elif resp.status_code == 409:
            # Not picked yet as the workflow sees it, or picked again meanwhile: the next scan retries.
            self._state.counters["packs_retried"] += 1
        else:
            self._state.note("pack_failed", status=resp.status_code, body=resp.text[:200])

    async def _post(self, order: TrackedOrder, items: list[dict[str, Any]]) -> httpx.Response:
        body = {"station": PACK_STATION, "items": items}
        return await self._http.post(f"/api/orders/{order.order_id}/pack", json=body)

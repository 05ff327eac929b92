"""The watcher: reads every open order (``GET /api/orders/{id}``) about once a poll interval.

It is the run's one source of order statuses (the operator and the packers
act on what it saw), records the status counts for the report's chart after
each sweep, and says when every order of the run has ended.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from paklog.simulate.config import SimulationConfig
from paklog.simulate.state import RunState, TrackedOrder


class Watcher:
    def __init__(self, config: SimulationConfig, state: RunState, http: httpx.AsyncClient) -> None:
        self._config = config
        self._state = state
        self._http = http
        self._gate = asyncio.Semaphore(config.watch_concurrency)
        self.done = asyncio.Event()

    async def run(self) -> None:
        while True:
            began = time.monotonic()
            await self.sweep([o for o in self._state.orders.values() if o.watched])
            self._state.sample()
            if self._state.all_done():
                self.done.set()
            await asyncio.sleep(max(0.05, self._config.poll_seconds - (time.monotonic() - began)))

    async def sweep(self, orders: list[TrackedOrder]) -> None:
        """Read these orders, at most ``watch_concurrency`` at once."""
        await asyncio.gather(*(self._read(order) for order in orders))

    async def _read(self, order: TrackedOrder) -> None:
        async with self._gate:
            try:
                resp = await self._http.get(f"/api/orders/{order.order_id}")
            except httpx.HTTPError as exc:
                self._state.note("order_unreadable", order_id=order.order_id, error=repr(exc))
                return
        if resp.status_code == 200:
            self._state.seen(order.order_id, resp.json())
        elif resp.status_code != 404:
            # 404: just placed, not recorded anywhere yet; read again next sweep.
            self._state.note("order_unreadable", order_id=order.order_id, status=resp.status_code)

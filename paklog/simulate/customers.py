"""Customers: place orders of 1-3 random in-stock lines, as the demo customer, through ``POST /api/orders``."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

import httpx

from paklog.simulate.config import SimulationConfig
from paklog.simulate.gateway import RETRYABLE, retry_after
from paklog.simulate.state import RunState

ADDRESSES: tuple[dict[str, str], ...] = (
    {"name": "Alice Customer", "line1": "1 Example Street", "city": "Berlin", "postal_code": "10115", "country": "DE"},
    {"name": "Alice Customer", "line1": "7 Hafenstrasse", "city": "Hamburg", "postal_code": "20095", "country": "DE"},
    {"name": "Alice Customer", "line1": "3 Marienplatz", "city": "Munich", "postal_code": "80331", "country": "DE"},
    {"name": "Alice Customer", "line1": "12 Strandweg", "city": "Westerland", "postal_code": "25980", "country": "DE"},
    {"name": "Alice Customer", "line1": "5 Stephansplatz", "city": "Vienna", "postal_code": "1010", "country": "AT"},
    {"name": "Alice Customer", "line1": "9 Damrak", "city": "Amsterdam", "postal_code": "1012", "country": "NL"},
)
#: How long a read of the catalogue is trusted; meanwhile the customers count down what they ordered.
CATALOGUE_SECONDS = 2.0
PLACE_ATTEMPTS = 4


class Customers:
    """Place the run's orders: all at once (``orders``), or ``rate_per_minute`` for ``duration_seconds``."""

    def __init__(self, config: SimulationConfig, state: RunState, http: httpx.AsyncClient) -> None:
        self._config = config
        self._state = state
        self._http = http
        self._rng = random.Random(f"{config.seed}:customers") if config.seed is not None else random.Random()
        self._run_id = uuid.uuid4().hex[:10]
        self._available: dict[str, int] = {}
        self._read_at = -CATALOGUE_SECONDS
        self._catalogue_lock = asyncio.Lock()

    async def run(self) -> None:
        """Place every order, then tell the others that placing is over."""
        tickets: asyncio.Queue[int | None] = asyncio.Queue()
        customers = [asyncio.create_task(self._customer(tickets)) for _ in range(self._config.customers)]
        try:
            await self._issue(tickets)
            for _ in customers:
                tickets.put_nowait(None)
            await asyncio.gather(*customers)
        finally:
            for task in customers:
                task.cancel()
            self._state.finish_placing()

    async def _issue(self, tickets: asyncio.Queue[int | None]) -> None:
        if self._config.orders is not None:
            for number in range(self._config.orders):
                tickets.put_nowait(number)
            return
        assert self._config.rate_per_minute is not None
        assert self._config.duration_seconds is not None
        interval = 60 / self._config.rate_per_minute
        start = time.monotonic()
        number = 0
        while (due := number * interval) < self._config.duration_seconds:
            await asyncio.sleep(max(0.0, start + due - time.monotonic()))
            tickets.put_nowait(number)
            number += 1

    async def _customer(self, tickets: asyncio.Queue[int | None]) -> None:
        while (number := await tickets.get()) is not None:
            await self._place(number)

    async def _catalogue(self) -> dict[str, int]:
        async with self._catalogue_lock:
            if time.monotonic() - self._read_at >= CATALOGUE_SECONDS:
                resp = await self._http.get("/api/products", params={"limit": 500})
                if resp.status_code == 200:
                    self._available = {str(p["sku"]): int(p["available"]) for p in resp.json()["items"]}
                    self._read_at = time.monotonic()
                else:
                    self._state.note("catalogue_unreadable", status=resp.status_code, body=resp.text[:200])
        return self._available

    def choose_lines(self, available: dict[str, int]) -> list[dict[str, Any]]:
        """1-3 distinct SKUs with stock, 1-2 units each (never more than is left); counted down at once."""
        in_stock = sorted(sku for sku, units in available.items() if units > 0)
        if not in_stock:
            return []
        chosen = self._rng.sample(in_stock, self._rng.randint(1, min(3, len(in_stock))))
        lines = []
        for sku in chosen:
            quantity = self._rng.randint(1, min(2, available[sku]))
            available[sku] -= quantity
            lines.append({"sku": sku, "quantity": quantity})
        return lines

    async def _place(self, number: int) -> None:
        try:
            lines = self.choose_lines(await self._catalogue())
        except httpx.HTTPError as exc:
            self._state.note("catalogue_unreadable", error=repr(exc))
            lines = []
        if not lines:
            self._state.placement_failures += 1
            self._state.note("nothing_in_stock_to_order")
            return
        body = {
            "lines": lines,
            "shipping_address": self._rng.choice(ADDRESSES),
            "payment": {"card_token": self._config.card_token},
        }
        # One key per order: a retry after a lost answer finds the same order instead of placing a second.
        headers = {"Idempotency-Key": f"simulate-{self._run_id}-{number}"}
        last = "no answer"
        for attempt in range(PLACE_ATTEMPTS):
            try:
                resp = await self._http.post("/api/orders", json=body, headers=headers)
            except httpx.TransportError as exc:
                last = repr(exc)
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            if resp.status_code == 202:
                self._state.add_ours(str(resp.json()["order_id"]))
                return
            last = f"{resp.status_code} {resp.text[:200]}"
            if resp.status_code not in RETRYABLE:
                break
            await asyncio.sleep(retry_after(resp, 0.5 * 2**attempt))
        self._state.placement_failures += 1
        self._state.note("order_not_placed", answer=last)

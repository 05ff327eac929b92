"""One simulation run: sign in, set the carriers, start the actors, wait for every order to end, report."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx

from paklog.simulate.carrier import CarrierControl
from paklog.simulate.config import SimulationConfig, SimulationError, SimulationResult
from paklog.simulate.customers import Customers
from paklog.simulate.floor import Operator, Packers, Pickers
from paklog.simulate.gateway import carriers_client, user_client
from paklog.simulate.metrics import OrderOutcome, summarize
from paklog.simulate.state import ProgressCallback, RunState
from paklog.simulate.watcher import Watcher


async def _signed_in(http: httpx.AsyncClient, path: str) -> None:
    """Sign in now with a read the user needs later, so a refused login or a wrong role fails before anything changes.

    The customer reads ``/api/products``; the operator ``/api/waves`` (403 ``StaffOnly`` for a customer).
    """
    try:
        resp = await http.get(path, params={"limit": 1})
    except httpx.HTTPError as exc:
        raise SimulationError(f"gateway unreachable at {http.base_url}: {exc!r}") from exc
    if resp.status_code != 200:
        raise SimulationError(f"GET {path}: {resp.status_code} {resp.text[:300]}")


async def _until_done(watcher: Watcher, actors: list[asyncio.Task[None]], seconds: float) -> bool:
    """Wait until every order ended (True) or ``seconds`` are up (False); an actor that crashed re-raises."""
    finished = asyncio.create_task(watcher.done.wait())
    try:
        async with asyncio.timeout(seconds):
            while not finished.done():
                await asyncio.wait([finished, *actors], return_when=asyncio.FIRST_COMPLETED)
                for actor in actors:
                    if actor.done() and not actor.cancelled() and actor.exception() is not None:
                        actor.result()
                actors = [a for a in actors if not a.done()]
    except TimeoutError:
        return False
    finally:
        finished.cancel()
    return True


async def run_simulation(config: SimulationConfig, *, on_progress: ProgressCallback | None = None) -> SimulationResult:
    """Drive a running platform through its gateway until every order placed has ended, or the timeout.

    Args:
        config: What to run and where (gateway, carrier stand-in, service token).
        on_progress: Called with ``(orders ended, orders in all)`` whenever either changes.

    Raises:
        SimulationError: a login was refused, or the carrier stand-in refused its settings; nothing was placed.
    """
    state = RunState(expected_orders=config.expected_orders, on_progress=on_progress)
    connections = config.customers + config.pickers + config.packers + config.watch_concurrency + 4
    customer, operator = config.customer, config.operator
    started_at = datetime.now(UTC)
    async with (
        user_client(config.gateway_url, *customer, connections=config.customers + 2) as shopper,
        user_client(config.gateway_url, *operator, connections=connections) as staff,
        carriers_client(config.carriers_url, config.service_token) as carriers_http,
    ):
        await _signed_in(shopper, "/api/products")
        await _signed_in(staff, "/api/waves")
        control = CarrierControl(carriers_http)
        watcher = Watcher(config, state, staff)
        try:
            await control.apply(config)
            state.started = time.monotonic()
            roles: list[Coroutine[Any, Any, None]] = [
                Customers(config, state, shopper).run(),
                watcher.run(),
                Operator(config, state, staff).run(),
                Pickers(config, state, staff).run(),
                Packers(config, state, staff).run(),
            ]
            actors = [asyncio.create_task(role) for role in roles]
            try:
                timed_out = not await _until_done(watcher, actors, config.timeout_seconds)
            finally:
                for actor in actors:
                    actor.cancel()
                await asyncio.gather(*actors, return_exceptions=True)
        finally:
            await control.restore()
        elapsed = state.elapsed()
        # One last look at the orders still open, so the report shows where each one stopped.
        await watcher.sweep([o for o in state.ours() if not o.terminal])
    outcomes = [
        OrderOutcome.from_view(o.view) if o.view is not None else OrderOutcome(o.order_id, o.status)
        for o in state.ours()
    ]
    summary = summarize(
        outcomes,
        picks=state.tally(),
        elapsed_seconds=elapsed,
        ship_sla_seconds=config.ship_sla_seconds,
        placement_failures=state.placement_failures,
    )
    return SimulationResult(
        config=config,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        outcomes=outcomes,
        summary=summary,
        timeline=state.samples,
        timed_out=timed_out,
        counters=dict(state.counters),
    )

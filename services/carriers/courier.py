"""The stand-in's background work: journeys take their steps, their events are posted, signed, to the webhook.

Two tasks, started with the app and stopped with it. The *journeys* task
takes the steps that are due (``journeys.py``), each with its event queued
in the same transaction. The *sender* task hands each shipment's oldest
pending event to a small pool (``webhook_concurrency`` shipments at once, a
shipment's own events one after another) that posts it to
``<webhook_url>/<CARRIER>`` with the ``X-PakLog-Signature`` of its exact
bytes: a 2xx delivers it, a 4xx rejects it for good, anything else
(connection error, timeout, 5xx) is tried again after 0.5 s, 1 s, 2 s, …
at most 30 s. Without a webhook URL nothing is posted: events stay pending.

Delivery is at least once: a stop between a post and its record posts the
event again after the restart (the receiver dedupes by ``event_id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import httpx

from common.logging import get_logger
from common.webhooks import SIGNATURE_HEADER, sign
from services.carriers.journeys import Advance, Journey, advance
from services.carriers.models import TrackingKnobs
from services.carriers.outbox import MAX_ANSWER_CHARS, Outgoing, TrackingStore
from services.carriers.pricing import Carrier

log = get_logger("paklog.carriers")

#: Backoff of a failed post: the first retry after this, doubling ...
RETRY_FIRST_SECONDS = 0.5
#: ... up to this.
RETRY_MAX_SECONDS = 30.0
#: Journeys stepped per transaction.
STEP_BATCH = 100
#: A task with nothing due looks again after this long anyway (work queued by another process, clock jumps).
IDLE_SECONDS = 1.0
#: After an unexpected error (a locked or broken file), a task waits this long before it goes on.
ERROR_PAUSE_SECONDS = 1.0


def retry_delay(attempts: int) -> float:
    """Seconds before the next post of an event that failed ``attempts`` times (≥ 1)."""
    return float(min(RETRY_FIRST_SECONDS * 2 ** min(attempts - 1, 16), RETRY_MAX_SECONDS))


class Courier:
    """Runs the journeys and posts their events.

    Args:
        store: The journeys and the outbox.
        knobs: Each carrier's journey settings, read at every step (the control route changes them).
        webhook_url: The webhook's base URL (``.../api/webhooks/carriers``), or None: post nothing.
        secrets: Each carrier's signing secret.
        client: Posts the events; the courier neither opens nor closes it.
        concurrency: Shipments whose events are posted at once.
        rng: Draws the jitter, exceptions, recoveries and duplicates.
    """

    def __init__(
        self,
        store: TrackingStore,
        knobs: Mapping[Carrier, TrackingKnobs],
        webhook_url: str | None,
        secrets: Mapping[str, str],
        client: httpx.AsyncClient,
        *,
        concurrency: int = 4,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.knobs = knobs
        self.webhook_url = webhook_url
        self.secrets = secrets
        self.client = client
        self.concurrency = concurrency
        self._rng = rng or random.Random()
        self._journeys_due = asyncio.Event()
        self._outbox_due = asyncio.Event()
        self._posting: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        """Start the journeys task and, with a webhook URL, the sender; pending work from before resumes."""
        self._tasks.append(asyncio.create_task(self._run_journeys(), name="carriers-journeys"))
        if self.webhook_url:
            self._tasks.append(asyncio.create_task(self._run_sender(), name="carriers-sender"))
        log.info("courier started", webhook_url=self.webhook_url, concurrency=self.concurrency)

    async def stop(self) -> None:
        """Stop both tasks and every post in flight (an interrupted post is pending again: it is retried)."""
        self._stopping = True  # a loop that missed its cancel still ends at its next turn
        tasks = [*self._tasks, *self._posting.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._posting.clear()

    def nudge(self) -> None:
        """Look for due work now (a label was sold, the pace changed) instead of at the next planned time."""
        self._journeys_due.set()
        self._outbox_due.set()

    # -- journeys -------------------------------------------------------------------
    def _step(self, journey: Journey) -> Advance:
        # Runs in the store's worker thread; one step at a time, so the rng is never shared.
        return advance(journey, self.knobs[journey.carrier], self._rng, datetime.now(UTC))

    async def _run_journeys(self) -> None:
        while not self._stopping:
            self._journeys_due.clear()
            try:
                stepped, upcoming = await asyncio.to_thread(self.store.advance_due, time.time(), self._step, STEP_BATCH)
            except Exception:
                log.exception("journeys: a step failed; trying again")
                await asyncio.sleep(ERROR_PAUSE_SECONDS)
                continue
            if stepped:
                self._outbox_due.set()
            if stepped == STEP_BATCH:
                continue
            await _wait(self._journeys_due, upcoming)

    # -- sender ---------------------------------------------------------------------
    async def _run_sender(self) -> None:
        while not self._stopping:
            self._outbox_due.clear()
            upcoming: float | None = None
            free = self.concurrency - len(self._posting)
            if free > 0:
                try:
                    heads, upcoming = await asyncio.to_thread(
                        self.store.due_heads, time.time(), list(self._posting), free
                    )
                except Exception:
                    log.exception("sender: reading the outbox failed; trying again")
                    await asyncio.sleep(ERROR_PAUSE_SECONDS)
                    continue
                for event in heads:
                    task = asyncio.create_task(self._post(event), name=f"carriers-post-{event.event_id}")
                    self._posting[event.tracking_code] = task
                    task.add_done_callback(self._posted(event.tracking_code))
                if len(heads) == free:
                    continue
            await _wait(self._outbox_due, upcoming)

    def _posted(self, tracking_code: str) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            self._posting.pop(tracking_code, None)
            self._outbox_due.set()  # the shipment's next event may go now
            if not task.cancelled() and task.exception() is not None:
                log.error("sender: posting failed unexpectedly", tracking_code=tracking_code, error=task.exception())

        return done

    async def _post(self, event: Outgoing) -> None:
        assert self.webhook_url is not None
        url = f"{self.webhook_url}/{event.carrier}"
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secrets[event.carrier], event.body),
        }
        attempts = event.attempts + 1
        try:
            resp = await self.client.post(url, content=event.body, headers=headers)
        except httpx.HTTPError as exc:
            await self._retry(event, attempts, None, f"{type(exc).__name__}: {exc}")
            return
        answer = resp.text[:MAX_ANSWER_CHARS]
        if resp.is_success:
            if event.post_twice:
                # The carrier's own glitch: the same bytes again (the receiver must dedupe by event_id).
                with contextlib.suppress(httpx.HTTPError):
                    await self.client.post(url, content=event.body, headers=headers)
            await asyncio.to_thread(self.store.delivered, event.id, resp.status_code, answer)
        elif resp.is_client_error:
            log.warning(
                "webhook rejected an event", event_id=event.event_id, status=resp.status_code, answer=answer[:200]
            )
            await asyncio.to_thread(self.store.rejected, event.id, resp.status_code, answer)
        else:
            await self._retry(event, attempts, resp.status_code, answer)

    async def _retry(self, event: Outgoing, attempts: int, status: int | None, answer: str) -> None:
        delay = retry_delay(attempts)
        log.info(
            "webhook failed; retrying",
            event_id=event.event_id,
            attempts=attempts,
            status=status,
            error=answer[:200],
            retry_in_seconds=delay,
        )
        await asyncio.to_thread(self.store.retry, event.id, status, answer, time.time() + delay)


async def _wait(wake: asyncio.Event, until: float | None) -> None:
    """Until ``wake`` is set or the epoch time ``until`` (at most :data:`IDLE_SECONDS` from now).

    ``asyncio.timeout``, not ``asyncio.wait_for``: on Python 3.11 ``wait_for`` can swallow a
    cancel that lands as the event is set, and :meth:`Courier.stop` then waits forever for a
    task that goes on (seen once in CI: the app's shutdown hung while the sender kept posting).
    """
    timeout = IDLE_SECONDS if until is None else min(max(until - time.time(), 0.0), IDLE_SECONDS)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await wake.wait()

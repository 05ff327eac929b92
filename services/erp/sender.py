"""The ERP's event sender: the outbox, posted signed to the webhook, oldest first, until acknowledged.

One task, started with the app and stopped with it. It reads the oldest
pending events (a *batch*, :data:`BATCH`) and posts them one after another in
``occurred_at`` order (newest-first within the batch when the ``reorder``
knob is on) to the webhook, each with the ``X-PakLog-Signature`` of its exact
bytes. A 2xx delivers the event (with ``duplicate_rate``, the same bytes are
posted a second time), a 4xx rejects it for good; anything else (connection
error, timeout, 5xx) ends the batch: that event is tried again after 0.5 s,
1 s, 2 s, … at most 30 s, and nothing after it is posted meanwhile, so the
order holds. Without a webhook URL there is no sender: events stay pending.

Delivery is at least once: a stop between a post and its record posts the
event again after the restart (the receiver dedupes by ``event_id``).

With a :class:`~services.erp.login.ClientToken` every post also carries the
ERP's bearer token (its OAuth2 client at PakLog). A 401 makes the sender
fetch a new token and post once more; a 401 again, or no token to be had (the
token endpoint down, the client refused), is retried like a 5xx: it says who
is sending, not what, so no event is rejected for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from common.logging import get_logger
from common.webhooks import SIGNATURE_HEADER, sign
from services.erp.login import ClientToken, TokenUnavailable
from services.erp.models import Knobs
from services.erp.store import MAX_ANSWER_CHARS, ErpStore, Outgoing

log = get_logger("paklog.erp")

#: Backoff of a failed post: the first retry after this, doubling ...
RETRY_FIRST_SECONDS = 0.5
#: ... up to this.
RETRY_MAX_SECONDS = 30.0
#: Events read (and posted in order) at a time.
BATCH = 50
#: With nothing due, the sender looks again after this long anyway (events written by another process).
IDLE_SECONDS = 1.0
#: After an unexpected error (the database away), the sender waits this long before it goes on.
ERROR_PAUSE_SECONDS = 1.0


def retry_delay(attempts: int) -> float:
    """Seconds before the next post of an event that failed ``attempts`` times (≥ 1)."""
    return float(min(RETRY_FIRST_SECONDS * 2 ** min(attempts - 1, 16), RETRY_MAX_SECONDS))


async def wait_for_wake(wake: asyncio.Event, seconds: float) -> None:
    """Until ``wake`` is set or ``seconds`` (at most :data:`IDLE_SECONDS`) passed.

    ``asyncio.timeout``, not ``asyncio.wait_for``: on Python 3.11 ``wait_for`` can swallow a
    cancel that lands as the event is set, and the app's shutdown then waits forever for a
    sender that goes on (see ``services/carriers/courier.py``).
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(min(max(seconds, 0.0), IDLE_SECONDS)):
            await wake.wait()


class Sender:
    """Posts the outbox's events to the webhook.

    Args:
        store: The outbox.
        knobs: The current knobs (``duplicate_rate``, ``reorder``), read for every batch.
        webhook_url: Where the events go.
        secret: Their signing secret (:func:`common.webhooks.erp_secret`).
        client: Posts them; the sender neither opens nor closes it.
        rng: Draws the duplicates.
        token: The ERP's login at PakLog; without one, posts carry no ``Authorization``.
    """

    def __init__(
        self,
        store: ErpStore,
        knobs: Callable[[], Knobs],
        webhook_url: str,
        secret: str,
        client: httpx.AsyncClient,
        *,
        rng: random.Random | None = None,
        token: ClientToken | None = None,
    ) -> None:
        self.store = store
        self.token = token
        self.knobs = knobs
        self.webhook_url = webhook_url
        self.secret = secret
        self.client = client
        self._rng = rng or random.Random()
        self._due = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        """Start posting; events left pending before (another run, a crash) go first."""
        self._task = asyncio.create_task(self._run(), name="erp-sender")
        log.info("erp sender started", webhook_url=self.webhook_url)

    async def stop(self) -> None:
        """Stop, the post in flight included (an interrupted post is pending again: it is retried)."""
        self._stopping = True  # a loop that missed its cancel still ends at its next turn
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def nudge(self) -> None:
        """Look for new events now instead of at the next idle turn."""
        self._due.set()

    async def _run(self) -> None:
        while not self._stopping:
            self._due.clear()
            try:
                batch = await self.store.pending(BATCH)
            except Exception:
                log.exception("erp sender: reading the outbox failed; trying again")
                await asyncio.sleep(ERROR_PAUSE_SECONDS)
                continue
            if not batch:
                await wait_for_wake(self._due, IDLE_SECONDS)
                continue
            # Only an event that failed has a next attempt set; the batch waits for it (the order holds).
            backoff = [event.next_attempt_at for event in batch if event.next_attempt_at is not None]
            blocked_for = (max(backoff) - datetime.now(UTC)).total_seconds() if backoff else 0.0
            if blocked_for > 0:
                await wait_for_wake(self._due, blocked_for)
                continue
            knobs = self.knobs()
            for event in reversed(batch) if knobs.reorder else batch:
                try:
                    final = await self._post(event, knobs)
                except Exception:
                    log.exception("erp sender: recording a post failed; trying again", event_id=event.event_id)
                    await asyncio.sleep(ERROR_PAUSE_SECONDS)
                    break
                if not final:
                    break

    async def _post(self, event: Outgoing, knobs: Knobs) -> bool:
        """Post one event; whether it is settled (delivered or rejected) rather than to be retried."""
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, event.body)}
        try:
            resp = await self._send(event, headers)
            if resp.status_code == 401 and self.token is not None:
                # The token expired early or was revoked: one more try with a new one.
                self.token.forget()
                resp = await self._send(event, headers)
        except TokenUnavailable as exc:
            await self._retry(event, None, f"no token: {exc}")
            return False
        except httpx.HTTPError as exc:
            await self._retry(event, None, f"{type(exc).__name__}: {exc}")
            return False
        answer = resp.text[:MAX_ANSWER_CHARS]
        if resp.status_code == 401:
            await self._retry(event, resp.status_code, answer)
            return False
        if resp.is_success:
            twice = knobs.duplicate_rate > 0 and self._rng.random() < knobs.duplicate_rate
            if twice:
                # The ERP's own glitch: the same bytes again (the receiver must dedupe by event_id).
                with contextlib.suppress(httpx.HTTPError):
                    await self.client.post(self.webhook_url, content=event.body, headers=headers)
            await self.store.delivered(event.id, resp.status_code, answer, duplicated=twice)
            return True
        if resp.is_client_error:
            log.warning(
                "webhook rejected an event", event_id=event.event_id, status=resp.status_code, answer=answer[:200]
            )
            await self.store.rejected(event.id, resp.status_code, answer)
            return True
        await self._retry(event, resp.status_code, answer)
        return False

    async def _send(self, event: Outgoing, headers: dict[str, str]) -> httpx.Response:
        """One post of the event (with a fresh enough token, when the sender has a login)."""
        if self.token is not None:
            headers["Authorization"] = await self.token.bearer()
        return await self.client.post(self.webhook_url, content=event.body, headers=headers)

    async def _retry(self, event: Outgoing, status: int | None, answer: str) -> None:
        delay = retry_delay(event.attempts + 1)
        log.info(
            "webhook failed; retrying",
            event_id=event.event_id,
            attempts=event.attempts + 1,
            status=status,
            error=answer[:200],
            retry_in_seconds=delay,
        )
        await self.store.retry(event.id, status, answer, datetime.now(UTC) + timedelta(seconds=delay))

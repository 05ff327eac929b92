"""Memory → outbox → audit service: records are never waited for, and never lost once in the outbox.

* :meth:`AuditTrail.record` appends to an in-memory queue and returns at once
  (the call it records has already been answered). The queue is bounded
  (``audit_memory_limit``): while the outbox database is unreachable records
  wait there; once it is full, new records are dropped, counted in
  :attr:`AuditTrail.dropped` and logged, never blocking a call.
* The flusher writes the queue to ``audit_outbox`` in the gateway's database
  in batches, at most ``audit_flush_seconds`` after the first record of a
  batch arrived; a failed write keeps the records queued and is retried with backoff.
* The drainer sends outbox rows in ``id`` order, a batch at a time, to the
  audit service (``POST /records`` with the service token) and deletes them
  in the same transaction, only after the service acknowledged them. The
  service skips ``record_id``s it already holds, so a batch resent after a
  lost answer is appended once. While the service is down the drainer backs
  off (up to ``audit_retry_max_seconds``) and the outbox grows; a restarted
  gateway drains what is left. One drainer per database at a time (an
  advisory lock), so gateways sharing an outbox keep its order.

What can be lost: records still in memory when the process dies without a
graceful stop (at most ``audit_flush_seconds`` worth, or the whole queue while
the database is down). A graceful stop flushes the queue and tries one last drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import uuid
from collections import deque
from typing import Any

import httpx
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT
from sqlalchemy.ext.asyncio import AsyncEngine

from common.logging import get_logger
from common.service_auth import service_headers

log = get_logger("paklog.audit")

#: The drainer's advisory lock in the gateway's database: one drainer at a time keeps the order.
DRAIN_LOCK_KEY = 0x7061_6B6C_6F67_6F62  # "paklogob"
#: How often an idle drainer looks at the outbox (rows another gateway, or a previous run, left).
IDLE_POLL_SECONDS = 1.0

_INSERT = text("INSERT INTO audit_outbox (record) VALUES (CAST(:record AS jsonb))")
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
_OLDEST = text("SELECT id, CAST(record AS text) AS record FROM audit_outbox ORDER BY id LIMIT :limit")
_DELETE = text("DELETE FROM audit_outbox WHERE id = ANY(:ids)").bindparams(bindparam("ids", type_=ARRAY(BIGINT)))
_COUNT = text("SELECT count(*) FROM audit_outbox")


class AuditRefused(Exception):
    """The audit service answered, but not with an acknowledgement; the batch stays in the outbox."""


class AuditTrail:
    """One gateway process's audit pipeline.

    Args:
        engine: The gateway's own database (its ``audit_outbox``); connected lazily.
        http: The pooled client the drainer posts with.
        audit_url: The audit service's base URL.
        service_token: The deployment's service token.
        digest_key: Key of the body digests.
        flush_seconds: Longest wait of a record in memory while the database is up.
        batch_size: Records per outbox write and per append.
        memory_limit: Records held in memory at most.
        retry_max_seconds: Longest backoff between failed attempts.
    """

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        http: httpx.AsyncClient,
        audit_url: str,
        service_token: str,
        digest_key: bytes,
        flush_seconds: float = 0.1,
        batch_size: int = 500,
        memory_limit: int = 10_000,
        retry_max_seconds: float = 5.0,
    ) -> None:
        self.engine = engine
        self.http = http
        self.records_url = f"{audit_url.rstrip('/')}/records"
        self._headers = service_headers(service_token)
        self._key = digest_key
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self.memory_limit = memory_limit
        self.retry_max_seconds = retry_max_seconds
        self.pending: deque[dict[str, Any]] = deque()
        #: Records dropped because the memory queue was full (the outbox database was down too long).
        self.dropped = 0
        self._has_pending = asyncio.Event()
        self._outbox_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- the middleware's side: never waits, never raises -------------------------------------
    def hasher(self) -> hmac.HMAC:
        """A keyed digest for one body: the trail can prove a body without letting anyone guess it."""
        return hmac.new(self._key, digestmod=hashlib.sha256)

    @staticmethod
    def new_record_id() -> str:
        return uuid.uuid4().hex

    def record(self, entry: dict[str, Any]) -> None:
        """Queue one record (O(1)); drop it, counted and logged, when the queue is full."""
        if len(self.pending) >= self.memory_limit:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("audit records dropped: memory queue full", dropped=self.dropped, limit=self.memory_limit)
            return
        self.pending.append(entry)
        self._has_pending.set()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the flusher and the drainer (the drainer first sends what a previous run left)."""
        self._tasks = [
            asyncio.create_task(self._flush_loop(), name="audit-flush"),
            asyncio.create_task(self._drain_loop(), name="audit-drain"),
        ]

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop the loops, write what is in memory to the outbox, and try one last drain within ``grace_seconds``."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        try:
            async with asyncio.timeout(grace_seconds):
                while self.pending:
                    await self.flush_once()
                while await self.drain_once():
                    pass
        except Exception as exc:  # database or audit service down: the outbox keeps what it has
            log.warning("audit trail stopped with records left", in_memory=len(self.pending), error=repr(exc))
            if self.pending:
                log.error("audit records lost at shutdown", lost=len(self.pending))

    # -- memory → outbox -----------------------------------------------------------------------
    async def flush_once(self) -> int:
        """Write the oldest queued batch to the outbox; answers how many (they leave memory only once committed)."""
        batch = list(itertools.islice(self.pending, self.batch_size))
        if not batch:
            return 0
        async with self.engine.begin() as conn:
            await conn.execute(_INSERT, [{"record": json.dumps(entry)} for entry in batch])
        for _ in batch:
            self.pending.popleft()
        self._outbox_ready.set()
        return len(batch)

    async def _flush_loop(self) -> None:
        failures = 0
        while True:
            await self._has_pending.wait()
            if len(self.pending) < self.batch_size:
                await asyncio.sleep(self.flush_seconds)  # gather a batch: one write, not one per call
            try:
                while self.pending:
                    await self.flush_once()
            except Exception as exc:  # the outbox database is unreachable: keep the records, retry
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    log.warning("audit outbox unavailable", error=repr(exc)[:300], in_memory=len(self.pending))
                await asyncio.sleep(self._backoff(failures))
                continue
            failures = 0
            if not self.pending:
                self._has_pending.clear()

    # -- outbox → audit service ----------------------------------------------------------------
    async def drain_once(self) -> int:
        """Send the oldest outbox batch, in order, and delete it once acknowledged; answers how many.

        Raises:
            AuditRefused: The service answered something other than 200.
            httpx.HTTPError: The service is unreachable.
        """
        async with self.engine.begin() as conn:
            if not (await conn.execute(_TRY_LOCK, {"key": DRAIN_LOCK_KEY})).scalar():
                return 0  # another gateway drains this outbox now
            rows = (await conn.execute(_OLDEST, {"limit": self.batch_size})).all()
            if not rows:
                return 0
            resp = await self.http.post(
                self.records_url, json={"items": [json.loads(row.record) for row in rows]}, headers=self._headers
            )
            if resp.status_code != 200:
                raise AuditRefused(f"audit service answered {resp.status_code}: {resp.text[:200]}")
            await conn.execute(_DELETE, {"ids": [row.id for row in rows]})
        return len(rows)

    async def _drain_loop(self) -> None:
        failures = 0
        while True:
            self._outbox_ready.clear()
            try:
                sent = await self.drain_once()
            except Exception as exc:  # audit service or database down: the outbox keeps the records
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    log.warning("audit service unavailable; records wait in the outbox", error=repr(exc)[:300])
                await asyncio.sleep(self._backoff(failures))
                continue
            if failures:
                log.info("audit trail draining again", after_failures=failures)
            failures = 0
            if not sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._outbox_ready.wait(), IDLE_POLL_SECONDS)

    async def outbox_size(self) -> int:
        """Rows waiting in the outbox (tests, operators)."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(_COUNT)).scalar_one())

    def _backoff(self, failures: int) -> float:
        return float(min(self.retry_max_seconds, 0.1 * 2 ** min(failures, 10)))

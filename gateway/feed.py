"""The operator stream ``GET /api/orders/events``: every order's status changes, live, resumable.

**One feed per gateway process.** :class:`OrderFeed` follows the orders
service's history (``GET /history``, in commit order, after a cursor) with
one long-poll at a time, and hands each change to every open operator stream
(:class:`Subscription`). It runs only while at least one stream is open: the
first one starts it at "now", the last one to leave stops it. No timer: the
orders service answers the long-poll when a change commits (its LISTEN /
NOTIFY) or after ``history_wait_seconds`` with nothing, and the feed asks
again.

**Resume.** A change's SSE ``id`` is its history cursor (``<xid>.<id>``).
A stream opened with ``Last-Event-ID`` (or ``?after=``) joins the feed first,
then reads the history from its cursor up to where the feed stood when it
joined (plain reads, no wait), then goes on with what the feed hands it: no
change is lost or sent twice.

**A slow client holds up nobody.** The feed never waits for a stream: each
has a queue of ``operator_stream_backlog`` changes; a stream that falls that
far behind is dropped from the feed, sends what it has, then a final
``event: overflow`` and closes; the client reconnects with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection

from fastapi.sse import ServerSentEvent

from common.errors import DomainError
from common.logging import get_logger
from gateway.clients import ServiceClients
from gateway.models import HistoryEntryRecord, OrderChange

log = get_logger("paklog.gateway.feed")

#: The SSE event name of a change (as the per-order stream's) and of the last word to a stream that fell behind.
STATUS_EVENT = "status"
OVERFLOW_EVENT = "overflow"
#: Changes per history read.
PAGE = 500
#: After the orders service failed, the feed asks again after this long (doubling up to the second).
RETRY_SECONDS = (0.5, 5.0)


def cursor_key(cursor: str) -> tuple[int, int]:
    """A cursor's place in commit order (``"12.7"`` -> ``(12, 7)``); the caller has checked its form."""
    xid, _, row_id = cursor.partition(".")
    return int(xid), int(row_id)


def as_change(entry: HistoryEntryRecord) -> OrderChange:
    return OrderChange(
        cursor=entry.cursor,
        seq=entry.seq,
        order_id=entry.order_id,
        customer_id=entry.customer_id,
        status=entry.to_status,
        from_status=entry.from_status,
        reason=entry.reason,
        actor=entry.actor,
        at=entry.at,
    )


class Subscription:
    """One operator stream's place in the feed: its filters and a bounded queue of changes for it."""

    def __init__(self, *, statuses: Collection[str], customer: str | None, backlog: int) -> None:
        self.statuses = frozenset(statuses)
        self.customer = customer
        self.queue: asyncio.Queue[OrderChange] = asyncio.Queue(maxsize=backlog)
        #: Fell more than ``backlog`` behind (or the feed failed): dropped from the feed; the stream ends
        #: after what it has, with an ``overflow`` event, and the client resumes.
        self.overflowed = False

    def wants(self, change: OrderChange) -> bool:
        return (not self.statuses or change.status.value in self.statuses) and (
            self.customer is None or change.customer_id == self.customer
        )

    def offer(self, change: OrderChange) -> bool:
        """Queue the change if wanted; False when the queue is full (the subscription has overflowed)."""
        if not self.wants(change):
            return True
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            self.overflowed = True
            return False
        return True


class OrderFeed:
    """One long-poll of the orders service's history at a time, fanned out to every :class:`Subscription`."""

    def __init__(self, clients: ServiceClients, *, wait_seconds: float) -> None:
        self.clients = clients
        self.wait_seconds = wait_seconds
        #: Where the feed stands: every change up to here has been handed to the subscriptions.
        self.cursor: str | None = None
        self._subscriptions: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def subscribers(self) -> int:
        return len(self._subscriptions)

    async def subscribe(self, subscription: Subscription) -> str:
        """Join the feed (starting it at "now" if it is not running).

        Returns:
            The feed's cursor when joining: every later change reaches the subscription's queue.
        """
        async with self._lock:
            if not self.running:
                self.cursor = (await self.clients.order_history(after=None, limit=1)).next
                self._task = asyncio.create_task(self._follow())
                self._task.add_done_callback(self._ended)
            self._subscriptions.add(subscription)
            assert self.cursor is not None
            return self.cursor

    def unsubscribe(self, subscription: Subscription) -> None:
        """Leave the feed; the last one to leave stops it."""
        self._subscriptions.discard(subscription)
        if not self._subscriptions and self._task is not None:
            self._task.cancel()
            self._task = None

    def _ended(self, task: asyncio.Task[None]) -> None:
        """A feed that failed drops its streams (they end; their clients resume): a restart begins at now."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("operator feed failed", error=repr(task.exception()), streams=len(self._subscriptions))
        for subscription in self._subscriptions:
            subscription.overflowed = True
        self._subscriptions.clear()

    async def _follow(self) -> None:
        retry = RETRY_SECONDS[0]
        while self._subscriptions and self.cursor is not None:
            try:
                page = await self.clients.order_history(after=self.cursor, limit=PAGE, wait_seconds=self.wait_seconds)
            except DomainError as exc:  # the orders service is down or answered nonsense: ask again later
                log.warning("operator feed read failed", error_type=exc.type, detail=exc.detail, retry_in=retry)
                await asyncio.sleep(retry)
                retry = min(retry * 2, RETRY_SECONDS[1])
                continue
            retry = RETRY_SECONDS[0]
            # No await from here to the cursor's move: a stream joining sees the cursor and the queues agree.
            for entry in page.items:
                change = as_change(entry)
                for subscription in list(self._subscriptions):
                    if not subscription.offer(change):
                        self._subscriptions.discard(subscription)
                        log.info("operator stream fell behind", backlog=subscription.queue.maxsize)
            self.cursor = page.next


def _event(change: OrderChange) -> ServerSentEvent:
    return ServerSentEvent(data=change, event=STATUS_EVENT, id=change.cursor)


async def operator_events(
    clients: ServiceClients,
    subscription: Subscription,
    *,
    joined: str,
    after: str | None,
    heartbeat_seconds: float,
) -> AsyncIterator[ServerSentEvent]:
    """Every order change after ``after`` (none: from ``joined``) that the subscription wants, while the client stays.

    Args:
        joined: The feed's cursor when the subscription joined it (:meth:`OrderFeed.subscribe`):
            what comes later is in the subscription's queue.
        after: The ``Last-Event-ID`` (a cursor) to resume after.
        heartbeat_seconds: How long the stream may stay silent before a comment is sent.
    """
    sent = joined if after is None else after
    # Catch up from the client's cursor to where the feed stood when this stream joined, by plain reads.
    while cursor_key(sent) < cursor_key(joined):
        page = await clients.order_history(after=sent, limit=PAGE)
        behind = [entry for entry in page.items if cursor_key(entry.cursor) <= cursor_key(joined)]
        for entry in behind:
            change = as_change(entry)
            if subscription.wants(change):
                yield _event(change)
            sent = entry.cursor
        if not behind or len(behind) < len(page.items):
            break  # nothing more before ``joined``, or past it: the feed's queue has the rest
    last = max(sent, joined, key=cursor_key)
    while True:
        if subscription.overflowed and subscription.queue.empty():
            yield ServerSentEvent(
                data={
                    "type": "StreamOverflow",
                    "detail": "this stream fell too far behind; reconnect with Last-Event-ID to resume",
                    "resume_after": last,
                },
                event=OVERFLOW_EVENT,
            )
            return
        try:
            change = await asyncio.wait_for(subscription.queue.get(), heartbeat_seconds)
        except TimeoutError:
            yield ServerSentEvent(comment="keep-alive")
            continue
        if cursor_key(change.cursor) > cursor_key(last):  # a resume from ahead of the feed skips what it has
            yield _event(change)
            last = change.cursor

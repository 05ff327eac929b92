"""Live order updates: ``GET /api/orders/{order_id}/events`` as Server-Sent Events.

What is streamed is the order's history as the orders service records it:
one event per status change, its ``id`` the change's 1-based position in that
history. The position never changes once written, so ``Last-Event-ID: n``
resumes exactly: every change after the n-th, then the live ones.

When to look again is the order's workflow's to say, not a timer's: the
gateway sends ``wait_for_change(status)``, which the workflow answers the
moment its status moves on (every step records the change in the orders
service before the workflow's own status moves, so the record then holds
it). :class:`OrderBell` keeps one such update in flight per order and
known status in this process, whatever the number of streams on the order
(Temporal allows a handful of updates in flight per workflow). An order
whose workflow has ended (the update finds nothing running) is answered from
the record, and the stream closes; so does every stream after ``DELIVERED``
or ``CANCELLED``. While nothing happens, a comment every
``stream_heartbeat_seconds`` keeps proxies from closing the connection.

:class:`StreamSlots` bounds the streams one principal holds open (429
``TooManyStreams`` past it), so streams cannot exhaust the gateway.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi.sse import ServerSentEvent
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from common.errors import TooManyRequests
from gateway.clients import ServiceClients
from gateway.models import OrderEvent, OrderStatus
from gateway.orders import order_handle
from gateway.updates import GONE, NOT_READY
from workflows.order_fulfillment import OrderFulfillment, OrderSnapshot, WaitForChange

#: After these nothing changes: the stream sends them and ends.
TERMINAL = frozenset({OrderStatus.DELIVERED, OrderStatus.CANCELLED})
#: How long a wait pauses before asking again a workflow not ready for updates (``NOT_READY``).
NOT_READY_PAUSE_SECONDS = 1.0
#: The SSE event name of a status change (``addEventListener("status", ...)``).
STATUS_EVENT = "status"


class StreamSlots:
    """How many event streams each principal holds open, at most ``per_principal``."""

    def __init__(self, per_principal: int) -> None:
        self.per_principal = per_principal
        self._open: dict[str, int] = {}

    def acquire(self, who: str) -> None:
        """Take one slot for ``who``.

        Raises:
            TooManyRequests: ``TooManyStreams`` when ``who`` holds every slot already.
        """
        held = self._open.get(who, 0)
        if held >= self.per_principal:
            raise TooManyRequests(
                f"at most {self.per_principal} event streams open at once; close one first",
                type="TooManyStreams",
                retry_after_seconds=5,
            )
        self._open[who] = held + 1

    def release(self, who: str) -> None:
        held = self._open.get(who, 0) - 1
        if held > 0:
            self._open[who] = held
        else:
            self._open.pop(who, None)

    def held(self, who: str) -> int:
        return self._open.get(who, 0)


class OrderBell:
    """One ``wait_for_change`` update in flight per (order, status known), shared by every stream waiting on it.

    A stream that goes away leaves the update running: it ends at the order's
    next change (or its workflow's end), and the next stream to wait on the
    same order and status joins it instead of sending another.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self._waits: dict[tuple[str, str], asyncio.Task[OrderSnapshot | None]] = {}

    def in_flight(self) -> int:
        return len(self._waits)

    async def next_change(self, order_id: str, status: str) -> OrderSnapshot | None:
        """The order once its status is not ``status``; ``None`` once its workflow is not running."""
        key = (order_id, status)
        task = self._waits.get(key)
        if task is None:
            task = asyncio.create_task(self._wait(order_id, status))
            self._waits[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task)

    def _forget(self, key: tuple[str, str], task: asyncio.Task[OrderSnapshot | None]) -> None:
        if self._waits.get(key) is task:
            del self._waits[key]
        if not task.cancelled():
            task.exception()  # retrieved: a wait nobody awaits any more is not "never retrieved"

    async def _wait(self, order_id: str, status: str) -> OrderSnapshot | None:
        while True:
            try:
                snapshot: OrderSnapshot = await order_handle(self.client, order_id).execute_update(
                    OrderFulfillment.wait_for_change, WaitForChange(status=status)
                )
            except WorkflowUpdateFailedError:
                return None  # the run ended under the update
            except RPCError as exc:
                if exc.status in GONE:
                    return None
                if exc.status != NOT_READY:
                    raise
                # Running, but retrying a failed workflow task: the stream keeps beating and asks again.
                await asyncio.sleep(NOT_READY_PAUSE_SECONDS)
                continue
            return snapshot


def _history(record: Any) -> list[dict[str, Any]]:
    return list(record.history or []) if record is not None else []


def _event(order_id: str, seq: int, change: dict[str, Any]) -> ServerSentEvent:
    data = OrderEvent(
        seq=seq,
        order_id=order_id,
        status=change["to_status"],
        from_status=change.get("from_status"),
        reason=change.get("reason"),
        at=change["at"],
    )
    return ServerSentEvent(data=data, event=STATUS_EVENT, id=str(seq))


async def order_events(
    clients: ServiceClients,
    bell: OrderBell,
    order_id: str,
    *,
    after: int,
    heartbeat_seconds: float,
) -> AsyncIterator[ServerSentEvent]:
    """The order's status changes after the ``after``-th, then each one as it happens, until a terminal one.

    Args:
        after: The ``Last-Event-ID`` the client saw (0: from the first change).
        heartbeat_seconds: How long the stream may stay silent before a comment is sent.
    """
    history = _history(await clients.order(order_id))
    sent = min(after, len(history))  # an id from the future is treated as "now"
    known: str | None = None
    while True:
        for seq in range(sent + 1, len(history) + 1):
            yield _event(order_id, seq, history[seq - 1])
        sent = max(sent, len(history))
        last = history[-1]["to_status"] if history else OrderStatus.PENDING.value
        if last in TERMINAL:
            return
        # Wait on what the workflow last said (the record may lag it after a failed undo), else the record.
        waiting_on = known or last
        waiting = asyncio.ensure_future(bell.next_change(order_id, waiting_on))
        try:
            while not waiting.done():
                done, _ = await asyncio.wait({waiting}, timeout=heartbeat_seconds)
                if not done:
                    yield ServerSentEvent(comment="keep-alive")
            snapshot = waiting.result()
        finally:
            waiting.cancel()  # the shared update goes on (shielded); only this stream stops waiting
        history = _history(await clients.order(order_id))
        if snapshot is None or snapshot.status == waiting_on:
            # The workflow has ended (or is ending): nothing changes any more; the record has the rest.
            for seq in range(sent + 1, len(history) + 1):
                yield _event(order_id, seq, history[seq - 1])
            return
        known = snapshot.status

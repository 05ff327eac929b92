"""The history feed: every order's status changes in commit order, read after a cursor, long-polled.

**Commit order.** Ids from a sequence are not commit-ordered: a transaction
holding id 11 may commit after another's id 12 was read, and a reader
following ids would step past 11 for good. So each history row carries its
writing transaction's id (``xid``, migration 0006) and a read hands out only
rows whose ``xid`` is below ``pg_snapshot_xmin(pg_current_snapshot())`` (the
oldest transaction still running anywhere on the server), ordered by
``(xid, id)``: every transaction that could still add a row has a larger
xid than any row handed out, so it lands after the cursor, never behind it
(the transactional-outbox reading of PostgreSQL's snapshots). The cursor is
``"<xid>.<id>"``; rows from before the migration read as xid 0.

**Waiting without polling.** Each insert's trigger sends ``NOTIFY
order_history`` (one per transaction, delivered at its commit). One
connection per process ``LISTEN``\\s (:class:`HistoryBell`) and wakes every
waiting read; a read with nothing to hand out waits for that, or for its
``wait_seconds`` to pass. The one timed look: rows already committed but
held back by an older transaction still running (which may write no history,
so no notification will come) are looked at again every
``HELD_RECHECK_SECONDS`` until that transaction ends.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from common.errors import RuleViolation
from common.logging import get_logger
from services.orders.models import HistoryEntry, HistoryPage
from services.orders.repository import OrdersRepository

log = get_logger("paklog.orders.history")

#: The channel the history's trigger notifies (migration 0006).
CHANNEL = "order_history"
#: How often rows held back by an older open transaction are looked at again.
HELD_RECHECK_SECONDS = 0.05
#: Longest a read may wait; callers ask again.
MAX_WAIT_SECONDS = 30.0
MAX_PAGE = 500
_CURSOR = re.compile(r"^(\d{1,20})\.(\d{1,19})$")
_MAX_XID = 2**64 - 1
_MAX_ID = 2**63 - 1


def parse_cursor(cursor: str) -> tuple[int, int]:
    """``(xid, id)`` of a cursor this service handed out.

    Raises:
        RuleViolation: 422 ``InvalidCursor`` for anything else.
    """
    match = _CURSOR.match(cursor)
    if match is None or int(match[1]) > _MAX_XID or int(match[2]) > _MAX_ID:
        raise RuleViolation(f"{cursor[:50]!r} is not a history cursor (<xid>.<id>)", type="InvalidCursor")
    return int(match[1]), int(match[2])


def format_cursor(xid: int, row_id: int) -> str:
    return f"{xid}.{row_id}"


class HistoryBell:
    """One ``LISTEN order_history`` connection per process; :meth:`armed` hands out what the next NOTIFY sets.

    Connected on first use (and again after the connection is lost, which also
    wakes every waiter so that it looks again); closed by :meth:`close`.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._connection: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._event = asyncio.Event()
        #: Reads waiting for a notification now.
        self.waiting = 0

    async def armed(self) -> asyncio.Event:
        """The event the next notification sets; take it *before* looking, then wait on it if nothing was there."""
        if self._connection is None or self._connection.is_closed():
            async with self._lock:
                if self._connection is None or self._connection.is_closed():
                    connection = await asyncpg.connect(self.dsn)
                    await connection.add_listener(CHANNEL, self._on_notify)
                    connection.add_termination_listener(self._on_lost)
                    self._connection = connection
        return self._event

    def _ring(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    def _on_notify(self, *_: Any) -> None:
        self._ring()

    def _on_lost(self, *_: Any) -> None:
        log.warning("history listener lost its connection", channel=CHANNEL)
        self._ring()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.remove_termination_listener(self._on_lost)
            await connection.close()


def _entry(row: Any) -> HistoryEntry:
    return HistoryEntry(
        cursor=format_cursor(int(row["xid"]), row["id"]),
        seq=row["seq"],
        order_id=row["order_id"],
        customer_id=row["customer_id"],
        from_status=row["from_status"],
        to_status=row["to_status"],
        reason=row["reason"],
        actor=row["actor"],
        at=row["at"],
    )


async def _look(session: AsyncSession, xid: int, row_id: int, limit: int) -> tuple[list[HistoryEntry], bool]:
    """``(changes handed out, whether later ones are held back)``, in a transaction of its own."""
    async with session.begin():
        repo = OrdersRepository(session)
        rows = await repo.changes_after(xid, row_id, limit)
        held = not rows and await repo.changes_held(xid, row_id)
    return [_entry(row) for row in rows], held


async def changes(
    session: AsyncSession, bell: HistoryBell, after: str | None, *, limit: int, wait_seconds: float
) -> HistoryPage:
    """The changes after ``after``, waiting up to ``wait_seconds`` for one when there is none yet.

    Without ``after`` it answers at once with no changes and ``next`` = "now":
    the cursor after which every change not yet committed will come.
    """
    if after is None:
        async with session.begin():
            head = await OrdersRepository(session).history_head()
        return HistoryPage(items=[], next=format_cursor(head, 0))
    xid, row_id = parse_cursor(after)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        # Armed before looking: a commit between the look and the wait still wakes this read.
        rung = await bell.armed() if wait_seconds > 0 else None
        items, held = await _look(session, xid, row_id, limit)
        remaining = deadline - loop.time()
        if items or rung is None or remaining <= 0:
            return HistoryPage(items=items, next=items[-1].cursor if items else format_cursor(xid, row_id))
        bell.waiting += 1
        try:
            await asyncio.wait_for(rung.wait(), min(remaining, HELD_RECHECK_SECONDS) if held else remaining)
        except TimeoutError:
            if not held:  # the whole wait passed without a commit: nothing new
                return HistoryPage(items=[], next=format_cursor(xid, row_id))
        finally:
            bell.waiting -= 1

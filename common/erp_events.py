"""The ERP's events, recorded once each by the service that owns their object (docs/erp.md, part C).

The gateway's ERP webhook hands each event to its owner: a sales order's
status to orders, a material's data and a stock count to inventory, a
customer to identity. Each of those databases has an ``erp_events`` table
(its own migration), written here: one row per ``event_id`` (the primary key),
with the event's ``occurred_at``, what became of it (``status``) and the event
as received (``body``). So an event applies at most once, whatever the ERP
repeats, and an operator can see every event that changed nothing:

* ``applied``: it was the newest news of its object and changed it;
* ``stale``: something as new or newer was already applied (an event
  overtaken by a later one, or by the master-data import); nothing changed;
* ``dead_letter``: it names an object PakLog does not know (``reason``
  says which), or one it cannot apply (a count below the reserved units);
  kept with its body for an operator;
* a repeat of a recorded ``event_id`` answers ``duplicate`` (with the
  first outcome's ``status``) and changes nothing; the same id with another
  body is 409 ``EventMismatch``.

The owning service decides the status under a lock on the object (its row,
``FOR UPDATE``), inserts the event row first and applies the change only when
that insert took the id: two copies of one event racing each other change
the object once. Everything runs in the caller's transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from common.erp_import import ChangeTime
from common.errors import Conflict
from common.sql import Sql, driver_connection

#: The ERP's event ids are UUIDs; anything of this shape is taken.
EVENT_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,100}$"
#: The longest page of ``GET .../erp-events``.
MAX_EVENTS_PAGE = 1000
#: Bounded: deep offsets cost a scan, and nobody reads this far into a dead-letter list.
MAX_EVENTS_OFFSET = 1_000_000


class EventStatus(StrEnum):
    """What became of a recorded event."""

    APPLIED = "applied"
    STALE = "stale"
    DEAD_LETTER = "dead_letter"


class EventResult(StrEnum):
    """What a delivery of an event did: its status the first time, ``duplicate`` on every repeat."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"
    DEAD_LETTER = "dead_letter"


class ErpEventIn(BaseModel):
    """The envelope every service's ``POST .../erp-events`` takes; each adds the object's converted data."""

    model_config = ConfigDict(extra="forbid", strict=True)

    event_id: str = Field(pattern=EVENT_ID_PATTERN, examples=["0b6f7c9e-3f5e-4c1a-9d55-2f6d1b8e7a10"])
    object_id: str = Field(min_length=1, max_length=100, examples=["MUG-RED"])
    occurred_at: ChangeTime = Field(strict=False, examples=["2026-05-04T10:15:00.000001Z"])
    #: The event as the ERP sent it (kept with a dead letter, so an operator sees what came).
    body: dict[str, Any]


class ErpEventRecorded(BaseModel):
    """What one delivery of an event did; ``status`` is its recorded outcome (a duplicate's first one)."""

    event_id: str
    type: str
    object_id: str
    result: EventResult
    status: EventStatus
    reason: str | None = Field(default=None, examples=["UnknownMaterial"])


class ErpEventPublic(BaseModel):
    """A recorded event."""

    event_id: str
    type: str
    object_id: str
    occurred_at: datetime
    status: EventStatus
    reason: str | None
    received_at: datetime
    body: dict[str, Any]


class ErpEventPage(BaseModel):
    """Recorded events, newest received first; ``total``: events matching the filter, on every page."""

    items: list[ErpEventPublic]
    total: int
    limit: int
    offset: int


#: The first outcome of an event id, and whether this delivery carries the same body.
LOOKUP_SQL = Sql(
    "SELECT type, object_id, status, reason, body = CAST(:body AS jsonb) AS same"
    " FROM erp_events WHERE event_id = :event_id",
    json=("body",),
)
#: Record an event; no row back: another delivery of it got there first.
INSERT_SQL = Sql(
    "INSERT INTO erp_events (event_id, object_id, type, occurred_at, status, reason, body, received_at)"
    " VALUES (:event_id, :object_id, :type, :occurred_at, :status, :reason, :body, :received_at)"
    " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
    json=("body",),
)
_COLUMNS = "event_id, type, object_id, occurred_at, status, reason, received_at, body"
LIST_SQL = Sql(
    f"SELECT {_COLUMNS} FROM erp_events ORDER BY received_at DESC, event_id DESC LIMIT :limit OFFSET :offset"
)
LIST_BY_STATUS_SQL = Sql(
    f"SELECT {_COLUMNS} FROM erp_events WHERE status = :status"
    " ORDER BY received_at DESC, event_id DESC LIMIT :limit OFFSET :offset"
)
COUNT_SQL = Sql("SELECT count(*) FROM erp_events")
COUNT_BY_STATUS_SQL = Sql("SELECT count(*) FROM erp_events WHERE status = :status")


async def recorded(session: AsyncSession, event: ErpEventIn, event_type: str) -> ErpEventRecorded | None:
    """The answer to a repeat of a recorded event (``duplicate``); None for an event not seen yet.

    Raises:
        Conflict: ``EventMismatch``: the id was recorded with another body.
    """
    db = await driver_connection(session)
    row = await LOOKUP_SQL.fetchrow(db, event_id=event.event_id, body=event.body)
    if row is None:
        return None
    if not row["same"] or row["type"] != event_type:
        raise Conflict(f"event {event.event_id} was received before with another body", type="EventMismatch")
    return ErpEventRecorded(
        event_id=event.event_id,
        type=row["type"],
        object_id=row["object_id"],
        result=EventResult.DUPLICATE,
        status=EventStatus(row["status"]),
        reason=row["reason"],
    )


async def record(
    session: AsyncSession, event: ErpEventIn, event_type: str, status: EventStatus, reason: str | None = None
) -> ErpEventRecorded:
    """Record the event with its outcome; when another delivery of it got there first, answer that one.

    The caller applies the change only when the answer's ``result`` is not ``duplicate``.

    Raises:
        Conflict: ``EventMismatch`` (see :func:`recorded`).
    """
    db = await driver_connection(session)
    inserted = await INSERT_SQL.fetchval(
        db,
        event_id=event.event_id,
        object_id=event.object_id,
        type=event_type,
        occurred_at=event.occurred_at,
        status=status.value,
        reason=reason,
        body=event.body,
        received_at=datetime.now(UTC),
    )
    if inserted is None:
        repeat = await recorded(session, event, event_type)
        assert repeat is not None  # rows of erp_events are never deleted
        return repeat
    return ErpEventRecorded(
        event_id=event.event_id,
        type=event_type,
        object_id=event.object_id,
        result=EventResult(status.value),
        status=status,
        reason=reason,
    )


async def list_events(session: AsyncSession, *, status: EventStatus | None, limit: int, offset: int) -> ErpEventPage:
    """A page of recorded events (of one status, or all), newest received first."""
    db = await driver_connection(session)
    if status is None:
        rows = await LIST_SQL.fetch(db, limit=limit, offset=offset)
        total = await COUNT_SQL.fetchval(db)
    else:
        rows = await LIST_BY_STATUS_SQL.fetch(db, status=status.value, limit=limit, offset=offset)
        total = await COUNT_BY_STATUS_SQL.fetchval(db, status=status.value)
    return ErpEventPage(
        items=[ErpEventPublic.model_validate(dict(row)) for row in rows], total=total, limit=limit, offset=offset
    )

"""``Idempotency-Key`` handling shared by every service.

A mutating route runs its work through :func:`idempotent` inside its unit of
work. The key is inserted under a primary-key constraint in the same
transaction as the work and the stored response, so a repeat (even a
concurrent one, which waits on the row lock) answers with the original
status and body, and a crash before commit leaves no trace at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from sqlalchemy import Column, DateTime
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlmodel import Field, SQLModel, col, update
from sqlmodel.ext.asyncio.session import AsyncSession

from common.errors import Conflict

IdempotencyKeyDep = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, description="Repeat-safe request key"),
]


class IdempotencyRecord(SQLModel, table=True):
    """One processed request; every service database has this table."""

    __tablename__ = "idempotency_keys"

    key: str = Field(primary_key=True, max_length=200)
    fingerprint: str = Field(max_length=64)
    status_code: int | None = None
    response: Any = Field(default=None, sa_column=Column(JSONB, nullable=True))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


@dataclass(frozen=True, slots=True)
class IdempotentResult:
    """What a route answers: the original response, and whether it is a replay."""

    status_code: int
    body: Any
    replayed: bool = False

    def response(self) -> JSONResponse:
        """Render as JSON, marking replays with ``Idempotent-Replayed: true``."""
        headers = {"Idempotent-Replayed": "true"} if self.replayed else None
        return JSONResponse(self.body, status_code=self.status_code, headers=headers)


def fingerprint(*parts: Any) -> str:
    """A stable hash of the request (path, body) a key was first used with."""
    canonical = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


Operation = Callable[[], Awaitable[tuple[int, Any]]]


async def idempotent(
    session: AsyncSession, key: str | None, request_fingerprint: str, operation: Operation
) -> IdempotentResult:
    """Run ``operation`` at most once per ``key``; call inside ``session.begin()``.

    Args:
        session: The session whose open transaction also holds the work.
        key: The caller's ``Idempotency-Key``; ``None`` runs the operation plainly.
        request_fingerprint: From :func:`fingerprint`; a key reused for a
            different request is a 409 ``IdempotencyKeyReused``.
        operation: Does the work and returns ``(status_code, json_body)``.
            Raising a ``DomainError`` rolls the key back with the work.

    Returns:
        The response to send, original or replayed.
    """
    if key is None:
        status_code, body = await operation()
        return IdempotentResult(status_code, body)

    table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
    claimed = await session.exec(
        insert(table)
        .values(key=key, fingerprint=request_fingerprint, created_at=datetime.now(UTC))
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(table.c.key)
    )
    if claimed.first() is None:
        existing = await session.get(IdempotencyRecord, key, populate_existing=True)
        if existing is None or existing.status_code is None:  # pragma: no cover - the row is committed before we see it
            raise Conflict("request with this Idempotency-Key is still in progress", type="IdempotencyKeyInProgress")
        if existing.fingerprint != request_fingerprint:
            raise Conflict("Idempotency-Key was already used for a different request", type="IdempotencyKeyReused")
        return IdempotentResult(existing.status_code, existing.response, replayed=True)

    status_code, body = await operation()
    await session.exec(
        update(IdempotencyRecord)
        .where(col(IdempotencyRecord.key) == key)
        .values(status_code=status_code, response=body)
    )
    return IdempotentResult(status_code, body)

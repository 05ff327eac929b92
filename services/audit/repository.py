"""Every audit query. Repositories never commit; the caller's unit of work does.

The runtime role may only ``INSERT`` and ``SELECT`` (the migration's grants):
nothing here updates or deletes, and the chain is made linear with a
transaction-scoped advisory lock, which needs no privilege on any table
(``SELECT ... FOR UPDATE`` would need ``UPDATE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.sql import Sql, driver_connection
from services.audit.models import AuditRecord

#: Key of the advisory lock every append holds until it commits: one append at a time, so seq is gap-free.
CHAIN_LOCK_KEY = 0x7061_6B6C_6F67_6175  # "paklogau"

LOCK_SQL = Sql("SELECT pg_advisory_xact_lock(:key)")
HEAD_SQL = Sql("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1")
KNOWN_SQL = Sql("SELECT record_id FROM audit_records WHERE record_id = ANY(CAST(:ids AS text[]))")
INSERT_SQL = Sql(
    """
    INSERT INTO audit_records (seq, record_id, at, actor, actor_id, role, client, method, path, route, status,
                               request_id, workflow_id, order_id, request_digest, response_digest, prev_hash, hash)
    VALUES (:seq, :record_id, :at, :actor, :actor_id, :role, :client, :method, :path, :route, :status,
            :request_id, :workflow_id, :order_id, :request_digest, :response_digest, :prev_hash, :hash)
    """
)


@dataclass(frozen=True, slots=True)
class Filters:
    """What ``GET /records`` narrows the trail to; None means "any"."""

    actor: str | None = None
    path: str | None = None
    order_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(filters: Filters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.actor is not None:
        conditions.append(col(AuditRecord.actor) == filters.actor)
    if filters.path is not None:
        # The concrete path or the route template, exactly, or anything below the path.
        below = _escape_like(filters.path.rstrip("/")) + "/%"
        conditions.append(
            or_(
                col(AuditRecord.path) == filters.path,
                col(AuditRecord.route) == filters.path,
                col(AuditRecord.path).like(below, escape="\\"),
            )
        )
    if filters.order_id is not None:
        conditions.append(col(AuditRecord.order_id) == filters.order_id)
    if filters.since is not None:
        conditions.append(col(AuditRecord.at) >= filters.since)
    if filters.until is not None:
        conditions.append(col(AuditRecord.at) < filters.until)
    return conditions


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_chain(self) -> None:
        """Hold the chain until this transaction ends (appends queue here, in arrival order)."""
        await LOCK_SQL.execute(await driver_connection(self.session), key=CHAIN_LOCK_KEY)

    async def head(self) -> tuple[int, str] | None:
        """The newest record's ``(seq, hash)``, None for an empty chain."""
        row = await HEAD_SQL.fetchrow(await driver_connection(self.session))
        return None if row is None else (row["seq"], row["hash"])

    async def known_record_ids(self, record_ids: Sequence[str]) -> set[str]:
        rows = await KNOWN_SQL.fetch(await driver_connection(self.session), ids=list(record_ids))
        return {row["record_id"] for row in rows}

    async def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert chained rows (pipelined, in order)."""
        if rows:
            db = await driver_connection(self.session)
            await db.executemany(INSERT_SQL.sql, [INSERT_SQL.args(row) for row in rows])

    async def page(
        self, filters: Filters, *, limit: int, offset: int, oldest_first: bool, after_seq: int | None = None
    ) -> tuple[Sequence[AuditRecord], int]:
        """Records matching ``filters`` in ``seq`` order (newest first unless ``oldest_first``), strictly past
        ``after_seq`` in that order when given, and how many match in all."""
        where = and_(True, *_conditions(filters))
        total = (await self.session.exec(select(func.count()).select_from(AuditRecord).where(where))).one()
        seq = col(AuditRecord.seq)
        stmt = select(AuditRecord).where(where)
        if after_seq is not None:
            stmt = stmt.where(seq > after_seq if oldest_first else seq < after_seq)
        rows = await self.session.exec(
            stmt.order_by(seq.asc() if oldest_first else seq.desc()).limit(limit).offset(offset)
        )
        return rows.all(), total

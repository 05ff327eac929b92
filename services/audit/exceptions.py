"""The central exception log: what every process ships (``POST /exceptions``) and operators read.

Rows are independent (not hash-chained, not part of the audit trail); the
runtime role may insert and read them, nothing else. A row stands for
``count`` occurrences of one fingerprint (the exception's type and innermost
frames): a process ships the first few of a minute one by one and the rest as
one row with their number (:mod:`common.exception_log`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, Column, DateTime, Identity, Integer, func, insert
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from common.db import SessionDep
from common.errors import ErrorBody, RuleViolation

#: The most records one ``POST /exceptions`` may carry.
MAX_BATCH = 500
MAX_MESSAGE = 2000
MAX_STACK = 8000


class ExceptionBase(SQLModel):
    """One exception (or ``count`` alike) as a process logged it."""

    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    service: str = Field(max_length=64)
    host: str = Field(max_length=255)
    pid: int = Field(sa_column=Column(Integer, nullable=False))
    logger: str = Field(max_length=255)
    level: str = Field(max_length=16)
    type: str = Field(max_length=255)
    message: str = Field(max_length=MAX_MESSAGE)
    stack: str = Field(max_length=MAX_STACK)
    request_id: str | None = Field(default=None, max_length=64)
    workflow_id: str | None = Field(default=None, max_length=200)
    activity: str | None = Field(default=None, max_length=200)
    fingerprint: str = Field(max_length=64)
    count: int = Field(sa_column=Column(Integer, nullable=False))


class ExceptionRecord(ExceptionBase, table=True):
    __tablename__ = "exceptions"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True))
    received_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


_Text = PydanticField


class ExceptionCreate(BaseModel):
    """What a process ships; text longer than the column is refused (the shipper cuts it first)."""

    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime
    service: str = _Text(min_length=1, max_length=64)
    host: str = _Text(min_length=1, max_length=255)
    pid: int = _Text(ge=0, le=2**31 - 1)
    logger: str = _Text(min_length=1, max_length=255)
    level: str = _Text(pattern=r"^[A-Z]{1,16}$")
    type: str = _Text(min_length=1, max_length=255)
    message: str = _Text(max_length=MAX_MESSAGE)
    stack: str = _Text(max_length=MAX_STACK)
    request_id: str | None = _Text(default=None, min_length=1, max_length=64)
    workflow_id: str | None = _Text(default=None, min_length=1, max_length=200)
    activity: str | None = _Text(default=None, min_length=1, max_length=200)
    fingerprint: str = _Text(pattern=r"^[0-9a-f]{16,64}$")
    count: int = _Text(default=1, ge=1, le=2**31 - 1)


class ExceptionBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ExceptionCreate] = _Text(min_length=1, max_length=MAX_BATCH)


class ExceptionsStored(BaseModel):
    stored: int


class ExceptionPublic(ExceptionBase):
    id: int
    received_at: datetime


class ExceptionPage(BaseModel):
    """Newest first; ``next_cursor`` continues below the last row (rows stored meanwhile are not seen twice)."""

    items: list[ExceptionPublic]
    total: int
    limit: int
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ExceptionFilters:
    since: datetime | None = None
    until: datetime | None = None
    service: str | None = None
    request_id: str | None = None
    type: str | None = None


class ExceptionRepository:
    """Every query of the exception log; never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, items: Sequence[ExceptionCreate]) -> None:
        # One multi-row INSERT: a full batch is 500 x 14 parameters, well under PostgreSQL's 32767.
        await self.session.exec(insert(ExceptionRecord).values([item.model_dump() for item in items]))

    async def page(
        self, filters: ExceptionFilters, *, limit: int, before_id: int | None
    ) -> tuple[Sequence[ExceptionRecord], int]:
        conditions = []
        if filters.since is not None:
            conditions.append(col(ExceptionRecord.at) >= filters.since)
        if filters.until is not None:
            conditions.append(col(ExceptionRecord.at) < filters.until)
        for column, value in (
            (ExceptionRecord.service, filters.service),
            (ExceptionRecord.request_id, filters.request_id),
            (ExceptionRecord.type, filters.type),
        ):
            if value is not None:
                conditions.append(col(column) == value)
        total = (await self.session.exec(select(func.count()).select_from(ExceptionRecord).where(*conditions))).one()
        if before_id is not None:
            conditions.append(col(ExceptionRecord.id) < before_id)
        query = select(ExceptionRecord).where(*conditions).order_by(col(ExceptionRecord.id).desc()).limit(limit)
        return (await self.session.exec(query)).all(), total


async def get_repo(session: SessionDep) -> ExceptionRepository:
    return ExceptionRepository(session)


RepoDep = Annotated[ExceptionRepository, Depends(get_repo)]

router = APIRouter(tags=["exceptions"])


@router.post("/exceptions", response_model=ExceptionsStored, responses={422: {"model": ErrorBody}})
async def store_exceptions(body: ExceptionBatch, repo: RepoDep) -> ExceptionsStored:
    """Store a batch of 1-500 exceptions (a resent batch is stored again: it is a log, not a ledger)."""
    async with repo.session.begin():
        await repo.insert(body.items)
    return ExceptionsStored(stored=len(body.items))


@router.get("/exceptions", response_model=ExceptionPage, responses={422: {"model": ErrorBody}})
async def list_exceptions(
    repo: RepoDep,
    since: Annotated[AwareDatetime | None, Query(description="Logged at or after this time")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Logged before this time")] = None,
    service: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    request_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    type: Annotated[str | None, Query(min_length=1, max_length=255, description="The exception's type")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ExceptionPage:
    """A page of the exception log, newest first."""
    if since is not None and until is not None and since >= until:
        raise RuleViolation("since must be before until", type="ValidationError")
    before_id = _cursor_id(cursor)
    filters = ExceptionFilters(since=since, until=until, service=service, request_id=request_id, type=type)
    async with repo.session.begin():
        rows, total = await repo.page(filters, limit=limit, before_id=before_id)
    items = [ExceptionPublic.model_validate(row, from_attributes=True) for row in rows]
    next_cursor = _encode_cursor(items[-1].id) if len(items) == limit else None
    return ExceptionPage(items=items, total=total, limit=limit, next_cursor=next_cursor)


_CURSOR_PREFIX = "exceptions:"


def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


def _cursor_id(cursor: str | None) -> int | None:
    """The id a cursor of :func:`_encode_cursor` continues below; 422 ``InvalidCursor`` for anything else."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    number = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or not number.isdigit() or len(number) > 18 or int(number) < 1:
        raise RuleViolation("cursor is not one this list gave out; start again without it", type="InvalidCursor")
    return int(number)

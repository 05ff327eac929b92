"""Audit routes: append a batch (the gateway's drainer), read a page (the gateway's ``GET /api/audit``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime

from common.db import SessionDep
from common.errors import ErrorBody, RuleViolation
from common.paging import MAX_CURSOR_LENGTH, decode_key_cursor, encode_key_cursor
from services.audit import service
from services.audit.models import AppendBatch, AppendResult, AuditPage, AuditRecordPublic
from services.audit.repository import AuditRepository, Filters

#: Deep offsets are cheap to ask and expensive to answer.
MAX_OFFSET = 1_000_000
#: The names that bind a cursor to its order (:func:`common.paging.encode_key_cursor`).
NEWEST_FIRST_LIST = "audit:desc"
OLDEST_FIRST_LIST = "audit:asc"


async def get_repo(session: SessionDep) -> AuditRepository:
    return AuditRepository(session)


RepoDep = Annotated[AuditRepository, Depends(get_repo)]

router = APIRouter(tags=["audit"])


@router.post("/records", response_model=AppendResult, responses={422: {"model": ErrorBody}})
async def append_records(body: AppendBatch, repo: RepoDep) -> AppendResult:
    """Append 1-1000 records in order; resending a batch (same ``record_id``s) appends nothing twice."""
    async with repo.session.begin():
        return await service.append(repo, body)


@router.get("/records", response_model=AuditPage, responses={422: {"model": ErrorBody}})
async def list_records(
    repo: RepoDep,
    actor: Annotated[str | None, Query(min_length=1, max_length=254)] = None,
    path: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=2048,
            pattern=r"^/",
            description="A concrete path or route template, exactly, or any path below it",
        ),
    ] = None,
    order_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    since: Annotated[AwareDatetime | None, Query(description="Calls at or after this time")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Calls before this time")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    oldest_first: bool = False,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            description="A previous page's next_cursor (same order): the page after it (422 InvalidCursor if not)",
        ),
    ] = None,
) -> AuditPage:
    """A page of the trail, newest first (``oldest_first=true``: in ``seq`` order).

    ``cursor`` continues after a page's last record (by ``seq``: records
    appended meanwhile are never seen twice); ``offset`` then skips further.
    """
    if since is not None and until is not None and since >= until:
        raise RuleViolation("since must be before until", type="ValidationError")
    listing = OLDEST_FIRST_LIST if oldest_first else NEWEST_FIRST_LIST
    after = decode_key_cursor(cursor, listing, int) if cursor is not None else None
    filters = Filters(actor=actor, path=path, order_id=order_id, since=since, until=until)
    async with repo.session.begin():
        # One row more than asked tells whether another page follows.
        rows, total = await repo.page(
            filters, limit=limit + 1, offset=offset, oldest_first=oldest_first, after_seq=after
        )
    page = rows[:limit]
    return AuditPage(
        items=[AuditRecordPublic.model_validate(row, from_attributes=True) for row in page],
        total=total,
        limit=limit,
        offset=offset,
        next_cursor=encode_key_cursor(listing, page[-1].seq) if len(rows) > limit else None,
    )

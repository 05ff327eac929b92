"""What ``GET /api/audit`` answers: a page of the audit service's records."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class AuditRecordView(BaseModel):
    """One gateway call, as the audit trail holds it (bodies only as keyed digests)."""

    seq: int = Field(description="Position in the chain: 1, 2, 3 ... without gaps")
    record_id: str
    at: datetime = Field(description="When the call arrived at the gateway")
    actor: str | None = Field(description="Username (a partner: its client id) from the verified token")
    actor_id: str | None
    role: str | None
    client: str | None = Field(description="A partner system's OAuth2 client id")
    method: str
    path: str
    route: str | None = Field(description="The route template, e.g. /api/orders/{order_id}")
    status: int
    request_id: str | None = Field(description="The X-Request-ID correlation id")
    workflow_id: str | None
    order_id: str | None
    request_digest: str | None = Field(description="HMAC-SHA256 of the request body; null without one")
    response_digest: str | None = Field(description="HMAC-SHA256 of the response body; null without one")
    prev_hash: str
    hash: str


class AuditPageView(BaseModel):
    """A page of the trail, newest first (DESIGN.md's list shape); walk with ``?cursor=<next_cursor>``."""

    items: list[AuditRecordView]
    total: int = Field(description="Records matching the filters, on every page")
    limit: int
    offset: int
    next_cursor: str | None = Field(
        default=None, description="Opaque; continue with ?cursor= (same filters), null when there is no next page"
    )


class ExceptionView(BaseModel):
    """One unexpected exception (or ``count`` alike) a process logged (docs/errors-and-tracing.md)."""

    id: int
    at: datetime = Field(description="When it was logged (the latest of them when count > 1)")
    received_at: datetime
    service: str = Field(description="The process: gateway, orders, worker ...")
    host: str
    pid: int
    logger: str
    level: str
    type: str = Field(description="The exception's type, e.g. builtins.KeyError")
    message: str
    stack: str = Field(description="The innermost frames, bounded")
    request_id: str | None = Field(description="The X-Request-ID correlation id")
    workflow_id: str | None
    activity: str | None
    fingerprint: str = Field(description="Type and innermost frames: alike exceptions share it")
    count: int = Field(description="Occurrences this row stands for (a storm is counted, not stored row by row)")


class ExceptionPageView(BaseModel):
    """A page of the exception log, newest first; ``next_cursor`` continues it."""

    items: list[ExceptionView]
    total: int
    limit: int
    next_cursor: str | None

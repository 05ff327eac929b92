"""``/api/audit``: the audit trail of every gateway call; ``/api/admin/exceptions``: the exception log.

Both for operators and admins; customers and partners get 403.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BeforeValidator

from common.errors import RuleViolation
from common.paging import MAX_CURSOR_LENGTH
from gateway.audit.models import AuditPageView, ExceptionPageView
from gateway.auth import StaffDep
from gateway.clients import ServiceClients
from gateway.errors import error_responses

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=error_responses(401, 403, 422, 502, 503))
exceptions_router = APIRouter(
    prefix="/api/admin/exceptions", tags=["admin"], responses=error_responses(401, 403, 422, 502, 503)
)
MAX_OFFSET = 1_000_000
_ISO_DATE_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]")


def _iso_text(value: Any) -> Any:
    # An ISO 8601 date-time only: pydantic would read a bare number ("0.5") as a Unix timestamp.
    if isinstance(value, str) and not _ISO_DATE_TIME.match(value):
        raise ValueError("must be an ISO 8601 date-time with an offset")
    return value


#: A moment in a query: ISO 8601 with a zone, as the document says (``format: date-time``).
Moment = Annotated[AwareDatetime, BeforeValidator(_iso_text)]


@router.get("", response_model=AuditPageView)
async def audit_trail(
    request: Request,
    _: StaffDep,
    actor: Annotated[str | None, Query(min_length=1, max_length=254, description="Username or client id")] = None,
    path: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=2048,
            pattern=r"^/",
            description="A path or route template (/api/orders/{order_id}), exactly, or any path below it",
        ),
    ] = None,
    order_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    since: Annotated[Moment | None, Query(description="Calls at or after this time (with a zone)")] = None,
    until: Annotated[Moment | None, Query(description="Calls before this time (with a zone)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="A previous page's next_cursor: the page after it (422 InvalidCursor if not one given out)",
        ),
    ] = None,
) -> AuditPageView:
    """A page of recorded calls, newest first: who, what, the status, correlation and workflow ids, body digests.

    Walk with ``cursor`` (each page's ``next_cursor``, with the same filters)
    to see each call once while new ones are recorded; ``offset`` pages shift meanwhile.
    A call shows here once the gateway's outbox has reached the audit service
    (normally within a fraction of a second; after an outage of the audit
    service, once it is back).
    """
    if since is not None and until is not None and since >= until:
        raise RuleViolation("since must be before until", type="ValidationError")
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    for name, value in (("actor", actor), ("path", path), ("order_id", order_id), ("cursor", cursor)):
        if value is not None:
            params[name] = value
    for name, moment in (("since", since), ("until", until)):
        if moment is not None:
            params[name] = moment.isoformat()
    clients: ServiceClients = request.app.state.clients
    return await clients.audit_records(params)


@exceptions_router.get("", response_model=ExceptionPageView)
async def exception_log(
    request: Request,
    _: StaffDep,
    since: Annotated[Moment | None, Query(description="Logged at or after this time (with a zone)")] = None,
    until: Annotated[Moment | None, Query(description="Logged before this time (with a zone)")] = None,
    service: Annotated[
        str | None, Query(min_length=1, max_length=64, description="The process: gateway, orders, worker ...")
    ] = None,
    request_id: Annotated[str | None, Query(min_length=1, max_length=64, description="An X-Request-ID")] = None,
    type: Annotated[str | None, Query(min_length=1, max_length=255, description="e.g. builtins.KeyError")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> ExceptionPageView:
    """A page of the unexpected exceptions every process logged, newest first, with stack and correlation id.

    Quote a 500's ``X-Request-ID`` as ``request_id`` to find its exception. A
    row with ``count`` > 1 stands for a burst of alike exceptions.
    """
    if since is not None and until is not None and since >= until:
        raise RuleViolation("since must be before until", type="ValidationError")
    params: dict[str, Any] = {"limit": limit}
    for name, value in (("service", service), ("request_id", request_id), ("type", type), ("cursor", cursor)):
        if value is not None:
            params[name] = value
    for name, moment in (("since", since), ("until", until)):
        if moment is not None:
            params[name] = moment.isoformat()
    clients: ServiceClients = request.app.state.clients
    return await clients.exceptions(params)

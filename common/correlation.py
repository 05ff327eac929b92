"""The correlation id (``X-Request-ID``) of the work a process is doing right now.

One id follows a call across processes (docs/errors-and-tracing.md):

* :class:`common.middleware.RequestContextMiddleware` takes the caller's
  ``X-Request-ID`` (or makes one) and sets it here for the request;
* every call made with the pooled client of :func:`common.http.create_http_client`
  sends it on as ``X-Request-ID`` (:func:`send_request_id`, an httpx event hook);
* :mod:`common.tracing` carries it through Temporal: the workflow's memo, the
  ``paklog-request-id`` header of starts, signals, updates and queries, and of
  every activity and child workflow a workflow schedules; an activity sets it
  here again while it runs.

It lives in its own :class:`~contextvars.ContextVar` (a lookup per outgoing
call), beside the structlog binding that puts it on log lines.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpx

REQUEST_ID_HEADER = "X-Request-ID"
#: Longest id taken from a caller (longer ones are cut): the audit trail and the exception log store 64.
MAX_REQUEST_ID_LENGTH = 64

_request_id: ContextVar[str | None] = ContextVar("paklog_request_id", default=None)


def new_request_id() -> str:
    """A fresh id: 32 hex digits."""
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request (or activity) this code runs for, if any."""
    return _request_id.get()


@contextmanager
def request_id_context(request_id: str | None) -> Iterator[None]:
    """Make ``request_id`` current inside the block (None: no id), restoring the previous one after."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


async def send_request_id(request: httpx.Request) -> None:
    """httpx request hook: add ``X-Request-ID`` when an id is current and the caller set none."""
    request_id = _request_id.get()
    if request_id is not None and REQUEST_ID_HEADER not in request.headers:
        request.headers[REQUEST_ID_HEADER] = request_id

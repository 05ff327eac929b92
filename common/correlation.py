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

import threading
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


#: Workflow run id -> the id that run works for now (set by :mod:`common.tracing`'s workflow interceptor), for
#: the exception log's record of a failed workflow task: the SDK logs it outside the workflow, where the
#: interceptor's state is out of reach. Bounded: the oldest entry goes first.
_RUN_REQUEST_IDS: dict[str, str] = {}
_RUN_REQUEST_IDS_MAX = 10_000
_runs_lock = threading.Lock()


def remember_run(run_id: str, request_id: str) -> None:
    """Note the id a workflow run (on this worker) works for now."""
    with _runs_lock:
        if run_id not in _RUN_REQUEST_IDS and len(_RUN_REQUEST_IDS) >= _RUN_REQUEST_IDS_MAX:
            del _RUN_REQUEST_IDS[next(iter(_RUN_REQUEST_IDS))]
        _RUN_REQUEST_IDS[run_id] = request_id


def run_request_id(run_id: str) -> str | None:
    """The id the workflow run ``run_id`` worked for most recently on this worker, if known."""
    return _RUN_REQUEST_IDS.get(run_id)

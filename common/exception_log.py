"""Shipping unexpected exceptions to the central exception log (the audit service's ``POST /exceptions``).

:func:`common.logging.configure_logging` installs :class:`ExceptionLogHandler`
when an exceptions URL is configured (``PAKLOG_EXCEPTIONS_URL``; ``paklog dev``
and the test platform set it for every child). It takes:

* records at ERROR and above that carry an exception (``exc_info``): the
  500s of :class:`common.middleware.RequestContextMiddleware`, uvicorn's
  "Exception in ASGI application", an activity's unexpected exception
  (:mod:`common.tracing`), anything logged with ``log.exception``;
* the Temporal SDK's "Failed activation" (a workflow task failure: a bug in
  workflow code, or nondeterminism), which it logs at WARNING.

Each becomes a record with its bounded stack (:func:`common.logging.short_traceback`),
``request_id``, ``workflow_id`` and ``activity`` (from the log line or the
bound context), the process, host and pid, and a fingerprint (the type and
innermost frames). Cheap to log: per fingerprint the first :attr:`ExceptionShipper.burst`
of a window (a minute) are formatted and queued; the rest are only counted,
and shipped as one record with their ``count`` when the window closes. The
queue is bounded (the oldest records go first, counted in :attr:`ExceptionShipper.dropped`).

A daemon thread ships batches with its own small synchronous HTTP client (so
it works in any process, async or not) and retries with backoff while the
audit service is down. Shipping never raises into the code that logged, and
never ships its own troubles: those are WARNING lines without ``exc_info``.
Its requests carry an ``X-Request-ID`` starting with :data:`SHIPPER_REQUEST_PREFIX`;
an exception raised while serving one is logged but not shipped again, so a
broken exception log cannot feed itself.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx
import structlog

from common.correlation import REQUEST_ID_HEADER, run_request_id
from common.service_auth import service_headers

#: The logger of the shipper's own troubles (never shipped).
SHIPPER_LOGGER = "paklog.exception_log"
#: Request ids of the shipper's own calls start with this.
SHIPPER_REQUEST_PREFIX = "exlog-"
MAX_MESSAGE = 2000
MAX_STACK = 8000
#: Frames of the innermost traceback that make a fingerprint (with the type).
FINGERPRINT_FRAMES = 3
_WORKFLOW_TASK_FAILURE = "WorkflowTaskFailure"

log = structlog.stdlib.get_logger(SHIPPER_LOGGER)

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def fingerprint(exc: BaseException) -> str:
    """32 hex digits over the exception's type and its innermost frames (file and function, not line)."""
    parts = [f"{type(exc).__module__}.{type(exc).__qualname__}"]
    frames: list[str] = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append(f"{os.path.basename(code.co_filename)}:{code.co_name}")
        tb = tb.tb_next
    parts += frames[-FINGERPRINT_FRAMES:]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class _Window:
    """One fingerprint's current window: how many were queued, how many only counted, and the latest of those."""

    started: float
    queued: int = 0
    counted: int = 0
    example: dict[str, Any] | None = None
    latest_at: str | None = None
    latest_request_id: str | None = None
    latest_workflow_id: str | None = None


class ExceptionShipper:
    """The bounded queue, the per-fingerprint rate limit and the shipping thread.

    Args:
        url: ``POST`` target (the audit service's ``/exceptions``).
        service_token: ``PAKLOG_SERVICE_TOKEN``.
        process: This process's name (``gateway``, ``orders``, ``worker`` ...).
        capacity: Records held at most; beyond it the oldest are dropped (counted).
        burst: Records per fingerprint and window shipped one by one; the rest are counted into one.
        window_seconds: The rate limit's window.
        batch_size: Records per ``POST``.
        interval_seconds: How long a record may wait for its batch.
        retry_max_seconds: The longest wait between two attempts while the target is down.
    """

    def __init__(
        self,
        url: str,
        service_token: str,
        process: str,
        *,
        capacity: int = 10_000,
        burst: int = 10,
        window_seconds: float = 60.0,
        batch_size: int = 100,
        interval_seconds: float = 1.0,
        retry_max_seconds: float = 30.0,
    ) -> None:
        self.url = url
        self.process = process[:64] or "unknown"
        self.host = socket.gethostname()[:255] or "unknown"
        self.pid = os.getpid()
        self.capacity = capacity
        self.burst = burst
        self.window_seconds = window_seconds
        self.batch_size = batch_size
        self.interval_seconds = interval_seconds
        self.retry_max_seconds = retry_max_seconds
        #: Records dropped because the queue was full (the target was down too long).
        self.dropped = 0
        #: Records the target has stored.
        self.shipped = 0
        self._headers = {**service_headers(service_token), REQUEST_ID_HEADER: f"{SHIPPER_REQUEST_PREFIX}{self.pid}"}
        self._queue: deque[dict[str, Any]] = deque()
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None

    # -- the logging side (any thread) ---------------------------------------------------------------------
    def admit(self, key: str, at: str, request_id: str | None, workflow_id: str | None) -> bool:
        """Whether a record of this fingerprint is to be queued in full; otherwise it is counted here."""
        now = time.monotonic()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window.started >= self.window_seconds:
                if window is not None:
                    self._close(window)
                window = self._windows[key] = _Window(started=now)
            if window.queued < self.burst:
                window.queued += 1
                return True
            window.counted += 1
            window.latest_at, window.latest_request_id, window.latest_workflow_id = at, request_id, workflow_id
            return False

    def put(self, record: dict[str, Any]) -> None:
        """Queue a record admitted by :meth:`admit` (it becomes its window's example)."""
        with self._lock:
            window = self._windows.get(record["fingerprint"])
            if window is not None and window.example is None:
                window.example = record
            self._append(record)
        self._idle.clear()

    def _append(self, record: dict[str, Any]) -> None:
        if len(self._queue) >= self.capacity:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(record)

    def _close(self, window: _Window) -> None:
        """Queue the window's counted records as one (caller holds the lock)."""
        if window.counted and window.example is not None:
            self._append(
                {
                    **window.example,
                    "at": window.latest_at or window.example["at"],
                    "request_id": window.latest_request_id,
                    "workflow_id": window.latest_workflow_id,
                    "count": window.counted,
                }
            )
            self._idle.clear()

    # -- the shipping thread ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the daemon thread (once); the queue is flushed, briefly, when the interpreter exits."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="paklog-exception-log", daemon=True)
            self._thread.start()
            atexit.register(self.close, 2.0)

    def flush(self, timeout: float) -> bool:
        """Close every window and wait up to ``timeout`` for the queue to be shipped; whether it was."""
        with self._lock:
            for window in self._windows.values():
                self._close(window)
            self._windows.clear()
            if not self._queue:
                return True
        self._wake.set()
        return self._idle.wait(timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Ship what is queued (within ``timeout``), then stop the thread."""
        if self._thread is None:
            return
        self.flush(timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def _sweep(self) -> None:
        now = time.monotonic()
        with self._lock:
            expired = [key for key, window in self._windows.items() if now - window.started >= self.window_seconds]
            for key in expired:
                self._close(self._windows.pop(key))

    def _take(self) -> list[dict[str, Any]]:
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
            if not batch and not self._queue:
                self._idle.set()
            return batch

    def _give_back(self, batch: list[dict[str, Any]]) -> None:
        with self._lock:
            room = self.capacity - len(self._queue)
            if room < len(batch):  # the oldest go
                self.dropped += len(batch) - max(room, 0)
                batch = batch[len(batch) - max(room, 0) :]
            self._queue.extendleft(reversed(batch))

    def _run(self) -> None:
        backoff = 0.0
        with httpx.Client(timeout=5.0, headers=self._headers) as http:
            while not self._stop.is_set():
                self._wake.wait(backoff or self.interval_seconds)
                self._wake.clear()
                self._sweep()
                while batch := self._take():
                    problem = self._send(http, batch)
                    if problem is None:
                        self.shipped += len(batch)
                        backoff = 0.0
                        continue
                    if problem == "refused":  # a batch the log will never take: drop it, go on
                        self.dropped += len(batch)
                        continue
                    self._give_back(batch)
                    backoff = min(self.retry_max_seconds, max(0.1, backoff * 2 or 0.25))
                    break

    def _send(self, http: httpx.Client, batch: list[dict[str, Any]]) -> str | None:
        try:
            resp = http.post(self.url, json={"items": batch})
        except httpx.HTTPError as exc:
            log.warning("exception log unreachable", url=self.url, error=repr(exc)[:200], queued=len(self._queue))
            return "unreachable"
        if resp.status_code < 300:
            return None
        log.warning("exception log refused a batch", url=self.url, status=resp.status_code, body=resp.text[:200])
        return "refused" if resp.status_code in (400, 413, 422) else "unavailable"


class ExceptionLogHandler(logging.Handler):
    """Hands exceptions worth the central log (see the module docstring) to an :class:`ExceptionShipper`."""

    def __init__(self, shipper: ExceptionShipper) -> None:
        super().__init__(level=logging.WARNING)
        self.shipper = shipper

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._emit(record)
        except Exception:  # a logging call must never fail because of the exception log
            pass

    def _emit(self, record: logging.LogRecord) -> None:
        if record.name == SHIPPER_LOGGER:
            return
        event = record.msg if isinstance(record.msg, dict) else None
        workflow_failure = record.__dict__.get("__temporal_error_identifier") == _WORKFLOW_TASK_FAILURE
        if record.levelno < logging.ERROR and not workflow_failure:
            return
        exc_info = _exc_info(event.get("exc_info") if event is not None else record.exc_info)
        if exc_info is None:
            return
        bound = event if event is not None else structlog.contextvars.get_contextvars()
        request_id = _text(bound.get("request_id"), 64)
        if request_id is not None and request_id.startswith(SHIPPER_REQUEST_PREFIX):
            return  # raised while storing exceptions: do not feed the log with itself
        workflow_id = _text(bound.get("workflow_id"))
        if workflow_failure:
            details = record.__dict__.get("temporal_workflow") or {}
            workflow_id = _text(details.get("workflow_id")) or workflow_id
            request_id = request_id or run_request_id(str(details.get("run_id", "")))
        exc = exc_info[1]
        print_ = fingerprint(exc)
        at = datetime.fromtimestamp(record.created, UTC).isoformat()
        if not self.shipper.admit(print_, at, request_id, workflow_id):
            return
        from common.logging import short_traceback  # common.logging installs this handler

        message = str(event.get("event", "")) if event is not None else record.getMessage()
        self.shipper.put(
            {
                "at": at,
                "service": self.shipper.process,
                "host": self.shipper.host,
                "pid": self.shipper.pid,
                "logger": record.name[:255] or "root",
                "level": record.levelname[:16],
                "type": f"{type(exc).__module__}.{type(exc).__qualname__}"[:255],
                "message": _cut(f"{message}: {exc}" if message else str(exc), MAX_MESSAGE),
                "stack": _cut(short_traceback(exc_info), MAX_STACK),
                "request_id": request_id,
                "workflow_id": workflow_id,
                "activity": _text(bound.get("activity"), 200),
                "fingerprint": print_,
                "count": 1,
            }
        )


def _text(value: Any, limit: int = 200) -> str | None:
    return str(value)[:limit] if value else None


def _exc_info(value: Any) -> ExcInfo | None:
    """``exc_info`` as a log call may give it (True, an exception, a tuple) as a tuple with an exception."""
    if value is True:
        value = sys.exc_info()
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return (value[0], value[1], value[2])
    return None

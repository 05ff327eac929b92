"""ASGI middleware shared by the gateway and every service."""

from __future__ import annotations

import json
import re
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.correlation import MAX_REQUEST_ID_LENGTH, new_request_id, request_id_context
from common.errors import error_response, internal_error_response
from common.logging import get_logger

log = get_logger("paklog.http")


class BodyLimitMiddleware:
    """Answer 413 for bodies over ``max_bytes``, declared or streamed, before any handler runs.

    A body without ``Content-Length`` (``Transfer-Encoding: chunked``) is read
    up front, at most ``max_bytes`` of it, and handed to the app from memory:
    a limit enforced while the app reads would surface as whatever error the
    app's body parser makes of it (FastAPI: a 400), not as a 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.strip().isdigit():
            # uvicorn never delivers more than the declared length.
            if int(declared) > self.max_bytes:
                await self._reject(send)
                return
            await self.app(scope, receive, send)
            return
        buffered: list[Message] = []
        received = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break  # the client went away; the app sees the disconnect
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                await self._reject(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps(
            {"type": "PayloadTooLarge", "detail": f"request body is larger than {self.max_bytes} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE_PAIR_ESCAPE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_FORM_TYPES = (b"application/x-www-form-urlencoded", b"multipart/form-data")


def unstorable_json(body: bytes) -> str | None:
    r"""Why PostgreSQL could not store some text of this JSON document, or ``None``.

    A NUL (raw, or the escape ``\u0000``) is refused by ``text`` and ``jsonb``;
    a lone UTF-16 surrogate escape (``\ud800`` not followed by a low one) has no
    UTF-8 encoding. A surrogate pair (an emoji written ``\ud83d\ude00``) is fine,
    and so is the text ``\u0000`` written with an escaped backslash (``\\u0000``).
    Every step is a byte scan or a regex pass in C, linear in the body; most
    bodies hold no ``\u`` and cost two scans.
    """
    if b"\x00" in body:
        return "contains a NUL byte"
    if b"\\u" not in body:
        return None
    # Each run of n backslashes becomes n % 2: every backslash left starts a real escape.
    escapes = body.replace(b"\\\\", b"")
    if b"\\u0000" in escapes:
        return "contains a NUL character (\\u0000)"
    if _SURROGATE_ESCAPE.search(escapes) is None:
        return None
    if _SURROGATE_ESCAPE.search(_SURROGATE_PAIR_ESCAPE.sub(b"", escapes)) is not None:
        return "contains a lone UTF-16 surrogate"
    return None


def unstorable_text(text: str) -> str | None:
    """Why PostgreSQL could not store this (already decoded) text, or ``None``."""
    if "\x00" in text:
        return "contains a NUL character"
    if _SURROGATE.search(text):
        return "contains a lone UTF-16 surrogate"
    return None


class UnstorableInputMiddleware:
    """Answer 422 ``ValidationError`` for input the database cannot store, before any handler runs.

    PostgreSQL refuses NUL in ``text`` and ``jsonb``, and a lone surrogate has
    no UTF-8 form; let through, either one becomes a database error deep in a
    service (and, from a workflow, a step retried until it gives up). So the
    path, query string, headers and body are checked here, once, for every
    route: the raw bytes are scanned (``0x00``, ``%00``, the JSON escapes), and
    nothing is parsed twice. The body is read up front (the body limit, outside
    this middleware, bounds it) and replayed to the app.

    No route takes a binary upload; one that does must be exempted here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._head_problem(scope)
        if problem is not None:
            await self._reject(problem, scope, receive, send)
            return
        buffered: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break  # the client went away; the app sees the disconnect
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            problem = self._body_problem(scope, body)
            if problem is not None:
                await self._reject(problem, scope, receive, send)
                return
            buffered = [{"type": "http.request", "body": body, "more_body": False}, *buffered[len(chunks) :]]

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _head_problem(scope: Scope) -> str | None:
        problem = unstorable_text(scope.get("path", ""))
        if problem is not None:
            return f"path {problem}"
        query: bytes = scope.get("query_string", b"")
        if b"\x00" in query or b"%00" in query:
            return "query string contains a NUL character"
        for name, value in scope.get("headers", []):
            if b"\x00" in value or b"\x00" in name:
                return f"header {name.decode('latin-1', 'replace')[:64]} contains a NUL character"
        return None

    @staticmethod
    def _body_problem(scope: Scope, body: bytes) -> str | None:
        content_type = dict(scope.get("headers", [])).get(b"content-type", b"").lower()
        if content_type.startswith(_FORM_TYPES):
            if b"\x00" in body or b"%00" in body:
                return "form contains a NUL character"
            return None
        problem = unstorable_json(body)
        return None if problem is None else f"body {problem}"

    @staticmethod
    async def _reject(problem: str, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"{problem}, which cannot be stored; remove it"
        await error_response(422, "ValidationError", detail)(scope, receive, send)


class RequestContextMiddleware:
    """Bind ``request_id`` for the request's log lines and its outgoing calls, and echo it as ``X-Request-ID``.

    It is also the last line of defence: an exception no handler took is
    answered 500 ``InternalError`` and logged once, with the short, bounded
    traceback every exception gets from :mod:`common.logging`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode(errors="replace")
        request_id = incoming[:MAX_REQUEST_ID_LENGTH] or new_request_id()
        started = time.perf_counter()
        status = 500
        responded = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                responded = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        # Log lines get it through structlog; outgoing calls and Temporal starts through common.correlation.
        with structlog.contextvars.bound_contextvars(request_id=request_id), request_id_context(request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                # The renderer bounds the traceback (:func:`common.logging.short_traceback`).
                log.error("unhandled error", exc_info=exc, response_started=responded)
                if not responded:  # otherwise the client sees a cut-off response
                    await internal_error_response()(scope, receive, send_with_id)
            finally:
                if scope.get("path") != "/healthz":
                    log.info(
                        "request",
                        method=scope.get("method"),
                        path=scope.get("path"),
                        status=status,
                        ms=round((time.perf_counter() - started) * 1000, 1),
                    )

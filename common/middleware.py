"""ASGI middleware shared by the gateway and every service."""

from __future__ import annotations

import json
import time
import traceback
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.errors import internal_error_response
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


class RequestContextMiddleware:
    """Bind ``request_id`` for the request's log lines and echo it as ``X-Request-ID``.

    It is also the last line of defence: an exception no handler took is
    answered 500 ``InternalError`` and logged as one line with a plain
    traceback, instead of the server's rich traceback with every local
    variable rendered (slow enough to stall a busy process).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode(errors="replace")
        request_id = incoming[:64] or uuid.uuid4().hex
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

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                log.error(
                    "unhandled error",
                    error=f"{type(exc).__name__}: {exc}"[:500],
                    traceback="".join(traceback.format_exception(exc, limit=-8)),
                    response_started=responded,
                )
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

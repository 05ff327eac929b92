"""The pooled HTTP client shared by a worker's activities or the gateway."""

from __future__ import annotations

import httpx
from httpx_aiohttp import AiohttpTransport

from common.correlation import send_request_id

#: Our servers keep an idle connection this long (uvicorn's ``timeout_keep_alive``) ...
SERVER_KEEPALIVE_SECONDS = 75
#: ... and our clients drop it well before: a client reusing a connection the server is
#: closing at that very moment gets a read error (a spurious "unreachable" 503).
CLIENT_KEEPALIVE_SECONDS = 30.0


def create_http_client(
    timeout_seconds: float = 10.0, max_connections: int = 100, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """One pooled client per process, with explicit timeouts.

    The httpx API (its request and response types, timeouts and exceptions,
    ``MockTransport`` in tests) over aiohttp's connection pool and C parser:
    httpx's own transport (httpcore + h11) cost about 5 ms of CPU per call at
    20 calls in flight on the development VM, this one under 1 ms
    (docs/performance.md). Connection errors and timeouts still surface as
    ``httpx.TransportError`` subclasses. Every request carries the current
    correlation id as ``X-Request-ID`` (:mod:`common.correlation`).

    Args:
        timeout_seconds: Read/write/pool timeout; connecting gets at most 5 s.
        max_connections: Upper bound of pooled connections.
        transport: In place of the aiohttp pool (tests hand services in over ASGI).
    """
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=CLIENT_KEEPALIVE_SECONDS,
    )
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds)),
        transport=transport or AiohttpTransport(limits=limits, trust_env=False),
        headers={"User-Agent": "paklog"},
        event_hooks={"request": [send_request_id]},
    )

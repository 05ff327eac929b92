"""The pooled HTTP client shared by a worker's activities or the gateway."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

#: Our servers keep an idle connection this long (uvicorn's ``timeout_keep_alive``) ...
SERVER_KEEPALIVE_SECONDS = 75
#: ... and our clients drop it well before: a client reusing a connection the server is
#: closing at that very moment gets a read error (a spurious "unreachable" 503).
CLIENT_KEEPALIVE_SECONDS = 30.0


def create_http_client(
    timeout_seconds: float = 10.0, max_connections: int = 100, base_urls: Sequence[str] = ()
) -> httpx.AsyncClient:
    """One pooled client per process, with explicit timeouts.

    Args:
        timeout_seconds: Read/write/pool timeout; connecting gets at most 5 s.
        max_connections: Upper bound of pooled connections per pool.
        base_urls: Hosts called often (the services); each gets a pool of its own.
    """
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=CLIENT_KEEPALIVE_SECONDS,
    )
    # httpcore walks every connection of a pool (an expiry check, a poll on idle sockets) for each
    # request and each response; one pool per service keeps that walk to the connections of the
    # host being called (about 0.5 ms of CPU less per call at 20 in flight, docs/performance.md).
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {
        _origin(url): httpx.AsyncHTTPTransport(limits=limits) for url in base_urls
    }
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds)),
        limits=limits,
        mounts=mounts or None,
        headers={"User-Agent": "paklog"},
    )


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"

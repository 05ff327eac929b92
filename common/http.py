"""The pooled HTTP client shared by a worker's activities or the gateway."""

from __future__ import annotations

import httpx


def create_http_client(timeout_seconds: float = 10.0, max_connections: int = 100) -> httpx.AsyncClient:
    """One pooled client per process, with explicit timeouts.

    Args:
        timeout_seconds: Read/write/pool timeout; connecting gets at most 5 s.
        max_connections: Upper bound of pooled connections across all hosts.
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds)),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        headers={"User-Agent": "paklog"},
    )

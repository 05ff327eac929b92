"""What hostile input costs at the edge, as ratios: a logged 500 against a 200, the JSON byte scan against a parse.

The unit tests prove these paths are right (once per error, bounded, no
locals; the scan's verdicts); how much CPU they take is measured here, in
``make bench``, never asserted by a test. Both run in this process, with
nothing but the code under measurement: a service app over ASGI whose route
fails deep in a call stack holding a large local, logged as JSON into a
buffer, and the scan of a 256 kB body of surrogate pairs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from dataclasses import dataclass
from io import StringIO

import httpx
import structlog
from fastapi import APIRouter

from common.logging import configure_logging
from common.middleware import unstorable_json
from common.service_app import create_service_app
from common.service_auth import service_headers
from common.settings import ServiceSettings

ROUNDS = 20
LOCAL_NOTE = "a large local a renderer with locals would print"


@dataclass(frozen=True)
class EdgeCosts:
    """CPU milliseconds per call: a logged 500 and a plain 200 of the same app; the scan and a parse of one body."""

    error_ms: float
    ok_ms: float
    log_bytes_per_error: float
    scan_ms: float
    parse_ms: float
    body_bytes: int


def _deep(depth: int, payload: list[dict[str, str]]) -> None:
    note = LOCAL_NOTE  # noqa: F841 - held on every frame, like a real request's locals
    if depth == 0:
        raise RuntimeError("the route's bug")
    _deep(depth - 1, payload)


def _app() -> httpx.AsyncClient:
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        _deep(40, [{"sku": f"SKU-{i}", "note": LOCAL_NOTE * 3} for i in range(2_000)])

    @router.get("/fine")
    async def fine() -> dict[str, bool]:
        return {"ok": True}

    settings = ServiceSettings(service="orders", environment="development")
    app = create_service_app(settings, title="bench-edges", routers=[router])
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://orders",
        headers=service_headers(settings.service_token.get_secret_value()),
    )


async def _cpu_per_call(http: httpx.AsyncClient, path: str, status: int) -> float:
    assert (await http.get(path)).status_code == status  # warm-up: source lines cached
    started = time.process_time()
    for _ in range(ROUNDS):
        resp = await http.get(path)
        if resp.status_code != status:
            raise RuntimeError(f"{path} answered {resp.status_code}, expected {status}")
    return (time.process_time() - started) / ROUNDS * 1000


async def _http_costs(buffer: StringIO) -> tuple[float, float, float]:
    async with _app() as http:
        ok_ms = await _cpu_per_call(http, "/fine", 200)
        buffer.seek(0)
        buffer.truncate()
        error_ms = await _cpu_per_call(http, "/boom", 500)
        return error_ms, ok_ms, len(buffer.getvalue().encode()) / ROUNDS


def _logged_into(buffer: StringIO) -> None:
    real_stderr, sys.stderr = sys.stderr, buffer
    try:
        configure_logging("json", "INFO")
    finally:
        sys.stderr = real_stderr


def measure_edges() -> EdgeCosts:
    """Measure both costs in this process; the logging set-up is restored after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, structlog.get_config()
    buffer = StringIO()
    try:
        _logged_into(buffer)
        error_ms, ok_ms, log_bytes = asyncio.run(_http_costs(buffer))
    finally:
        root.handlers[:], level, config = saved
        root.setLevel(level)
        structlog.configure(**config)
    body = json.dumps({f"k{i}": "\U0001f600" * 50 for i in range(420)}).encode()
    started = time.process_time()
    for _ in range(ROUNDS):
        if unstorable_json(body) is not None:
            raise RuntimeError("the scan refused storable text")
    scan_ms = (time.process_time() - started) / ROUNDS * 1000
    started = time.process_time()
    for _ in range(ROUNDS):
        json.loads(body)
    parse_ms = (time.process_time() - started) / ROUNDS * 1000
    return EdgeCosts(error_ms, ok_ms, log_bytes, scan_ms, parse_ms, len(body))


def print_edges(costs: EdgeCosts) -> None:
    """Two lines per cost: the CPU figures, then the ratio (lower is cheaper)."""
    print(
        f"edge: a logged 500 {costs.error_ms:.2f} ms CPU ({costs.log_bytes_per_error:.0f} bytes of log), "
        f"a 200 {costs.ok_ms:.2f} ms"
    )
    print(f"error ratio {costs.error_ms / costs.ok_ms:.2f} (a 500 ÷ a 200)")
    print(
        f"edge: the JSON byte scan of {costs.body_bytes // 1024} kB {costs.scan_ms:.2f} ms CPU, "
        f"json.loads {costs.parse_ms:.2f} ms"
    )
    print(f"scan ratio {costs.scan_ms / costs.parse_ms:.2f} (the scan ÷ a parse)", flush=True)

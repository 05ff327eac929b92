"""The worker's hot path: the pooled HTTP client and cached workflow bytecode."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from httpx_aiohttp import AiohttpTransport

from common.http import create_http_client
from paklog.worker import cache_workflow_bytecode
from tests.support import free_port
from workflows.order_fulfillment import OrderFulfillment


async def _slow_or_fast(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(2)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"ok": true}'})


@pytest.fixture
def server() -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(_slow_or_fast, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    while not running.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(5)


async def test_the_pooled_client_reuses_connections_and_keeps_httpx_errors(server: str) -> None:
    async with create_http_client(timeout_seconds=0.5) as http:
        assert isinstance(http._transport, AiohttpTransport)
        answers = await asyncio.gather(*(http.post(f"{server}/fast", json={"i": i}) for i in range(20)))
        assert {(r.status_code, r.json()["ok"]) for r in answers} == {(200, True)}
        # A slow answer is an httpx timeout, a closed port an httpx connection error: what activities retry.
        with pytest.raises(httpx.TimeoutException):
            await http.get(f"{server}/slow")
        with pytest.raises(httpx.TransportError):
            await http.get(f"http://127.0.0.1:{free_port()}/nobody")


def test_workflow_bytecode_is_cached_outside_the_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.setattr(sys, "pycache_prefix", None)
    assert cache_workflow_bytecode(tmp_path, [OrderFulfillment])
    source = sys.modules[OrderFulfillment.__module__].__file__
    assert source is not None
    cached = Path(importlib.util.cache_from_source(source))
    assert cached.is_file()
    assert tmp_path in cached.parents


def test_no_bytecode_cache_where_python_writes_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(sys, "pycache_prefix", None)
    assert not cache_workflow_bytecode(tmp_path, [OrderFulfillment])
    assert sys.pycache_prefix is None
    assert not any(tmp_path.iterdir())

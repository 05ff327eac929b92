"""The worker's hot-path settings: per-service HTTP pools and cached workflow bytecode."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import httpx
import pytest

from common.http import create_http_client
from paklog.worker import cache_workflow_bytecode
from workflows.order_fulfillment import OrderFulfillment


async def test_each_service_gets_its_own_connection_pool() -> None:
    async with create_http_client(base_urls=["http://127.0.0.1:8102", "http://127.0.0.1:8103/"]) as http:
        orders = http._transport_for_url(httpx.URL("http://127.0.0.1:8102/orders/o1/transition"))
        inventory = http._transport_for_url(httpx.URL("http://127.0.0.1:8103/reservations"))
        elsewhere = http._transport_for_url(httpx.URL("http://127.0.0.1:9/x"))
        assert orders is not inventory
        assert http._transport not in (orders, inventory)
        assert elsewhere is http._transport


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

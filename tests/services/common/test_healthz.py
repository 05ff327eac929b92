"""``/healthz`` of every service: open, a bare ok on a live database, a bare 503 (no driver text) without one."""

from __future__ import annotations

import httpx
import pytest

from common.db import create_engine
from common.settings import ServiceSettings
from services.orders.app import create_app
from tests.conftest import ServiceDatabases
from tests.support import free_port


@pytest.fixture
def orders_url(service_databases: ServiceDatabases) -> str:
    return service_databases["orders"]


async def _healthz(database_url: str) -> httpx.Response:
    app = create_app(ServiceSettings(service="orders", database_url=database_url, environment="test"))
    app.state.engine = create_engine(database_url, pool_size=1)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://orders") as http:
            return await http.get("/healthz")
    finally:
        await app.state.engine.dispose()


async def test_healthz_is_ok_on_a_live_database(orders_url: str) -> None:
    resp = await _healthz(orders_url)
    assert (resp.status_code, resp.json()) == (200, {"status": "ok"})


async def test_healthz_hides_the_driver_error() -> None:
    unreachable = f"postgresql://paklog:hunter2-secret@127.0.0.1:{free_port()}/paklog_orders"
    resp = await _healthz(unreachable)
    assert resp.status_code == 503
    assert resp.json() == {"status": "unavailable"}
    for leak in ("hunter2", "127.0.0.1", "paklog_orders", "refused"):
        assert leak not in resp.text

"""One real platform for the end-to-end layer: dev server, PostgreSQL, services, worker, gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from common.service_auth import service_headers
from paklog.platform import LocalPlatform, free_ports_config


def e2e_platform(state: Path) -> LocalPlatform:
    """A platform configured for the end-to-end layer (not started)."""
    # environment "test": every child refuses placeholder secrets, so the suite's own are used.
    # The whole suite logs in from 127.0.0.1 (hundreds of logins, schemathesis's junk ones included), as a
    # crowd behind one proxy would: the per-address login limit is raised; per username it stays the default.
    extra_env = {
        "PAKLOG_ENVIRONMENT": "test",
        "PAKLOG_CANCEL_WAIT_SECONDS": "5",
        # Waves are planned by the tests themselves (POST /api/waves), never behind their backs.
        "PAKLOG_WAVE_INTERVAL_SECONDS": "0",
        # Nor is the ERP's master data imported behind their backs (it would change the catalogue).
        "PAKLOG_ERP_SYNC_INTERVAL_SECONDS": "0",
        "PAKLOG_LOGIN_ATTEMPTS_PER_ADDRESS": "100000/minute",
        # A delivery exception fails the order after 4 s without progress (two days in production).
        "PAKLOG_DELIVERY_GRACE_SECONDS": "4",
    }
    return LocalPlatform(free_ports_config(state, task_queue="e2e", extra_env=extra_env))


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    running = e2e_platform(Path(tmp_path_factory.mktemp("platform")) / "state")
    running.start()
    try:
        yield running
    finally:
        running.stop()


async def login(platform: LocalPlatform, username: str, password: str) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=platform.gateway_url, timeout=60)
    resp = await http.post("/api/auth/token", data={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    http.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"
    return http


@pytest.fixture
async def alice(platform: LocalPlatform) -> AsyncIterator[httpx.AsyncClient]:
    http = await login(platform, "alice", "alice-pass")
    try:
        yield http
    finally:
        await http.aclose()


@pytest.fixture
async def olivia(platform: LocalPlatform) -> AsyncIterator[httpx.AsyncClient]:
    http = await login(platform, "olivia", "olivia-pass")
    try:
        yield http
    finally:
        await http.aclose()


@pytest.fixture
async def services(platform: LocalPlatform) -> AsyncIterator[httpx.AsyncClient]:
    """Direct access to the services, only to check each one's own state (with the platform's service token)."""
    async with httpx.AsyncClient(timeout=30, headers=service_headers(platform.service_token)) as http:
        yield http

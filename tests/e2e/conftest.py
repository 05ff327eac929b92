"""One real platform for the end-to-end layer: dev server, PostgreSQL, services, worker, gateway."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

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


#: The running platform's logs folder (set by the ``platform`` fixture), and where each log stood when a test began.
_LOGS: list[Path] = []
_LOG_MARKS: dict[Path, int] = {}
#: The children whose warnings a failed test's report shows (the floor's workflows run in the worker).
_WATCHED = ("worker", "gateway")
_DIGEST_LINES = 12


def _warnings_since(path: Path, offset: int) -> list[str]:
    """The warning and error lines ``path`` got past ``offset``, shortened (JSON lines: event and level)."""
    try:
        with path.open("rb") as log:
            log.seek(offset)
            text = log.read(4_000_000).decode("utf-8", errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            if entry.get("level") not in ("warning", "error", "critical"):
                continue
            line = f"{entry.get('level')}: {entry.get('event')} {str(entry.get('exception', ''))[-300:]}"
        elif "WARN" not in line and "ERROR" not in line:
            continue
        found.append(f"{path.stem}: {' '.join(line.split())[:400]}")
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A failed end-to-end test's report ends with the platform's warnings logged while it ran (the last few)."""
    outcome = yield
    report = outcome.get_result()
    if not _LOGS:
        return
    if call.when == "setup":
        for name in _WATCHED:
            path = _LOGS[0] / f"{name}.log"
            _LOG_MARKS[path] = path.stat().st_size if path.exists() else 0
    elif call.when == "call" and report.failed:
        lines = [line for path, mark in _LOG_MARKS.items() for line in _warnings_since(path, mark)]
        if lines:
            report.sections.append(("platform warnings during the test", "\n".join(lines[-_DIGEST_LINES:])))


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    running = e2e_platform(Path(tmp_path_factory.mktemp("platform")) / "state")
    _LOGS[:] = [running.logs_dir]
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

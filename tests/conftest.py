"""Session-wide PostgreSQL for the service and end-to-end layers, and a real JWT secret.

The server is ``PAKLOG_TEST_POSTGRES_URL``, else a testcontainers PostgreSQL
when a Docker engine answers, else an embedded PostgreSQL in a temporary
folder (``tests/pg_sources.py``). Every service gets its own freshly migrated
database, as in production.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from common import migrations
from common.db import ensure_database
from common.settings import database_url
from tests.pg_sources import session_postgres
from tests.services.round_trips import Statements, counting_round_trips
from tests.support import free_port


def pytest_configure(config: pytest.Config) -> None:
    # Tests run as environment "test", where placeholder secrets are refused; the session (and every
    # process the e2e platform starts) signs with a secret and locks the services with a token of its own.
    os.environ.setdefault("PAKLOG_JWT_SECRET", secrets.token_urlsafe(48))
    os.environ.setdefault("PAKLOG_SERVICE_TOKEN", secrets.token_urlsafe(48))


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with session_postgres(Path(tmp_path_factory.mktemp("pg")), free_port()) as (_, url):
        yield url


async def _fresh_database(server_url: str, service: str) -> str:
    name = f"test_{service}_{uuid.uuid4().hex[:8]}"
    await ensure_database(server_url, name)
    url = database_url(server_url, name)
    # Alembic's env runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(migrations.upgrade, service, url)
    return url


class ServiceDatabases:
    """Lazily created, migrated database per service, shared by the session."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self._urls: dict[str, str] = {}

    def __getitem__(self, service: str) -> str:
        if service not in self._urls:
            self._urls[service] = asyncio.run(_fresh_database(self.server_url, service))
        return self._urls[service]


@pytest.fixture(scope="session")
def service_databases(postgres_url: str) -> ServiceDatabases:
    """``service_databases["orders"]``: that service's migrated test database URL.

    Request it from a sync fixture or at the top of a test module's fixture
    chain before the event loop runs (it uses ``asyncio.run`` once per service).
    """
    return ServiceDatabases(postgres_url)


FreshDatabase = Callable[[str], Awaitable[str]]


@pytest.fixture
def fresh_database(postgres_url: str) -> FreshDatabase:
    """Factory: ``await fresh_database("inventory")`` gives a new migrated database (tests with real commits)."""

    async def make(service: str) -> str:
        return await _fresh_database(postgres_url, service)

    return make


@pytest.fixture
def statements() -> Iterator[Statements]:
    """Every SQL statement any pooled connection made meanwhile sends to PostgreSQL, however it is sent
    (straight through asyncpg or through SQLAlchemy); transaction control is not counted."""
    with counting_round_trips() as trips:
        yield Statements(trips)


# temporalio 1.35 can abort the interpreter while it shuts down (sdk-python
# issue #300: "Fatal Python error: PyGILState_Release", exit 134) after every
# test has passed. Leave with pytest's own exit status once it is final.
_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _exit_status and not hasattr(config, "workerinput"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.warehouse.app import create_app
from tests.conftest import ServiceDatabases
from tests.support import rolled_back_client


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["warehouse"]


@pytest.fixture
async def floor(
    database_url: str,
) -> AsyncIterator[tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]]]:
    """The warehouse app over ASGI and a sessionmaker in the same rolled-back transaction."""
    async with rolled_back_client(create_app, "warehouse", database_url) as pair:
        yield pair


@pytest.fixture
def client(floor: tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]]) -> httpx.AsyncClient:
    return floor[0]


@pytest.fixture
def sessions(
    floor: tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]],
) -> async_sessionmaker[AsyncSession]:
    return floor[1]

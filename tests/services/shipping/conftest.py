from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.carriers.app import create_app as create_carriers_app
from services.carriers.settings import CarriersSettings
from tests.conftest import ServiceDatabases
from tests.services.shipping.factories import seeded, shipping_app
from tests.support import rolled_back_client, service_credential


@pytest.fixture
def unseeded_url(service_databases: ServiceDatabases) -> str:
    # Resolved outside the event loop: the session's databases are made with asyncio.run.
    return service_databases["shipping"]


@pytest.fixture
async def database_url(unseeded_url: str) -> str:
    return await seeded(unseeded_url)


@pytest.fixture
def carrier_app(tmp_path: Path) -> FastAPI:
    return create_carriers_app(CarriersSettings(environment="test", state_dir=tmp_path))


@pytest.fixture
async def tms(carrier_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The stand-in's own door, to inject faults and count the calls it received."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=carrier_app), base_url="http://carriers", headers=service_credential()
    ) as client:
        yield client


@pytest.fixture
async def desk(
    database_url: str, carrier_app: FastAPI
) -> AsyncIterator[tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]]]:
    """The shipping app over ASGI and a sessionmaker in the same rolled-back transaction."""
    async with rolled_back_client(shipping_app(carrier_app), "shipping", database_url) as pair:
        yield pair


@pytest.fixture
def client(desk: tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]]) -> httpx.AsyncClient:
    return desk[0]


@pytest.fixture
def sessions(desk: tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]]) -> async_sessionmaker[AsyncSession]:
    return desk[1]

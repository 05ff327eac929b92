"""Each ERP test gets a database of its own on the session's PostgreSQL (the stand-in creates and seeds it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.services.erp.helpers import new_database, stand_in


@pytest.fixture
def database(postgres_url: str) -> str:
    return new_database(postgres_url)


@pytest.fixture
async def client(database: str) -> AsyncIterator[httpx.AsyncClient]:
    async with stand_in(database) as (client, _):
        yield client

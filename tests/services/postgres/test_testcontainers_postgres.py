"""The testcontainers path of the suite's PostgreSQL: a throwaway server that migrations run on."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from common import migrations
from common.db import ensure_database
from common.settings import database_url
from tests.pg_sources import container_postgres, docker_engine_problem


def test_a_service_migrates_on_a_container_postgres() -> None:
    problem = docker_engine_problem()
    if problem is not None:
        pytest.skip(f"testcontainers PostgreSQL not tried: {problem}")
    with container_postgres() as server_url:
        assert asyncio.run(ensure_database(server_url, "paklog_orders"))
        url = database_url(server_url, "paklog_orders")
        migrations.upgrade("orders", url)

        async def tables() -> set[str]:
            conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
            try:
                rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            finally:
                await conn.close()
            return {row["tablename"] for row in rows}

        assert "orders" in asyncio.run(tables())

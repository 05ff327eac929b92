"""Helpers shared by the test layers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg
import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from common.db import create_engine
from common.service_auth import service_headers
from common.settings import ServiceSettings
from paklog.platform import free_port

__all__ = ["committing_client", "free_port", "rolled_back_client", "service_credential", "wait_for_lock_waiters"]


def service_credential(settings: ServiceSettings | None = None) -> dict[str, str]:
    """The header the services demand, as the gateway and the worker send it."""
    return service_headers((settings or ServiceSettings()).service_token.get_secret_value())


@asynccontextmanager
async def rolled_back_client(
    create_app: Callable[[ServiceSettings], FastAPI], service: str, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]]]:
    """A service app over ASGI whose every write is rolled back after the test.

    The routes' own ``session.begin()`` becomes a savepoint inside one outer
    transaction, so a test sees its writes and leaves the database as it found it.
    """
    settings = ServiceSettings(service=service, database_url=database_url, environment="test")
    app = create_app(settings)
    engine = create_engine(database_url, pool_size=2)
    async with engine.connect() as connection:
        outer = await connection.begin()
        sessions = async_sessionmaker(
            bind=connection, class_=AsyncSession, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        app.state.engine = engine
        app.state.sessionmaker = sessions
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url=f"http://{service}", headers=service_credential(settings)
            ) as client:
                yield client, sessions
        finally:
            await outer.rollback()
    await engine.dispose()


@asynccontextmanager
async def committing_client(
    create_app: Callable[[ServiceSettings], FastAPI], service: str, database_url: str, *, pool_size: int = 10
) -> AsyncIterator[httpx.AsyncClient]:
    """A service app over ASGI with real, independent transactions (for races), on a pool of ``pool_size``."""
    settings = ServiceSettings(service=service, database_url=database_url, environment="test", db_pool_size=pool_size)
    app = create_app(settings)
    engine = create_engine(database_url, pool_size=settings.db_pool_size)
    app.state.engine = engine
    app.state.sessionmaker = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{service}", headers=service_credential(settings)
        ) as client:
            yield client
    finally:
        await engine.dispose()


async def wait_for_lock_waiters(database_url: str, count: int) -> None:
    """Return once ``count`` sessions of the database wait on a lock (a request stalled behind a held row).

    Asks on a connection of its own, one transaction per look: within one
    transaction PostgreSQL answers ``pg_stat_activity`` from a snapshot.
    Gives up after about ten seconds.
    """
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        for _ in range(500):
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting >= count:
                return
            await asyncio.sleep(0.02)
    finally:
        await conn.close()
    raise AssertionError(f"{count} sessions never queued on a lock")

"""Async engine, session factory and the ``SessionDep`` dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from common.settings import asyncpg_url


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An asyncpg engine with a bounded pool whose connections stay open once made.

    Args:
        url: Any PostgreSQL URL; it is normalised to the asyncpg dialect.
        pool_size: Connections for steady load; bursts may open as many again.
            Connections open lazily and are then kept (until ``pool_recycle``).
    """
    # The burst connections are pooled too (no max_overflow): an overflow connection is
    # closed on every check-in, so under steady load above pool_size each request paid a
    # new connection (TCP, TLS probe, auth, codec introspection, statement re-prepare),
    # which was the largest single cost of a service call (docs/performance.md).
    # No pre-ping: it costs a round trip per checkout; a dropped connection fails one
    # request (a 5xx the caller retries) and is then replaced.
    return create_async_engine(asyncpg_url(url), pool_size=2 * pool_size, max_overflow=0, pool_recycle=1800)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Yield one session per request from the app's sessionmaker.

    Routes open the unit of work themselves with ``async with session.begin()``.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def _libpq_dsn(url: str) -> str:
    return asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


async def ensure_database(server_url: str, name: str) -> bool:
    """Create database ``name`` on the server at ``server_url`` unless it exists.

    Returns:
        True when the database was created now.
    """
    scheme, _, rest = _libpq_dsn(server_url).partition("://")
    authority, _, tail = rest.partition("/")
    _, _, query = tail.partition("?")
    conn = await asyncpg.connect(f"{scheme}://{authority}/postgres" + (f"?{query}" if query else ""))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        # Identifiers cannot be bound parameters; the name is ours, quote it anyway.
        await conn.execute(f'CREATE DATABASE "{name.replace(chr(34), "")}"')
        return True
    finally:
        await conn.close()

"""Run one service's Alembic migrations against its own database.

Each service keeps its history in ``services/<name>/migrations``; its
``env.py`` calls :func:`run_env` so all of them migrate the same way.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from common.settings import asyncpg_url

ROOT_DIR = Path(__file__).resolve().parent.parent
SERVICES_DIR = ROOT_DIR / "services"
#: Databases that belong to a process other than a domain service: the gateway's (its audit outbox).
GATEWAY = "gateway"


def migrations_dir(name: str) -> Path:
    """Where ``name``'s history lives: ``services/<name>/migrations``, or ``gateway/migrations``."""
    return ROOT_DIR / GATEWAY / "migrations" if name == GATEWAY else SERVICES_DIR / name / "migrations"


def alembic_config(service: str, url: str) -> Config:
    """An Alembic config for ``service`` (or the gateway) pointed at ``url`` (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("script_location", str(migrations_dir(service)))
    cfg.set_main_option("version_locations", str(migrations_dir(service) / "versions"))
    cfg.attributes["database_url"] = asyncpg_url(url)
    return cfg


def upgrade(service: str, url: str, revision: str = "head") -> None:
    """Migrate ``service``'s database to ``revision`` (blocking; run it in a thread from async code)."""
    command.upgrade(alembic_config(service, url), revision)


def downgrade(service: str, url: str, revision: str) -> None:
    """Migrate ``service``'s database down to ``revision``."""
    command.downgrade(alembic_config(service, url), revision)


def run_env(target_metadata: MetaData | None = None) -> None:
    """Body of every service's ``migrations/env.py`` (online mode, asyncpg)."""
    url = context.config.attributes.get("database_url") or context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("no database URL given to Alembic")

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(asyncpg_url(url), poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run())

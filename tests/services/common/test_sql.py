"""Statements sent straight through asyncpg belong to the session's transaction, like SQLAlchemy's own.

On real PostgreSQL with real commits (a fresh database), because the point is
what reaches the database: SQLAlchemy begins its transaction lazily, so a
statement sent past it before the first SQLAlchemy statement would run on its
own and stay, whatever the session does after.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from common.db import create_engine, create_sessionmaker
from common.sql import Sql, driver_connection
from tests.conftest import FreshDatabase

INSERT = Sql("INSERT INTO sql_probe (name, body) VALUES (:name, :body)", json=("body",))
READ = Sql("SELECT body FROM sql_probe WHERE name = :name")


@pytest.fixture
async def sessions(fresh_database: FreshDatabase) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(await fresh_database("orders"), pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE sql_probe (name text PRIMARY KEY, body jsonb)"))
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def names(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        return list((await session.exec(text("SELECT name FROM sql_probe ORDER BY name"))).scalars())  # type: ignore[call-overload]


async def test_a_rolled_back_unit_of_work_takes_its_driver_statements_with_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async def failing_unit() -> None:
        async with sessions() as session, session.begin():
            # The first statement of the unit: nothing has begun the transaction yet but driver_connection.
            await INSERT.execute(await driver_connection(session), name="first", body={"a": 1})
            await session.exec(text("INSERT INTO sql_probe (name) VALUES ('second')"))  # type: ignore[call-overload]
            raise RuntimeError("the work fails")

    with pytest.raises(RuntimeError):
        await failing_unit()
    assert await names(sessions) == []


async def test_a_committed_unit_of_work_keeps_driver_and_sqlalchemy_statements_together(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        await session.exec(text("INSERT INTO sql_probe (name) VALUES ('orm')"))  # type: ignore[call-overload]
        db = await driver_connection(session)
        await INSERT.execute(db, name="raw", body=None)
    assert await names(sessions) == ["orm", "raw"]
    async with sessions() as session:
        db = await driver_connection(session)
        # JSON parameters go in as JSON and come back as Python values; None is SQL NULL.
        await INSERT.execute(db, name="json", body={"lines": [1, 2], "note": "ü"})
        assert await READ.fetchval(db, name="json") == {"lines": [1, 2], "note": "ü"}
        assert await READ.fetchval(db, name="raw") is None
        await session.rollback()
    assert await names(sessions) == ["orm", "raw"]


async def test_each_unit_of_work_on_one_session_begins_its_own_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # The connection is remembered per session transaction, never beyond it: a later unit of
    # work must begin its own transaction, or its first driver statement would commit on its own.
    async def failing_unit(session: AsyncSession) -> None:
        async with session.begin():
            await INSERT.execute(await driver_connection(session), name="dropped", body=None)
            raise RuntimeError("the work fails")

    async with sessions() as session:
        async with session.begin():
            await INSERT.execute(await driver_connection(session), name="kept", body=None)
        with pytest.raises(RuntimeError):
            await failing_unit(session)
        async with session.begin():
            db = await driver_connection(session)
            assert await driver_connection(session) is db
            await INSERT.execute(db, name="again", body=None)
    assert await names(sessions) == ["again", "kept"]


def test_a_statement_names_its_parameters_once_in_order() -> None:
    statement = Sql("SELECT :b, :a, :b", json=("a",))
    assert statement.sql == "SELECT $1, $2, $1"
    assert statement.args({"a": {"x": 1}, "b": 2}) == [2, '{"x": 1}']
    with pytest.raises(ValueError, match="not in the statement"):
        Sql("SELECT :a", json=("missing",))

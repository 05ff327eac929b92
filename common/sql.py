"""Hot-path SQL sent straight through asyncpg, inside the session's own transaction.

SQLAlchemy's execution layer (statement caching, parameter processing, the
greenlet hop into the DBAPI adapter, result wrapping) cost about a quarter of
the CPU of every keyed service call, more than asyncpg itself
(docs/performance.md). The saga's steps therefore send their few statements
through the asyncpg connection under the request's session::

    CLAIM = Sql("INSERT INTO t (k) VALUES (:k) ON CONFLICT DO NOTHING RETURNING k")

    async with session.begin():
        db = await driver_connection(session)
        row = await CLAIM.fetchrow(db, k="a")

Everything else about the unit of work stays SQLAlchemy's: ``session.begin()``
commits or rolls back, ORM statements may run before or after in the same
transaction, and the tests' rolled-back sessions (savepoints in one outer
transaction) keep working. asyncpg's own errors reach the same handlers
(:func:`common.errors.install_error_handlers`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = ["Sql", "driver_connection"]

_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


class Sql:
    """One statement written with ``:name`` parameters, compiled once to asyncpg's ``$n`` form.

    Args:
        source: The SQL; ``:name`` binds as in :func:`sqlalchemy.text`.
        json: Parameters bound to ``json``/``jsonb`` columns: passed as their JSON
            text (``None`` stays SQL NULL), as SQLAlchemy's codec on the connection expects.
    """

    __slots__ = ("_json", "names", "sql")

    def __init__(self, source: str, *, json: Iterable[str] = ()) -> None:
        compiled = text(source).compile(dialect=_DIALECT)
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self._json = frozenset(json)
        unknown = self._json - set(self.names)
        if unknown:
            raise ValueError(f"json parameters not in the statement: {sorted(unknown)}")

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional arguments for ``params`` (every name must be given)."""
        return [
            json.dumps(params[name]) if name in self._json and params[name] is not None else params[name]
            for name in self.names
        ]

    async def fetchrow(self, db: asyncpg.Connection, **params: Any) -> asyncpg.Record | None:
        """The first row (or None)."""
        return await db.fetchrow(self.sql, *self.args(params))

    async def fetch(self, db: asyncpg.Connection, **params: Any) -> list[asyncpg.Record]:
        """Every row."""
        rows: list[asyncpg.Record] = await db.fetch(self.sql, *self.args(params))
        return rows

    async def fetchval(self, db: asyncpg.Connection, **params: Any) -> Any:
        """The first column of the first row (or None)."""
        return await db.fetchval(self.sql, *self.args(params))

    async def execute(self, db: asyncpg.Connection, **params: Any) -> str:
        """Run it; answers the command tag (``"UPDATE 1"``)."""
        tag: str = await db.execute(self.sql, *self.args(params))
        return tag


#: ``session.info`` entry: the session transaction the driver connection was last taken for, and that connection.
_DRIVER = "common.sql.driver_connection"


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under ``session``, with the session's database transaction begun.

    SQLAlchemy's asyncpg adapter sends ``BEGIN`` lazily, with its first
    statement; a statement sent past it before that would run (and commit) on
    its own. So the transaction is begun here, exactly as the adapter would
    begin it, and ``session.commit()`` / ``rollback()`` then end it as usual.

    Within one session transaction the answer is remembered: finding it costs
    two greenlet hops through SQLAlchemy, about half an asyncpg round trip of
    CPU, and a hot path asks once per statement.
    """
    sync_session = session.sync_session
    transaction, remembered = sync_session.get_transaction(), sync_session.info.get(_DRIVER)
    if transaction is not None and remembered is not None and remembered[0] is transaction:
        cached: asyncpg.Connection = remembered[1]
        return cached
    connection = await session.connection()
    fairy = await connection.get_raw_connection()
    adapter: Any = fairy.dbapi_connection
    if adapter._transaction is None and adapter.isolation_level != "autocommit":
        await adapter._start_transaction()
    driver: asyncpg.Connection = fairy.driver_connection
    sync_session.info[_DRIVER] = (sync_session.get_transaction(), driver)
    return driver

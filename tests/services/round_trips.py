"""Count what a service sends PostgreSQL, however it is sent: a hot path's statement-count tests use it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

#: Transaction control, one round trip each.
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@dataclass
class RoundTrips:
    """What reached PostgreSQL, one entry per round trip (a connection's first use of a statement aside).

    ``driver``: sent straight through asyncpg (common/sql.py) and transaction
    control, seen by asyncpg's query logger. ``orm``: sent through SQLAlchemy's
    execution layer, which runs them as asyncpg prepared statements that the
    query logger never sees, so they are taken from SQLAlchemy's events.
    """

    driver: list[str] = field(default_factory=list)
    orm: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.driver.clear()
        self.orm.clear()

    @property
    def count(self) -> int:
        return len(self.driver) + len(self.orm)

    @property
    def transactions(self) -> int:
        return sum(1 for query in self.driver if query.lstrip().upper().startswith("BEGIN"))

    @property
    def work(self) -> list[str]:
        """The statements, transaction control left out (in order within each list, driver's first)."""
        return [q for q in self.driver if not q.lstrip().upper().startswith(CONTROL)] + self.orm

    def __str__(self) -> str:
        lines = [f"driver: {' '.join(q.split())[:100]}" for q in self.driver]
        return "\n".join(lines + [f"orm: {' '.join(q.split())[:100]}" for q in self.orm])


@contextmanager
def counting_round_trips() -> Iterator[RoundTrips]:
    """Record the round trips of every pooled connection made meanwhile (open the app inside)."""
    seen = RoundTrips()

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda query: seen.driver.append(query.query))

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.orm.append(statement)

    event.listen(Pool, "connect", on_connect)
    event.listen(Engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", on_execute)
        event.remove(Pool, "connect", on_connect)


class Statements(Sequence[str]):
    """The work statements of a :class:`RoundTrips` so far (transaction control left out), as a live list."""

    def __init__(self, trips: RoundTrips) -> None:
        self._trips = trips

    def __len__(self) -> int:
        return len(self._trips.work)

    def __getitem__(self, index: Any) -> Any:
        return self._trips.work[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def clear(self) -> None:
        self._trips.clear()

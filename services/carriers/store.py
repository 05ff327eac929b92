"""The stand-in's SQLite file: labels sold, their journeys and the outbox of delivery events.

Everything survives a restart; one label per carrier and reference. Calls
are blocking and short; the routes and the courier run them in a worker
thread. Each call opens its own connection (SQLite connections are cheap and
not shared across threads), and every write that reads first runs in
``BEGIN IMMEDIATE``, so two requests with the same reference at once still
sell one label, and a void and a journey's step never interleave.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    tracking_code TEXT PRIMARY KEY,
    carrier TEXT NOT NULL,
    reference TEXT NOT NULL,
    status TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at TEXT NOT NULL,
    voided_at TEXT,
    UNIQUE (carrier, reference)
);
-- One per label sold (since journeys exist): its next step is due at next_at (epoch seconds) while active.
CREATE TABLE IF NOT EXISTS journeys (
    tracking_code TEXT PRIMARY KEY REFERENCES labels (tracking_code),
    carrier TEXT NOT NULL,
    country TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    city TEXT NOT NULL,
    stage TEXT NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    next_at REAL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS journeys_due ON journeys (state, next_at);
-- Delivery events to post, in id order per tracking code; body holds the exact bytes posted and signed.
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    carrier TEXT NOT NULL,
    tracking_code TEXT NOT NULL,
    status TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    body BLOB NOT NULL,
    post_twice INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    answer_status INTEGER,
    answer TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, tracking_code, id);
CREATE INDEX IF NOT EXISTS outbox_by_code ON outbox (tracking_code, id);
"""


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A fresh autocommit connection to the stand-in's file (``BEGIN`` explicitly), closed afterwards."""
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def write_transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any error): one writer at a time."""
    with connect(path) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def create_schema(path: Path) -> None:
    """Create the file (and its folder) and any table it lacks; a file from before journeys gains them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)


def utc_now() -> str:
    return datetime.now(UTC).isoformat()


class LabelStore:
    """Labels sold, by tracking code; ``(carrier, reference)`` is unique. Each new label starts a journey.

    Args:
        path: The SQLite file; it and its folder are created when missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        create_schema(path)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with connect(self.path) as conn:
            yield conn

    def buy(
        self, carrier: str, reference: str, make_label: Callable[[], dict[str, Any]], first_step_at: float
    ) -> tuple[dict[str, Any], bool]:
        """The label of ``reference`` at ``carrier``, sold now (``True``) or earlier (``False``).

        A label sold now starts its journey in the same transaction.

        Args:
            make_label: Builds the new label (with its ``tracking_code`` and ``destination``) when none exists.
            first_step_at: When (epoch seconds) a new label's parcel is picked up: its journey's first step.
        """
        with write_transaction(self.path) as conn:
            row = conn.execute(
                "SELECT * FROM labels WHERE carrier = ? AND reference = ?", (carrier, reference)
            ).fetchone()
            if row is not None:
                return _label(row), False
            label = make_label()
            conn.execute(
                "INSERT INTO labels (tracking_code, carrier, reference, status, label, created_at)"
                " VALUES (?, ?, ?, 'ACTIVE', ?, ?)",
                (label["tracking_code"], carrier, reference, json.dumps(label), label["created_at"]),
            )
            dest = label["destination"]
            conn.execute(
                "INSERT INTO journeys (tracking_code, carrier, country, postal_code, city, stage, seq, state,"
                " next_at, updated_at) VALUES (?, ?, ?, ?, ?, 'LABELLED', 0, 'active', ?, ?)",
                (
                    label["tracking_code"],
                    carrier,
                    dest["country"],
                    dest["postal_code"],
                    dest["city"],
                    first_step_at,
                    label["created_at"],
                ),
            )
        return {**label, "status": "ACTIVE"}, True

    def void(self, carrier: str, tracking_code: str) -> dict[str, Any] | None:
        """Void the label and stop its journey (a repeat changes nothing); None when the carrier sold no such label.

        Events the journey made before stay in the outbox and are still posted.
        """
        now = utc_now()
        with write_transaction(self.path) as conn:
            conn.execute(
                "UPDATE labels SET status = 'VOIDED', voided_at = ?"
                " WHERE carrier = ? AND tracking_code = ? AND status = 'ACTIVE'",
                (now, carrier, tracking_code),
            )
            conn.execute(
                "UPDATE journeys SET state = 'voided', next_at = NULL, updated_at = ?"
                " WHERE carrier = ? AND tracking_code = ? AND state = 'active'",
                (now, carrier, tracking_code),
            )
            row = conn.execute(
                "SELECT * FROM labels WHERE carrier = ? AND tracking_code = ?", (carrier, tracking_code)
            ).fetchone()
        return _label(row) if row is not None else None

    def for_reference(self, reference: str) -> list[dict[str, Any]]:
        """Every label sold for ``reference``, at any carrier, oldest first."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT * FROM labels WHERE reference = ? ORDER BY created_at, tracking_code", (reference,)
            ).fetchall()
        return [_label(row) for row in rows]

    def count(self, carrier: str, reference: str | None = None) -> int:
        """How many labels the carrier sold (for one reference)."""
        with self._connection() as conn:
            if reference is None:
                row = conn.execute("SELECT count(*) FROM labels WHERE carrier = ?", (carrier,)).fetchone()
            else:
                row = conn.execute(
                    "SELECT count(*) FROM labels WHERE carrier = ? AND reference = ?", (carrier, reference)
                ).fetchone()
        return int(row[0])


def _label(row: sqlite3.Row) -> dict[str, Any]:
    label: dict[str, Any] = json.loads(row["label"])
    return {**label, "status": row["status"]}

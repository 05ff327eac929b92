"""The stand-in's labels in a SQLite file: they survive a restart; one label per carrier and reference.

Calls are blocking and short; the routes run them in a worker thread. Each
call opens its own connection (SQLite connections are cheap and not shared
across threads), and a purchase runs in ``BEGIN IMMEDIATE``, so two requests
with the same reference at once still sell one label.
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
)
"""


class LabelStore:
    """Labels sold, by tracking code; ``(carrier, reference)`` is unique.

    Args:
        path: The SQLite file; its folder is created when missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()

    def buy(
        self, carrier: str, reference: str, make_label: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """The label of ``reference`` at ``carrier``, sold now (``True``) or earlier (``False``).

        Args:
            make_label: Builds the new label (with its ``tracking_code``) when none exists.
        """
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT * FROM labels WHERE carrier = ? AND reference = ?", (carrier, reference)
                ).fetchone()
                if row is not None:
                    conn.execute("COMMIT")
                    return _label(row), False
                label = make_label()
                conn.execute(
                    "INSERT INTO labels (tracking_code, carrier, reference, status, label, created_at)"
                    " VALUES (?, ?, ?, 'ACTIVE', ?, ?)",
                    (label["tracking_code"], carrier, reference, json.dumps(label), label["created_at"]),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return {**label, "status": "ACTIVE"}, True

    def void(self, carrier: str, tracking_code: str) -> dict[str, Any] | None:
        """Void the label (a repeat changes nothing); None when the carrier sold no such label."""
        with self._connection() as conn:
            conn.execute(
                "UPDATE labels SET status = 'VOIDED', voided_at = ?"
                " WHERE carrier = ? AND tracking_code = ? AND status = 'ACTIVE'",
                (datetime.now(UTC).isoformat(), carrier, tracking_code),
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

"""Journeys' steps and the outbox of their events, in the stand-in's SQLite file (see ``store.py``).

A step and the event it makes are written in one transaction, so a crash
never loses an event nor makes one twice. An event leaves the outbox in
order per tracking code: only the oldest pending event of a shipment (its
*head*) is ever handed out, so a later one waits until the earlier ones were
acknowledged (``delivered``) or refused for good (``rejected``).
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.carriers.journeys import Advance, Journey, Stage
from services.carriers.pricing import Carrier
from services.carriers.store import connect, create_schema, utc_now, write_transaction

#: Text kept of a webhook's answer (or of a connection error).
MAX_ANSWER_CHARS = 1000

# The oldest pending event of each shipment, not among the busy ones (a JSON array of tracking codes).
_HEADS = """
FROM outbox o
WHERE o.state = 'pending'
  AND o.id = (SELECT min(p.id) FROM outbox p WHERE p.tracking_code = o.tracking_code AND p.state = 'pending')
  AND o.tracking_code NOT IN (SELECT value FROM json_each(?))
"""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event to post now: its bytes, and how often it was tried before."""

    id: int
    event_id: str
    carrier: str
    tracking_code: str
    body: bytes
    post_twice: bool
    attempts: int


class TrackingStore:
    """Journeys due for a step, and the outbox.

    Args:
        path: The SQLite file (shared with :class:`~services.carriers.store.LabelStore`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        create_schema(path)

    # -- journeys -----------------------------------------------------------------
    def advance_due(self, now: float, step: Callable[[Journey], Advance], limit: int = 100) -> tuple[int, float | None]:
        """Take the next step of up to ``limit`` journeys due at ``now`` (epoch seconds), queueing their events.

        Args:
            step: The journey's next step (:func:`services.carriers.journeys.advance`).

        Returns:
            How many journeys stepped, and when (epoch seconds) the next active one is due (None: none active).
        """
        with write_transaction(self.path) as conn:
            rows = conn.execute(
                "SELECT * FROM journeys WHERE state = 'active' AND next_at <= ? ORDER BY next_at LIMIT ?",
                (now, limit),
            ).fetchall()
            stamp = utc_now()
            for row in rows:
                done = step(_journey(row))
                event = done.event
                conn.execute(
                    "UPDATE journeys SET stage = ?, seq = ?, state = ?, next_at = ?, updated_at = ?"
                    " WHERE tracking_code = ?",
                    (
                        done.stage.value,
                        event.seq,
                        done.state.value,
                        None if done.next_in is None else now + done.next_in,
                        stamp,
                        row["tracking_code"],
                    ),
                )
                conn.execute(
                    "INSERT INTO outbox (event_id, carrier, tracking_code, status, occurred_at, body, post_twice,"
                    " state, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (
                        event.event_id,
                        event.carrier.value,
                        event.tracking_code,
                        event.status,
                        event.occurred_at,
                        event.body,
                        int(event.post_twice),
                        now,
                        stamp,
                    ),
                )
            upcoming = conn.execute("SELECT min(next_at) FROM journeys WHERE state = 'active'").fetchone()[0]
        return len(rows), upcoming

    def hurry(self, carrier: str | None, latest_at: float) -> None:
        """Bring every active journey's next step (of one carrier, or all) forward to ``latest_at`` at the latest."""
        with write_transaction(self.path) as conn:
            conn.execute(
                "UPDATE journeys SET next_at = ? WHERE state = 'active' AND next_at > ? AND (? IS NULL OR carrier = ?)",
                (latest_at, latest_at, carrier, carrier),
            )

    def journey(self, tracking_code: str) -> dict[str, Any] | None:
        """The journey of a label as stored (``stage``, ``seq``, ``state``, ``next_at``), or None."""
        with connect(self.path) as conn:
            row = conn.execute("SELECT * FROM journeys WHERE tracking_code = ?", (tracking_code,)).fetchone()
        return None if row is None else dict(row)

    # -- outbox -------------------------------------------------------------------
    def due_heads(self, now: float, busy: Collection[str], limit: int) -> tuple[list[Outgoing], float | None]:
        """Up to ``limit`` shipments' oldest pending events due at ``now``, skipping the ``busy`` shipments.

        Returns:
            Those events, most overdue first, and when (epoch seconds) the next of the other heads is due.
        """
        skip = json.dumps(sorted(busy))
        with connect(self.path) as conn:
            rows = conn.execute(
                f"SELECT o.* {_HEADS} AND o.next_attempt_at <= ? ORDER BY o.next_attempt_at, o.id LIMIT ?",
                (skip, now, limit),
            ).fetchall()
            upcoming = conn.execute(f"SELECT min(o.next_attempt_at) {_HEADS} AND o.next_attempt_at > ?", (skip, now))
            later = upcoming.fetchone()[0]
        return [_outgoing(row) for row in rows], later

    def delivered(self, event_id: int, status_code: int, answer: str) -> None:
        """The webhook acknowledged the event (2xx)."""
        self._finish(event_id, "delivered", status_code, answer)

    def rejected(self, event_id: int, status_code: int, answer: str) -> None:
        """The webhook refused the event for good (4xx): it stays ``rejected`` with the answer."""
        self._finish(event_id, "rejected", status_code, answer)

    def retry(self, event_id: int, status_code: int | None, answer: str, next_attempt_at: float) -> None:
        """The attempt failed (connection error, timeout, 5xx): try again at ``next_attempt_at``."""
        with connect(self.path) as conn:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, answer_status = ?, answer = ?, next_attempt_at = ?"
                " WHERE id = ? AND state = 'pending'",
                (status_code, answer[:MAX_ANSWER_CHARS], next_attempt_at, event_id),
            )

    def _finish(self, event_id: int, state: str, status_code: int, answer: str) -> None:
        with connect(self.path) as conn:
            conn.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, answer_status = ?, answer = ?,"
                " next_attempt_at = NULL, finished_at = ? WHERE id = ? AND state = 'pending'",
                (state, status_code, answer[:MAX_ANSWER_CHARS], utc_now(), event_id),
            )

    def events(
        self, *, tracking_code: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Outbox events (oldest first), of one shipment and/or in one state."""
        with connect(self.path) as conn:
            rows = conn.execute(
                "SELECT * FROM outbox WHERE (? IS NULL OR tracking_code = ?) AND (? IS NULL OR state = ?)"
                " ORDER BY id LIMIT ?",
                (tracking_code, tracking_code, state, state, limit),
            ).fetchall()
        return [_event(row) for row in rows]

    def counts(self) -> dict[str, dict[str, int]]:
        """Outbox events per carrier and state."""
        with connect(self.path) as conn:
            rows = conn.execute("SELECT carrier, state, count(*) FROM outbox GROUP BY carrier, state").fetchall()
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        for carrier, state, n in rows:
            counts[carrier][state] = n
        return dict(counts)


def _journey(row: sqlite3.Row) -> Journey:
    return Journey(
        tracking_code=row["tracking_code"],
        carrier=Carrier(row["carrier"]),
        country=row["country"],
        postal_code=row["postal_code"],
        city=row["city"],
        stage=Stage(row["stage"]),
        seq=row["seq"],
    )


def _outgoing(row: sqlite3.Row) -> Outgoing:
    return Outgoing(
        id=row["id"],
        event_id=row["event_id"],
        carrier=row["carrier"],
        tracking_code=row["tracking_code"],
        body=bytes(row["body"]),
        post_twice=bool(row["post_twice"]),
        attempts=row["attempts"],
    )


def _event(row: sqlite3.Row) -> dict[str, Any]:
    next_at = row["next_attempt_at"]
    return {
        "id": row["id"],
        "event_id": row["event_id"],
        "carrier": row["carrier"],
        "tracking_code": row["tracking_code"],
        "status": row["status"],
        "occurred_at": row["occurred_at"],
        "state": row["state"],
        "attempts": row["attempts"],
        "duplicated": bool(row["post_twice"]),
        "answer_status": row["answer_status"],
        "answer": row["answer"],
        "next_attempt_at": None if next_at is None else datetime.fromtimestamp(next_at, UTC),
        "created_at": row["created_at"],
        "finished_at": row["finished_at"],
        "body": json.loads(row["body"]),
    }

"""The hash chain: how a record is hashed, and how a chain is checked, one record at a time.

Each record's ``hash`` is ``sha256(canonical(record))``, where the canonical
encoding is compact JSON (sorted keys, UTF-8, no spaces) of :data:`HASHED_FIELDS`
plus a format version ``v``, with ``at`` written as UTC with microseconds
(``2026-12-01T10:00:00.000000Z``). ``prev_hash`` is one of the hashed fields,
so every record commits to the whole chain before it; the first record's
``prev_hash`` is :data:`GENESIS` (64 zeros), and ``seq`` runs 1, 2, 3 ... without gaps.

:class:`ChainChecker` walks a chain in ``seq`` order and names the first break:

* ``gap``: a ``seq`` is missing (a record was deleted);
* ``prev_hash``: a record does not point at the hash of the one before it
  (a record before it was deleted, inserted or replaced);
* ``hash``: a record's fields do not hash to its stored ``hash`` (it was edited);
* ``anchor``: the chain does not contain a head recorded earlier with that
  hash (the chain was rewritten, or cut short at the end).

A plain hash chain proves the order and integrity of what it holds; whoever
can write the table and knows this encoding can still rebuild a consistent
chain from any point on, or drop records from the end. Keeping the head that
``paklog audit verify`` prints somewhere else and passing it back as
``--anchor SEQ:HASH`` detects both (docs/audit.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

GENESIS = "0" * 64
FORMAT_VERSION = 1
#: Every column of a record that its hash covers (all but ``hash`` itself).
HASHED_FIELDS: tuple[str, ...] = (
    "seq",
    "record_id",
    "at",
    "actor",
    "actor_id",
    "role",
    "client",
    "method",
    "path",
    "route",
    "status",
    "request_id",
    "workflow_id",
    "order_id",
    "request_digest",
    "response_digest",
    "prev_hash",
)

BreakReason = Literal["gap", "prev_hash", "hash", "anchor"]


def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit times are timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes a record's hash is taken over (see the module docstring)."""
    fields: dict[str, Any] = {"v": FORMAT_VERSION}
    for name in HASHED_FIELDS:
        value = record[name]
        fields[name] = _timestamp(value) if isinstance(value, datetime) else value
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(record: Mapping[str, Any]) -> str:
    """``sha256`` (hex) of :func:`canonical`."""
    return hashlib.sha256(canonical(record)).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place a chain is broken, and why."""

    seq: int
    reason: BreakReason
    detail: str


@dataclass(frozen=True, slots=True)
class Anchor:
    """A head seen earlier: record ``seq`` had ``hash``."""

    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """``"SEQ:HASH"`` as ``paklog audit verify`` prints it.

        Raises:
            ValueError: Not a positive number, a colon and 64 hex digits.
        """
        seq, sep, digest = text.partition(":")
        if not sep or not seq.isdigit() or int(seq) < 1 or len(digest) != 64:
            raise ValueError("an anchor is SEQ:HASH, as `paklog audit verify` prints the head")
        int(digest, 16)
        return cls(int(seq), digest.lower())


class ChainChecker:
    """Feed records in ``seq`` order; the first :class:`ChainBreak`, if any, is kept.

    Args:
        anchor: A head recorded earlier, which the chain must still contain.
    """

    def __init__(self, anchor: Anchor | None = None) -> None:
        self.anchor = anchor
        self.count = 0
        self.head_seq = 0
        self.head_hash = GENESIS
        self.broken: ChainBreak | None = None

    def feed(self, record: Mapping[str, Any]) -> ChainBreak | None:
        """Check the next record; answers the break it reveals (then stop feeding)."""
        seq: int = record["seq"]
        expected = self.head_seq + 1
        if seq != expected:
            return self._break(expected, "gap", f"seq {expected} is missing (the next record is seq {seq}): deleted")
        if record["prev_hash"] != self.head_hash:
            return self._break(
                seq,
                "prev_hash",
                f"prev_hash is not the hash of seq {seq - 1}: a record before it was deleted, inserted or replaced",
            )
        if record_hash(record) != record["hash"]:
            return self._break(seq, "hash", "the record's fields do not match its hash: it was edited")
        if self.anchor is not None and seq == self.anchor.seq and record["hash"] != self.anchor.hash:
            return self._break(seq, "anchor", "the hash differs from the anchor: the chain was rewritten from here")
        self.count += 1
        self.head_seq = seq
        self.head_hash = record["hash"]
        return None

    def finish(self) -> ChainBreak | None:
        """After the last record: the break, or the anchor the chain ends before."""
        if self.broken is None and self.anchor is not None and self.head_seq < self.anchor.seq:
            return self._break(
                self.head_seq + 1,
                "anchor",
                f"the chain ends at seq {self.head_seq}, before the anchored seq {self.anchor.seq}: records were "
                "deleted from the end",
            )
        return self.broken

    def _break(self, seq: int, reason: BreakReason, detail: str) -> ChainBreak:
        self.broken = ChainBreak(seq, reason, detail)
        return self.broken

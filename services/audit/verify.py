"""Walk the stored chain in ``seq`` order and recompute it, streaming (a server-side cursor, not a list).

Reads in one read-only, repeatable-read transaction, so the walk sees one
snapshot while the gateway goes on appending; it never writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.audit.chain import HASHED_FIELDS, Anchor, ChainBreak, ChainChecker

_COLUMNS = ", ".join((*HASHED_FIELDS, "hash"))
#: Records fetched per round trip.
PREFETCH = 1000


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a walk found: the intact prefix and, when broken, where and why."""

    count: int
    head_seq: int
    head_hash: str
    broken: ChainBreak | None


async def verify_chain(conn: asyncpg.Connection, anchor: Anchor | None = None) -> Verdict:
    """Check every record of ``audit_records`` on ``conn``; stops at the first break."""
    checker = ChainChecker(anchor)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in conn.cursor(f"SELECT {_COLUMNS} FROM audit_records ORDER BY seq", prefetch=PREFETCH):
            if checker.feed(row) is not None:
                break
    broken = checker.finish()
    return Verdict(checker.count, checker.head_seq, checker.head_hash, broken)


async def verify_database(url: str, anchor: Anchor | None = None) -> Verdict:
    """:func:`verify_chain` on a connection of its own to the audit database at ``url``."""
    scheme, _, rest = url.partition("://")
    conn = await asyncpg.connect(f"postgresql://{rest}" if scheme.startswith("postgres") else url)
    try:
        return await verify_chain(conn, anchor)
    finally:
        await conn.close()

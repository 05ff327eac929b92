"""Appending to the chain: one serialized, idempotent append per batch."""

from __future__ import annotations

from typing import Any

from services.audit.chain import GENESIS, record_hash
from services.audit.models import AppendBatch, AppendResult
from services.audit.repository import AuditRepository


async def append(repo: AuditRepository, batch: AppendBatch) -> AppendResult:
    """Chain the batch's new records onto the head, in the batch's order.

    Runs inside the caller's transaction and holds the chain lock until it
    commits, so two appends never read the same head and ``seq`` stays
    gap-free. Records whose ``record_id`` the chain (or this batch) already
    holds are skipped: a batch resent after a lost answer appends nothing twice.
    """
    await repo.lock_chain()
    known = await repo.known_record_ids([item.record_id for item in batch.items])
    head = await repo.head()
    seq, prev = head if head is not None else (0, GENESIS)
    rows: list[dict[str, Any]] = []
    for item in batch.items:
        if item.record_id in known:
            continue
        known.add(item.record_id)
        seq += 1
        row = {**item.model_dump(), "seq": seq, "prev_hash": prev}
        row["hash"] = prev = record_hash(row)
        rows.append(row)
    await repo.insert(rows)
    return AppendResult(appended=len(rows), duplicates=len(batch.items) - len(rows), head_seq=seq, head_hash=prev)

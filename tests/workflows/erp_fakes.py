"""A simulated ERP and a simulated receiving service behind fake ``erp.*`` activities under the real names.

The ERP keeps rows ordered by ``(LastChangedAt, key)`` with one strictly
increasing clock, as the contract says; a change moves a row to the end. The
target applies rows newer-wins, commits the watermark with the page, and
replays an ``Idempotency-Key`` it has seen (as the services do). It records
every ``(key, LastChangedAt)`` it applies, so a test can assert that each
version of each row was applied exactly once: no duplicate, no gap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity

from activities.erp_sync import page_key
from workflows.erp_types import ENTITIES, EntityRef, ImportPage, PageImported, StoredWatermark, Watermark

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    key: str
    changed_at: str
    version: int

    @property
    def position(self) -> tuple[str, str]:
        return (self.changed_at, self.key)


@dataclass
class Target:
    """One entity's receiving side: rows newer-wins, the watermark, the idempotency store."""

    rows: dict[str, str] = field(default_factory=dict)  # key -> changed_at
    watermark: Watermark | None = None
    applied: list[tuple[str, str]] = field(default_factory=list)
    answers: dict[str, PageImported] = field(default_factory=dict)


@dataclass
class FakeErp:
    """``rows`` rows per entity (keys ``<entity>-0001`` ...); ``calls`` records (activity, entity, watermark)."""

    rows: int = 10
    clock: int = 0
    data: dict[str, dict[str, Row]] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    calls: list[tuple[str, str, Watermark | None]] = field(default_factory=list)
    #: ``import_page`` calls that fail (the ERP down) before anything is committed, and how many times.
    outage_at_call: int | None = None
    outage_failures: int = 0
    #: One ``import_page`` call whose answer is lost after the target committed it.
    lost_answer_at_call: int | None = None
    #: ``import_page`` waits for ``release`` at this call (a page in flight).
    hold_at_call: int | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)
    #: Rows changed in the ERP just before this call is served: call -> [(entity, key)].
    change_before_call: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    page_calls: int = 0
    page_attempts: int = 0

    def __post_init__(self) -> None:
        for entity in ENTITIES:
            self.data[entity] = {}
            self.targets[entity] = Target()
            for i in range(1, self.rows + 1):
                self.change(entity, f"{entity[:3].upper()}-{i:04d}")

    def change(self, entity: str, key: str) -> Row:
        """A change in the ERP: the row gets the next timestamp (and so moves to the end)."""
        self.clock += 1
        stamp = (EPOCH + timedelta(microseconds=self.clock)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        old = self.data[entity].get(key)
        row = Row(key=key, changed_at=stamp, version=old.version + 1 if old else 1)
        self.data[entity][key] = row
        return row

    def ordered(self, entity: str) -> list[Row]:
        return sorted(self.data[entity].values(), key=lambda r: r.position)

    def assert_in_step(self, entity: str) -> None:
        """Every version of every row was applied exactly once, and the target holds the ERP's newest."""
        target = self.targets[entity]
        assert len(target.applied) == len(set(target.applied)), "a row version was applied twice"
        assert target.rows == {key: row.changed_at for key, row in self.data[entity].items()}
        last = self.ordered(entity)[-1]
        assert target.watermark == Watermark(changed_at=last.changed_at, key=last.key)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="erp.load_watermark")
        async def load_watermark(params: EntityRef) -> StoredWatermark:
            target = self.targets[params.entity]
            self.calls.append(("load_watermark", params.entity, target.watermark))
            return StoredWatermark(entity=params.entity, watermark=target.watermark, rows=len(target.rows))

        @activity.defn(name="erp.import_page")
        async def import_page(params: ImportPage) -> PageImported:
            self.page_attempts += 1
            if activity.info().attempt == 1:
                self.page_calls += 1
            call = self.page_calls
            self.calls.append(("import_page", params.entity, params.watermark))
            if call == self.hold_at_call:
                await self.release.wait()
            for entity, key in self.change_before_call.pop(call, []):
                self.change(entity, key)
            if call == self.outage_at_call and activity.info().attempt <= self.outage_failures:
                raise RuntimeError("ERP: 503 ErpUnavailable")
            answer = self._serve(params)
            if call == self.lost_answer_at_call and activity.info().attempt == 1:
                raise RuntimeError("read timeout after the service committed")
            return answer

        return [load_watermark, import_page]

    def _serve(self, params: ImportPage) -> PageImported:
        after = [
            row
            for row in self.ordered(params.entity)
            if params.watermark is None or row.position > (params.watermark.changed_at, params.watermark.key)
        ]
        page = after[: params.page_size]
        if not page:
            return PageImported(params.entity, 0, 0, 0, 0, 0, 0, params.watermark, more=False)
        end = Watermark(changed_at=page[-1].changed_at, key=page[-1].key)
        target = self.targets[params.entity]
        key = page_key(params.entity, params.watermark, end)
        if key in target.answers:  # the service's idempotency store: the same answer, nothing re-applied
            return target.answers[key]
        inserted = updated = unchanged = 0
        for row in page:
            current = target.rows.get(row.key)
            if current is None:
                inserted += 1
            elif current < row.changed_at:
                updated += 1
            else:
                unchanged += 1
                continue
            target.rows[row.key] = row.changed_at
            target.applied.append((row.key, row.changed_at))
        target.watermark = end
        answer = PageImported(
            params.entity, len(page), inserted, updated, unchanged, 0, 0, end, more=len(after) > len(page)
        )
        target.answers[key] = answer
        return answer
